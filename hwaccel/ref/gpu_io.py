"""Torch kernels of the GPU engine for the host boundary (Quantize/DequantizeLinear) and data movement.

Boundaries follow :func:`hwaccel.fixedpoint.quantize` / :func:`~hwaccel.fixedpoint.dequantize` exactly
(division in the promoted float type, round half to even; float64 product, one rounding); their
parameter checks run through those functions on a one-element probe, so errors are the same. Data
movers take their output shape from the float kernels run on a shape-only proxy array.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import torch

from .. import fixedpoint
from ..errors import QuantizationError
from ..golden.float_executor import FLOAT_KERNELS
from ..ir.graph import Node
from ..ir.ops import OPS, kernels, register
from .gpu_ops import Context, Dev, Value, torch_dtype

__all__ = ["OTHER_TORCH"]


def _host_dtype(value: Value) -> np.dtype:
    return value.dtype if isinstance(value, Dev) else np.asarray(value).dtype


def _params(node: Node, xs: list[Value], x: torch.Tensor, zero_default: np.dtype) -> tuple[
        np.ndarray, np.ndarray, int | None, list[int], Callable[[np.ndarray], np.ndarray]]:
    """``(scale, zero, axis, probe_shape, along)``: host parameters; ``along`` reshapes one to broadcast on ``x``."""
    scale = np.asarray(xs[1])
    zero = np.asarray(xs[2]) if len(xs) > 2 and xs[2] is not None else np.zeros((), zero_default)
    axis = int(node.attr("axis", 1)) % x.ndim if scale.ndim == 1 and scale.size > 1 else None
    shape = [1] * x.ndim
    if axis is not None:
        shape[axis] = x.shape[axis]

    def along(values: np.ndarray) -> np.ndarray:
        return values.reshape([1] * x.ndim if axis is None else [-1 if i == axis else 1 for i in range(x.ndim)])

    return scale, zero, axis, shape, along


@register("gpu", "QuantizeLinear")
def quantize_linear(ctx: Context, node: Node, xs: list[Value]) -> Dev:
    """ONNX QuantizeLinear as :func:`hwaccel.fixedpoint.quantize`: ``x / scale`` in the promoted float type, rint."""
    x = ctx.dev(xs[0])
    scale, zero, axis, probe, along = _params(node, xs, x, np.dtype(np.uint8))
    lo, hi = (int(v) for v in (np.iinfo(zero.dtype).min, np.iinfo(zero.dtype).max))
    if node.outputs[0] in ctx.code_ranges:  # codes narrower than their container, as golden clips them
        declared = ctx.code_ranges[node.outputs[0]]
        lo, hi = max(lo, declared[0]), min(hi, declared[1])
    x_dtype = _host_dtype(xs[0]) if _host_dtype(xs[0]).kind == "f" else np.dtype(np.float64)
    fixedpoint.quantize(np.zeros(probe, x_dtype), scale, zero.astype(np.int64), lo, hi, axis=axis)  # checks, errors
    ftype = np.result_type(x_dtype, scale.dtype)
    q = x.to(torch_dtype(ftype)) / ctx.const((id(node), "s"), scale, lambda: along(scale).astype(ftype))
    if bool(torch.isnan(q).any()):
        raise QuantizationError("x_real must not contain NaN, not NaN")
    z = ctx.const((id(node), "z"), zero, lambda: along(zero.astype(np.int64)))
    r = torch.clamp(torch.round(q), lo - z - 1, hi - z + 1).to(torch.int64)  # torch.round: half to even
    return ctx.wrap(torch.clamp(r + z, lo, hi), zero.dtype)


@register("gpu", "DequantizeLinear")
def dequantize_linear(ctx: Context, node: Node, xs: list[Value]) -> Dev:
    """ONNX DequantizeLinear as :func:`hwaccel.fixedpoint.dequantize`: float64 product, one rounding."""
    x = ctx.dev(xs[0])
    scale, zero, axis, probe, along = _params(node, xs, x, _host_dtype(xs[0]))
    fixedpoint.dequantize(np.zeros(probe, np.int64), scale, zero.astype(np.int64), axis=axis)  # checks, errors
    s = ctx.const((id(node), "s"), scale, lambda: along(scale.astype(np.float64)))
    z = ctx.const((id(node), "z"), zero, lambda: along(zero.astype(np.int64)))
    return ctx.wrap((x.to(torch.int64) - z).to(torch.float64) * s, scale.dtype)


def _proxy(x: Dev) -> np.ndarray:
    """An uninitialised array of ``x``'s shape: what the float kernels need to work out shapes."""
    return np.empty(tuple(x.tensor.shape), np.bool_)


@register("gpu", "Reshape", "Flatten", "Squeeze", "Unsqueeze", "Identity", "Shape")
def reshaping(ctx: Context, node: Node, xs: list[Value]) -> Dev | np.ndarray:
    """Reshape, Flatten, Squeeze, Unsqueeze, Identity, Shape: the float kernel on a proxy gives the output
    shape (same semantics, same errors); the tensor is only viewed."""
    x = xs[0]
    assert isinstance(x, Dev)
    inputs: list[np.ndarray | None] = [_proxy(x), *(ctx.host(v) for v in xs[1:])]
    result = FLOAT_KERNELS[node.op](node, inputs)[0]
    return result if node.op == "Shape" else Dev(x.tensor.reshape(result.shape), x.dtype)


@register("gpu", "Transpose")
def transpose(ctx: Context, node: Node, xs: list[Value]) -> Dev:
    x = xs[0]
    assert isinstance(x, Dev)
    perm = node.attr("perm", None)
    return Dev(x.tensor.permute(*(reversed(range(x.tensor.ndim)) if perm is None else [int(p) for p in perm])), x.dtype)


@register("gpu", "Gather")
def gather(ctx: Context, node: Node, xs: list[Value]) -> Dev:
    x, indices = xs[0], np.asarray(ctx.host(xs[1])).astype(np.int64)
    assert isinstance(x, Dev)
    axis = int(node.attr("axis", 0)) % x.tensor.ndim
    size = x.tensor.shape[axis]
    if np.any(indices < -size) or np.any(indices >= size):
        FLOAT_KERNELS["Gather"](node, [_proxy(x), indices])  # raises its ModelError
    flat = x.tensor.index_select(axis, ctx.upload(indices.reshape(-1) % size))
    return Dev(flat.reshape(tuple(x.tensor.shape[:axis]) + indices.shape + tuple(x.tensor.shape[axis + 1:])), x.dtype)


# ONNX op (boundary or data movement) -> torch kernel, from the op table
OTHER_TORCH: dict[str, Callable[[Context, Node, list[Value]], Dev | np.ndarray]] = {
    op: k for op, k in kernels("gpu").items() if op in OPS}
