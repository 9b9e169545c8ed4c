"""Torch kernels of the GPU engine: the golden integer kernels (:mod:`hwaccel.golden.fixed_ops`) on a torch device.

Imported only by :mod:`hwaccel.ref.gpu` once PyTorch is known to be installed. Integer arithmetic is
int64; sums of products run as float64 GEMMs (im2col) when ``acc_bits <= 54``: every product and
every partial sum is then an integer below 2**53, exact in any summation order. Convolutions do not
go through cuDNN (its FFT algorithms are not exact); transposed convolutions are zero insertion
followed by a convolution with the flipped kernel.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Iterable

import numpy as np
import torch
import torch.nn.functional as F

from .. import fixedpoint
from ..errors import QuantizationError
from ..fixedpoint import Requant
from ..golden.fixed import FIXED_KERNELS
from ..golden.fixed_ops.common import spatial_pads
from ..golden.fixed_ops.pool import pool_output_extent, window_count_map
from ..golden.execute import FLOAT_KERNELS
from ..ir.graph import Node
from .cpu import exact_float_dtype

__all__ = ["Dev", "Context", "FIXED_TORCH", "OTHER_TORCH"]

F64, I64 = torch.float64, torch.int64
# NumPy code containers torch cannot compute in, stored in a wider signed type on the device
_STORAGE = {np.dtype(np.uint16): np.dtype(np.int32), np.dtype(np.uint32): np.dtype(np.int64), np.dtype(np.uint64): np.dtype(np.int64)}


@dataclass(frozen=True)
class Dev:
    """A value on the device: its tensor and the NumPy dtype it has on the host."""

    tensor: torch.Tensor
    dtype: np.dtype


Value = np.ndarray | Dev | None


class Context:
    """The device, host <-> device copies and a cache of device constants (weights, requant tables)."""

    def __init__(self, device: torch.device, pinned: Iterable[np.ndarray] = ()) -> None:
        self.device = device
        self._pinned = {id(a) for a in pinned}  # arrays the graph keeps alive (initializers): safe to cache by id
        self._cache: dict[tuple, tuple[Any, torch.Tensor]] = {}

    def wrap(self, tensor: torch.Tensor, dtype: np.dtype) -> Dev:
        """``tensor`` converted to the device container of the host dtype ``dtype`` (NumPy ``astype`` rules)."""
        return Dev(tensor.to(torch_dtype(_STORAGE.get(np.dtype(dtype), np.dtype(dtype)))), np.dtype(dtype))

    def upload(self, array: np.ndarray) -> torch.Tensor:
        a = np.asarray(array)
        return torch.from_numpy(np.ascontiguousarray(a.astype(_STORAGE.get(a.dtype, a.dtype)))).to(self.device)

    def dev(self, value: Value) -> torch.Tensor:
        """The value as a device tensor (host arrays are copied over; graph constants once)."""
        if isinstance(value, Dev):
            return value.tensor
        assert value is not None, "a required input is missing"
        return self.const(("upload", id(value)), value, lambda: value)

    def host(self, value: Value) -> np.ndarray | None:
        if isinstance(value, Dev):
            return value.tensor.cpu().numpy().astype(value.dtype, copy=False)
        return value

    def const(self, key: tuple, owner: Any, build: Callable[[], np.ndarray]) -> torch.Tensor:
        """The device copy of ``build()``, cached under ``key`` when ``owner`` (kept alive) is a constant:
        a graph initializer or an attribute object, not a value computed in this run."""
        if isinstance(owner, Dev) or (isinstance(owner, np.ndarray) and id(owner) not in self._pinned):
            return self.upload(build())
        if key not in self._cache:
            self._cache[key] = (owner, self.upload(build()))
        return self._cache[key][1]


def torch_dtype(dtype: np.dtype) -> torch.dtype:
    return torch.from_numpy(np.zeros(0, dtype)).dtype


def _shape(value: Value) -> tuple[int, ...]:
    return tuple(value.tensor.shape) if isinstance(value, Dev) else np.shape(value)


def _max_bits(x: torch.Tensor) -> int:
    if x.numel() == 0:
        return 0
    lo, hi = (int(v) for v in torch.aminmax(x))
    return max(hi.bit_length(), (-lo).bit_length())


def round_shift(ctx: Context, x: torch.Tensor, rq: Requant, shape: tuple[int, ...]) -> torch.Tensor:
    """:func:`hwaccel.fixedpoint.round_shift` of int64 ``x`` by ``rq.shift`` (reshaped to ``shape``)."""
    s = rq.shift.reshape(shape)
    left = ctx.const((id(rq), "left", shape), rq, lambda: np.clip(-s, 0, 63))
    if np.any(s < 0):
        bad = ((x << left) >> left != x) & ctx.const((id(rq), "neg", shape), rq, lambda: s < 0)
        if np.any(s < -63):
            bad = bad | ((x != 0) & ctx.const((id(rq), "gone", shape), rq, lambda: s < -63))
        if bool(bad.any()):
            raise QuantizationError(f"x * 2**{int(-s.min())} must fit in int64, not overflow it")
    right = ctx.const((id(rq), "right", shape), rq, lambda: np.clip(s, 1, 63))
    half = ctx.const((id(rq), "half", shape), rq, lambda: np.int64(1) << (np.clip(s, 1, 63) - 1))
    q = x >> right
    rem = x - (q << right)
    up = rem >= half if rq.rounding == "half_up" else (rem > half) | ((rem == half) & ((q & 1) == 1))
    out = q + up
    if np.any(s <= 0):
        out = torch.where(ctx.const((id(rq), "left?", shape), rq, lambda: s <= 0), x << left, out)
    if np.any(s >= 64):
        out = torch.where(ctx.const((id(rq), "zero?", shape), rq, lambda: s >= 64), 0, out)
    return out


def requant(ctx: Context, acc: torch.Tensor, rq: Requant | None, channel_axis: int) -> torch.Tensor:
    """:meth:`hwaccel.fixedpoint.Requant.apply` on an int64 tensor (the same checks and errors)."""
    if rq is None:
        return acc
    shape = [1] * acc.ndim
    if rq.channels > 1:
        if acc.ndim == 0 or acc.shape[channel_axis] != rq.channels:
            raise QuantizationError(f"acc axis {channel_axis} must have {rq.channels} channels, not shape {tuple(acc.shape)}")
        shape[channel_axis] = rq.channels
    bits = _max_bits(acc)
    if bits + rq.mult_bits > 63:
        raise QuantizationError(f"acc_bits + mult_bits must be <= 63, not {bits} + {rq.mult_bits}")
    m = ctx.const((id(rq), "m", tuple(shape)), rq, lambda: rq.multiplier.reshape(shape))
    y = rq.zero_point + round_shift(ctx, acc * m, rq, tuple(shape))
    return y.clamp(rq.lo, rq.hi)


# -- windows, convolutions, products --------------------------------------------------------------


def windows(x: torch.Tensor, kernel, strides, dilations, pads: list[tuple[int, int]], pad_value) -> torch.Tensor:
    """(N, C, *out, *kernel) view of padded ``x``, as :func:`~hwaccel.golden.fixed_ops.common.extract_windows`."""
    flat = [p for b, e in reversed(pads) for p in (b, e)]
    if any(flat):
        x = F.pad(x, flat, value=pad_value)
    for axis, (k, s, d) in enumerate(zip(kernel, strides, dilations)):
        x = x.unfold(2 + axis, (k - 1) * d + 1, s)
    return x[(...,) + tuple(slice(None, None, d) for d in dilations)]


def _correlate(x: torch.Tensor, w: torch.Tensor, group: int, strides, dilations, pads) -> torch.Tensor:
    """Grouped N-d correlation of float64 ``x`` (N, C, *in) with ``w`` (M, C/group, *k): im2col, one GEMM per group."""
    kernel, spatial = tuple(w.shape[2:]), w.ndim - 2
    win = windows(x, kernel, strides, dilations, pads, 0.0)  # (N, C, *out, *k)
    n, c, out = win.shape[0], win.shape[1], tuple(win.shape[2:2 + spatial])
    m, cg = w.shape[0], c // group
    win = win.reshape((n, group, cg) + tuple(win.shape[2:]))
    order = (1, 0, *range(3, 3 + spatial), 2, *range(3 + spatial, 3 + 2 * spatial))
    cols = win.permute(order).reshape(group, -1, w[0].numel())  # (G, N*P, Cg*K)
    acc = torch.bmm(cols, w.reshape(group, m // group, -1).transpose(1, 2))  # (G, N*P, Mg)
    return acc.reshape(group, n, -1, m // group).permute(1, 0, 3, 2).reshape((n, m) + out)


def _zero_points(node: Node, channels: int) -> tuple[int, np.ndarray]:
    zw = np.broadcast_to(np.asarray(node.attr("w_zero_point", 0), np.int64).reshape(-1), (channels,))
    return int(node.attr("x_zero_point", 0)), zw


def _bias(ctx: Context, xs: list[Value], shape: tuple[int, ...]) -> torch.Tensor | int:
    if len(xs) < 3 or xs[2] is None:
        return 0
    return ctx.dev(xs[2]).to(I64).reshape(-1).reshape(shape)


def _exact(node: Node) -> bool:
    return exact_float_dtype(int(node.attr("acc_bits", 64))) is not None


def _golden(ctx: Context, node: Node, xs: list[Value]) -> torch.Tensor:
    """The golden kernel on the host: for accumulators too wide for an exact float GEMM."""
    return ctx.upload(FIXED_KERNELS[node.op](node, [ctx.host(v) for v in xs], None))  # type: ignore[arg-type]


def conv(ctx: Context, node: Node, xs: list[Value]) -> torch.Tensor:
    if not _exact(node):
        return _golden(ctx, node, xs)
    w_shape = _shape(xs[1])
    m, spatial = w_shape[0], len(w_shape) - 2
    zx, zw = _zero_points(node, m)
    wf = ctx.const((id(node), "w"), xs[1], lambda: _offset_weights(ctx.host(xs[1]), zw.reshape((m,) + (1,) * (spatial + 1))))
    strides = tuple(node.attr("strides", [1] * spatial))
    dilations = tuple(node.attr("dilations", [1] * spatial))
    x = ctx.dev(xs[0]).to(F64) - zx
    acc = _correlate(x, wf, int(node.attr("group", 1)), strides, dilations, spatial_pads(node.attr("pads"), spatial))
    acc = acc.to(I64) + _bias(ctx, xs, (1, m) + (1,) * spatial)
    return requant(ctx, acc, node.attr("requant"), 1)


def _offset_weights(w: np.ndarray | None, zw: np.ndarray) -> np.ndarray:
    assert w is not None, "weights are required"
    return (w.astype(np.int64) - zw).astype(np.float64)


def conv_transpose(ctx: Context, node: Node, xs: list[Value]) -> torch.Tensor:
    """Zero insertion (stride), full padding ``(k - 1) * d``, correlation with the flipped kernel, crop."""
    if not _exact(node):
        return _golden(ctx, node, xs)
    w_host = ctx.host(xs[1])
    assert w_host is not None
    group, (c, mg), kernel = int(node.attr("group", 1)), w_host.shape[:2], tuple(w_host.shape[2:])
    spatial, m, cg = len(kernel), mg * group, c // group
    zx, zw = _zero_points(node, m)

    def flipped() -> np.ndarray:  # (M, Cg, *k): output channel g*mg + j reads input channels of group g
        wz = w_host.astype(np.int64).reshape((group, cg, mg) + kernel) - zw.reshape((group, 1, mg) + (1,) * spatial)
        return np.flip(wz.swapaxes(1, 2), axis=tuple(range(3, 3 + spatial))).reshape((m, cg) + kernel).astype(np.float64)

    wf = ctx.const((id(node), "w"), xs[1], flipped)
    x = ctx.dev(xs[0]).to(F64) - zx
    strides = tuple(node.attr("strides", [1] * spatial))
    dilations = tuple(node.attr("dilations", [1] * spatial))
    begin = [b for b, _ in spatial_pads(node.attr("pads"), spatial)]
    out = [int(o) for o in node.attr("output_spatial")]
    inserted = x.new_zeros(tuple(x.shape[:2]) + tuple((i - 1) * s + 1 for i, s in zip(x.shape[2:], strides)))
    inserted[(slice(None), slice(None)) + tuple(slice(None, None, s) for s in strides)] = x
    full = [(i - 1) * s + (k - 1) * d + 1 for i, s, k, d in zip(x.shape[2:], strides, kernel, dilations)]
    pads = [((k - 1) * d, (k - 1) * d + max(0, o + b - f)) for k, d, o, b, f in zip(kernel, dilations, out, begin, full)]
    acc = _correlate(inserted, wf, group, (1,) * spatial, dilations, pads)
    acc = acc[(slice(None), slice(None)) + tuple(slice(b, b + o) for b, o in zip(begin, out))]
    acc = acc.to(I64) + _bias(ctx, xs, (1, m) + (1,) * spatial)
    return requant(ctx, acc, node.attr("requant"), 1)


def matmul(ctx: Context, node: Node, xs: list[Value]) -> torch.Tensor:
    if not _exact(node):
        return _golden(ctx, node, xs)
    m = _shape(xs[1])[-1]
    zx, zw = _zero_points(node, m)
    wf = ctx.const((id(node), "w"), xs[1], lambda: _offset_weights(ctx.host(xs[1]), zw))
    acc = torch.matmul(ctx.dev(xs[0]).to(F64) - zx, wf).to(I64) + _bias(ctx, xs, (m,))
    return requant(ctx, acc, node.attr("requant"), acc.ndim - 1)


# -- pooling ---------------------------------------------------------------------------------------


def _pool_windows(node: Node, x: torch.Tensor, pad_value: int) -> tuple[torch.Tensor, tuple[int, ...]]:
    """Pool windows with the explicit pads plus the ceil_mode overhang (marked with ``pad_value``)."""
    spatial = x.ndim - 2
    kernel = tuple(node.attr("kernel_shape"))
    strides = tuple(node.attr("strides", [1] * spatial))
    dilations = tuple(node.attr("dilations", [1] * spatial))
    ceil_mode = bool(node.attr("ceil_mode", 0))
    pads = []
    for (b, e), size, k, s, d in zip(spatial_pads(node.attr("pads"), spatial), x.shape[2:], kernel, strides, dilations):
        out = pool_output_extent(size, k, s, d, b, e, ceil_mode)
        pads.append((b, e + max((out - 1) * s + (k - 1) * d + 1 - (size + b + e), 0)))
    return windows(x, kernel, strides, dilations, pads, pad_value), tuple(range(-spatial, 0))


def max_pool(ctx: Context, node: Node, xs: list[Value]) -> torch.Tensor:
    win, axes = _pool_windows(node, ctx.dev(xs[0]).to(I64), torch.iinfo(I64).min)
    return win.amax(dim=axes)


def average_pool(ctx: Context, node: Node, xs: list[Value]) -> torch.Tensor:
    """``requants[count](sum(x - zx))`` per output, count = averaged elements (as the golden kernel)."""
    x = ctx.dev(xs[0]).to(I64) - int(node.attr("x_zero_point", 0))
    win, axes = _pool_windows(node, x, 0)
    sums = win.sum(dim=axes)
    counts_host = window_count_map(tuple(x.shape[2:]), node.attrs)
    counts = ctx.const((id(node), "counts", counts_host.shape), node, lambda: counts_host).expand_as(sums)
    out = torch.empty_like(sums)
    for count in np.unique(counts_host).tolist():
        mask = counts == count
        out[mask] = requant(ctx, sums[mask], node.attr("requants")[count], 0)
    return out


def global_average_pool(ctx: Context, node: Node, xs: list[Value]) -> torch.Tensor:
    x = ctx.dev(xs[0]).to(I64) - int(node.attr("x_zero_point", 0))
    sums = x.sum(dim=tuple(range(2, x.ndim)), keepdim=True)
    return requant(ctx, sums, node.attr("requants")[int(np.prod(x.shape[2:]))], 1)


def global_max_pool(ctx: Context, node: Node, xs: list[Value]) -> torch.Tensor:
    x = ctx.dev(xs[0]).to(I64)
    return x.amax(dim=tuple(range(2, x.ndim)), keepdim=True)


# -- element-wise ------------------------------------------------------------------------------------


def _offset(ctx: Context, value: Value, zero_point: Any) -> torch.Tensor:
    return ctx.dev(value).to(I64) - int(zero_point)


def add(ctx: Context, node: Node, xs: list[Value]) -> torch.Tensor:
    ma, mb = (int(v) for v in node.attr("multipliers"))
    total = _offset(ctx, xs[0], node.attr("a_zero_point", 0)) * ma + _offset(ctx, xs[1], node.attr("b_zero_point", 0)) * mb
    return requant(ctx, total, node.attr("requant"), 0)


def mul(ctx: Context, node: Node, xs: list[Value]) -> torch.Tensor:
    product = _offset(ctx, xs[0], node.attr("a_zero_point", 0)) * _offset(ctx, xs[1], node.attr("b_zero_point", 0))
    return requant(ctx, product, node.attr("requant"), 0)


def requant_op(ctx: Context, node: Node, xs: list[Value]) -> torch.Tensor:
    return requant(ctx, _offset(ctx, xs[0], node.attr("x_zero_point", 0)), node.attr("requant"), int(node.attr("channel_axis", 1)))


def concat(ctx: Context, node: Node, xs: list[Value]) -> torch.Tensor:
    parts = [ctx.dev(x).to(I64) if rq is None else requant(ctx, _offset(ctx, x, zx), rq, 0)
             for x, zx, rq in zip(xs, node.attr("x_zero_points"), node.attr("requants"))]
    return torch.cat(parts, dim=int(node.attr("axis")))


def lut(ctx: Context, node: Node, xs: list[Value]) -> torch.Tensor:
    table = ctx.const((id(node), "table"), node, lambda: np.asarray(node.attr("table"), np.int64))
    return table[_offset(ctx, xs[0], node.attr("in_qmin"))]


def pad(ctx: Context, node: Node, xs: list[Value]) -> torch.Tensor:
    x, pads = ctx.dev(xs[0]).to(I64), [int(p) for p in node.attr("pads")]
    rank = x.ndim
    if any(p < 0 for p in pads):
        raise ValueError(f"{node.name}: negative pads are not supported in fixed point")
    flat = [p for axis in reversed(range(rank)) for p in (pads[axis], pads[axis + rank])]
    return F.pad(x, flat, value=int(node.attr("x_zero_point", 0)))


FIXED_TORCH: dict[str, Callable[[Context, Node, list[Value]], torch.Tensor]] = {
    "QConv": conv, "QConvTranspose": conv_transpose, "QMatMul": matmul,
    "QMaxPool": max_pool, "QGlobalMaxPool": global_max_pool,
    "QAveragePool": average_pool, "QGlobalAveragePool": global_average_pool,
    "QAdd": add, "QMul": mul, "QConcat": concat, "QLut": lut, "QRequant": requant_op, "QPad": pad,
}


# -- host boundary and data movement ---------------------------------------------------------------


def _axis_params(node: Node, xs: list[Value], ndim: int, zero_default: np.dtype) -> tuple[np.ndarray, np.ndarray, int | None]:
    scale = np.asarray(xs[1])
    zero = np.asarray(xs[2]) if len(xs) > 2 and xs[2] is not None else np.zeros((), zero_default)
    axis = int(node.attr("axis", 1)) if scale.ndim == 1 and scale.size > 1 else None
    return scale, zero, None if axis is None else axis % ndim


def _along(values: np.ndarray, ndim: int, axis: int | None) -> np.ndarray:
    shape = [1] * ndim
    if axis is not None:
        shape[axis] = values.size
    return values.reshape(shape if axis is not None else ())


def quantize_linear(ctx: Context, node: Node, xs: list[Value]) -> Dev:
    """ONNX QuantizeLinear exactly as :func:`hwaccel.fixedpoint.quantize` (same float type, rint)."""
    x = ctx.dev(xs[0])
    scale, zero, axis = _axis_params(node, xs, x.ndim, np.dtype(np.uint8))
    info = np.iinfo(zero.dtype)
    probe = [1] * x.ndim
    if axis is not None:
        probe[axis] = x.shape[axis]
    x_dtype = xs[0].dtype if isinstance(xs[0], Dev) else np.asarray(xs[0]).dtype
    x_dtype = x_dtype if x_dtype.kind == "f" else np.dtype(np.float64)
    # the parameter checks and errors of the contract, on a probe of the broadcast shape
    fixedpoint.quantize(np.zeros(probe, x_dtype), scale, zero.astype(np.int64), int(info.min), int(info.max), axis=axis)
    ftype = np.result_type(x_dtype, scale.dtype)
    q = x.to(torch_dtype(ftype)) / ctx.const((id(node), "s"), scale, lambda: _along(scale, x.ndim, axis).astype(ftype))
    if bool(torch.isnan(q).any()):
        raise QuantizationError("x_real must not contain NaN, not NaN")
    z = ctx.const((id(node), "z"), zero, lambda: _along(zero.astype(np.int64), x.ndim, axis))
    r = torch.clamp(torch.round(q), int(info.min) - z - 1, int(info.max) - z + 1).to(I64)
    return ctx.wrap(torch.clamp(r + z, int(info.min), int(info.max)), zero.dtype)


def dequantize_linear(ctx: Context, node: Node, xs: list[Value]) -> Dev:
    """ONNX DequantizeLinear as :func:`hwaccel.fixedpoint.dequantize`: float64 product, one rounding."""
    x = ctx.dev(xs[0])
    x_dtype = xs[0].dtype if isinstance(xs[0], Dev) else np.asarray(xs[0]).dtype
    scale, zero, axis = _axis_params(node, xs, x.ndim, x_dtype)
    probe = [1] * x.ndim
    if axis is not None:
        probe[axis] = x.shape[axis]
    fixedpoint.dequantize(np.zeros(probe, np.int64), scale, zero.astype(np.int64), axis=axis)
    s = ctx.const((id(node), "s"), scale, lambda: _along(scale.astype(np.float64), x.ndim, axis))
    z = ctx.const((id(node), "z"), zero, lambda: _along(zero.astype(np.int64), x.ndim, axis))
    return ctx.wrap((x.to(I64) - z).to(F64) * s, scale.dtype)


def reshaping(ctx: Context, node: Node, xs: list[Value]) -> Dev | np.ndarray:
    """Reshape, Flatten, Squeeze, Unsqueeze, Identity, Shape: the float kernel on a shape-only proxy
    decides the output shape (same semantics and errors); the tensor is only viewed."""
    x = xs[0]
    assert isinstance(x, Dev)
    proxy = np.empty(tuple(x.tensor.shape), np.bool_)
    result = FLOAT_KERNELS[node.op](node, [proxy] + [ctx.host(v) for v in xs[1:]])[0]
    return result if node.op == "Shape" else Dev(x.tensor.reshape(result.shape), x.dtype)


def transpose(ctx: Context, node: Node, xs: list[Value]) -> Dev:
    x = xs[0]
    assert isinstance(x, Dev)
    perm = node.attr("perm", None)
    return Dev(x.tensor.permute(*(reversed(range(x.tensor.ndim)) if perm is None else [int(p) for p in perm])), x.dtype)


def gather(ctx: Context, node: Node, xs: list[Value]) -> Dev:
    x, indices = xs[0], np.asarray(ctx.host(xs[1])).astype(np.int64)
    assert isinstance(x, Dev)
    axis = int(node.attr("axis", 0)) % x.tensor.ndim
    size = x.tensor.shape[axis]
    if np.any(indices < -size) or np.any(indices >= size):
        FLOAT_KERNELS["Gather"](node, [np.empty(tuple(x.tensor.shape), np.bool_), indices])  # raises its ModelError
    flat = x.tensor.index_select(axis, ctx.upload(indices.reshape(-1) % size))
    shape = tuple(x.tensor.shape[:axis]) + indices.shape + tuple(x.tensor.shape[axis + 1:])
    return Dev(flat.reshape(shape), x.dtype)


OTHER_TORCH: dict[str, Callable[[Context, Node, list[Value]], Dev | np.ndarray]] = {
    "QuantizeLinear": quantize_linear, "DequantizeLinear": dequantize_linear, "Transpose": transpose, "Gather": gather,
    **{op: reshaping for op in ("Reshape", "Flatten", "Squeeze", "Unsqueeze", "Identity", "Shape")},
}
