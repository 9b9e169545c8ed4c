"""hwaccel: from a trained ONNX network to bit-exact fixed-point hardware.

The library API does what the commands do and returns small result objects whose ``to_dict()``
is the JSON the command prints with ``--json``::

    import hwaccel
    qdq = hwaccel.quantize("models/cnn.onnx", "models/digits_calib.npz", "cnn.qdq.onnx")
    build = hwaccel.compile(qdq.output, "build/cnn")
    print(hwaccel.simulate(build.output, batch=100).cycles.total_cycles)

``import hwaccel`` is light: each function's module (and NumPy, ONNX, Amaranth ...) is imported on
first use. ``estimate`` and ``bench`` share their names with the subpackages :mod:`hwaccel.estimate`
and :mod:`hwaccel.bench`; ``hwaccel.estimate`` is the function, and its other attributes are the
subpackage's (``hwaccel.estimate.fpga`` is still the module).
"""

from __future__ import annotations

import functools
import importlib
import sys
import types
from typing import TYPE_CHECKING, Any, Callable

if TYPE_CHECKING:
    from .api import compile, estimate, load, quantize, run, simulate, verify  # noqa: F401
    from .bench import bench  # noqa: F401

__all__ = ["__version__", "load", "quantize", "compile", "simulate", "verify", "estimate", "run", "bench"]

_HOME = {name: "hwaccel.api" for name in ("load", "quantize", "compile", "simulate", "verify", "estimate", "run")}
_HOME["bench"] = "hwaccel.bench"  # a layer above the API: it compiles through it
_SUBPACKAGES = {"estimate": "hwaccel.estimate", "bench": "hwaccel.bench"}  # API names that are also subpackages
FALLBACK_VERSION = "0.1.0"  # pyproject.toml's, for a source tree that is not installed


class _Entry:
    """An API function named like a subpackage: calling it runs the function; its public attributes
    are the subpackage's."""

    def __init__(self, func: Callable[..., Any], package: str) -> None:
        functools.update_wrapper(self, func)
        self._package = package

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.__wrapped__(*args, **kwargs)  # type: ignore[attr-defined]

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__") or name == "_package":
            raise AttributeError(name)
        return getattr(importlib.import_module(self._package), name)

    def __repr__(self) -> str:
        return f"<hwaccel API function {self.__name__} (subpackage {self._package})>"  # type: ignore[attr-defined]


class _Package(types.ModuleType):
    """The ``hwaccel`` module: importing a subpackage named like an API function does not replace
    the function (the import system sets the subpackage as an attribute of its parent)."""

    def __setattr__(self, name: str, value: Any) -> None:
        if name in _SUBPACKAGES and isinstance(value, types.ModuleType):
            return  # the subpackage stays in sys.modules and behind the API entry's attributes
        super().__setattr__(name, value)


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("hwaccel")
    except PackageNotFoundError:
        return FALLBACK_VERSION


def __getattr__(name: str) -> Any:
    if name == "__version__":
        value: Any = _version()
    elif name in _HOME:
        value = getattr(importlib.import_module(_HOME[name]), name)
        if name in _SUBPACKAGES:
            value = _Entry(value, _SUBPACKAGES[name])
    else:
        raise AttributeError(f"module 'hwaccel' has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


sys.modules[__name__].__class__ = _Package
