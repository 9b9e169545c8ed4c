"""Helpers shared by the float kernels: input access and the accumulation type."""

from __future__ import annotations

import numpy as np

from ...errors import ModelError
from ...ir.graph import Node

__all__ = ["Inputs", "required", "optional", "float_compute_dtype"]

Inputs = list[np.ndarray | None]


def required(node: Node, inputs: Inputs, index: int) -> np.ndarray:
    """Input ``index`` of ``node``, which must be present."""
    value = inputs[index] if len(inputs) > index else None
    if value is None:
        raise ModelError(f"{node.name}: {node.op} input {index} must be given, not missing")
    return value


def optional(inputs: Inputs, index: int) -> np.ndarray | None:
    """Input ``index``, or None when it is absent or the empty name."""
    return inputs[index] if len(inputs) > index else None


def float_compute_dtype(x: np.ndarray) -> np.dtype:
    """float64 for floating inputs (accumulate accurately, cast back later), else the input type."""
    return np.dtype(np.float64) if x.dtype.kind == "f" else x.dtype
