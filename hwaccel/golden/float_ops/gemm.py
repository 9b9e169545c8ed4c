"""Gemm and MatMul (NumPy broadcasting of batch axes), accumulated in float64 for float inputs."""

from __future__ import annotations

import numpy as np

from ...errors import ModelError
from ...ir.graph import Node
from ...ir.ops import register
from .common import Inputs, float_compute_dtype, optional, required

__all__ = ["gemm", "matmul"]


@register("float", "Gemm")
def gemm(node: Node, inputs: Inputs) -> list[np.ndarray]:
    """``Y = alpha * A' @ B' + beta * C`` with ``A' = A.T`` if transA, ``B' = B.T`` if transB."""
    a, b, c = required(node, inputs, 0), required(node, inputs, 1), optional(inputs, 2)
    if a.ndim != 2 or b.ndim != 2:
        raise ModelError(f"{node.name}: Gemm inputs A and B must be 2-D, not {a.shape!r} and {b.shape!r}")
    out_dtype = a.dtype
    alpha, beta = float(node.attr("alpha", 1.0)), float(node.attr("beta", 1.0))
    dtype = float_compute_dtype(a)
    a = a.T if node.attr("transA", 0) else a
    b = b.T if node.attr("transB", 0) else b
    y = np.matmul(a.astype(dtype, copy=False), b.astype(dtype, copy=False))
    if alpha != 1.0:
        y = y * alpha
    if c is not None:
        y = y + (c.astype(dtype) * beta if beta != 1.0 else c.astype(dtype))
    return [y.astype(out_dtype, copy=False)]


@register("float", "MatMul")
def matmul(node: Node, inputs: Inputs) -> list[np.ndarray]:
    """``numpy.matmul`` semantics (1-D operands promoted and demoted, batch axes broadcast)."""
    a, b = required(node, inputs, 0), required(node, inputs, 1)
    dtype = float_compute_dtype(a)
    try:
        y = np.matmul(a.astype(dtype, copy=False), b.astype(dtype, copy=False))
    except ValueError as exc:
        raise ModelError(f"{node.name}: MatMul shapes {a.shape} and {b.shape} do not match ({exc})") from None
    return [y.astype(a.dtype, copy=False)]
