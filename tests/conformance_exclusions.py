"""ONNX node conformance cases the float executor does not run, each with its reason.

``EXCLUDED`` names single cases; :func:`excluded_reason` adds the rules for whole classes of cases
(element types and value kinds the IR does not hold).
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import helper

from hwaccel.frontend.onnx_import import SUPPORTED_DTYPES

__all__ = ["EXCLUDED", "excluded_reason"]

_RANDOM_DROPOUT = "training-mode Dropout with ratio > 0 draws a random mask (the expected output depends on NumPy's RNG)"

EXCLUDED: dict[str, str] = {
    "test_training_dropout": _RANDOM_DROPOUT,
    "test_training_dropout_default": _RANDOM_DROPOUT,
    "test_training_dropout_mask": _RANDOM_DROPOUT,
    "test_training_dropout_default_mask": _RANDOM_DROPOUT,
}


def _type_name(elem_type: int) -> str:
    """NumPy's name for numeric types (as the importer reports them), ONNX's name otherwise."""
    try:
        dtype = np.dtype(helper.tensor_dtype_to_np_dtype(elem_type))
    except (KeyError, TypeError, ValueError):
        dtype = None
    return str(dtype) if dtype is not None and dtype.kind in "biuf" else onnx.TensorProto.DataType.Name(elem_type).lower()


def excluded_reason(name: str, model: onnx.ModelProto) -> str | None:
    """Why case ``name`` is excluded, or None when it must run."""
    if name in EXCLUDED:
        return EXCLUDED[name]
    g = model.graph
    values = [*g.input, *g.output, *g.value_info]
    if any(not vi.type.HasField("tensor_type") for vi in values):
        return "sequence/optional-typed value: the IR holds tensors only"
    types = {_type_name(vi.type.tensor_type.elem_type) for vi in values} | {_type_name(t.data_type) for t in g.initializer}
    unsupported = sorted(types - SUPPORTED_DTYPES)
    if unsupported:
        return f"element type {', '.join(unsupported)} is not supported (the importer accepts {', '.join(sorted(SUPPORTED_DTYPES))})"
    return None
