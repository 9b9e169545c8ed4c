"""The registry of units: kind name -> params class, and the manifest's (de)serialisation of params.

A new unit adds its module and one entry to :data:`UNITS`. The manifest names a params object by
its class name (``{"type": "MatVecParams", ...}``); :func:`unit_class` resolves either name.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, Mapping

import numpy as np

from ..errors import CompileError
from .base import Unit
from .depth_to_space import DepthToSpaceParams
from .depthwise import DepthwiseParams
from .eltwise import EltwiseAddParams, EltwiseConcatParams
from .fifo import FifoParams
from .matvec import MatVecParams
from .pool import PoolParams
from .recurrent import RecurrentParams
from .regroup import RegroupParams
from .requant import RequantParams
from .upsample import UpsampleParams
from .window import WindowParams

__all__ = ["UNITS", "UNIT_TYPES", "unit_class", "jsonable", "params_to_dict", "params_from_dict"]

UNITS: dict[str, type[Unit]] = {cls.unit_kind: cls for cls in (
    WindowParams, MatVecParams, DepthwiseParams, RequantParams, PoolParams, EltwiseAddParams, EltwiseConcatParams,
    FifoParams, RegroupParams, DepthToSpaceParams, UpsampleParams, RecurrentParams)}
UNIT_TYPES: dict[str, type[Unit]] = {cls.__name__: cls for cls in UNITS.values()}  # the manifest's names


def unit_class(name: str) -> type[Unit]:
    """The params class of kind ``name`` (``"matvec"``) or class name ``name`` (``"MatVecParams"``)."""
    cls = UNITS.get(name) or UNIT_TYPES.get(name)
    if cls is None:
        raise CompileError(f"unit type must be one of {sorted(UNIT_TYPES)}, not {name!r}")
    return cls


def jsonable(value: Any) -> Any:
    """``value`` with params as dicts, tuples as lists and NumPy scalars and arrays as Python values."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return params_to_dict(value)
    if isinstance(value, (tuple, list)):
        return [jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, (np.integer, np.floating, np.bool_)):
        return value.item()
    return value


def params_to_dict(params: Any, store: Callable[[str, Any], Any] | None = None, prefix: str = "") -> dict:
    """``{"type": class name, field: value}`` of a params dataclass (tuples as lists).

    ``store(key, value)`` may replace a large field (a unit's ``stored_fields``: MatVec
    ``weights``) by a reference it returns; ``key`` is ``prefix + field name``.
    """
    out: dict[str, Any] = {"type": type(params).__name__}
    stored = getattr(params, "stored_fields", ())
    for f in dataclasses.fields(params):
        value = getattr(params, f.name)
        if store is not None and f.name in stored:
            out[f.name] = store(prefix + f.name, value)
        else:
            out[f.name] = jsonable(value)
    return out


def _tuplify(value: Any) -> Any:
    return tuple(_tuplify(v) for v in value) if isinstance(value, list) else value


def params_from_dict(data: Mapping[str, Any], load: Callable[[Any], Any] | None = None) -> Any:
    """Inverse of :func:`params_to_dict`; ``load(reference)`` resolves a stored field."""
    cls = UNIT_TYPES.get(data.get("type", ""))
    if cls is None:
        raise CompileError(f"unit type must be one of {sorted(UNIT_TYPES)}, not {data.get('type')!r}")
    kwargs = {}
    for f in dataclasses.fields(cls):  # type: ignore[arg-type]
        if f.name not in data and (f.default is not dataclasses.MISSING or f.default_factory is not dataclasses.MISSING):
            continue  # a field added since the manifest was written: its default
        value = data[f.name]
        if isinstance(value, dict) and "type" in value:
            value = params_from_dict(value, load)
        elif isinstance(value, dict) and load is not None:
            value = load(value)
        kwargs[f.name] = _tuplify(value)
    return cls(**kwargs)
