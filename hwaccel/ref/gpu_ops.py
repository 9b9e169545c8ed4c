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

from ..errors import QuantizationError
from ..fixedpoint import Requant
from ..golden.fixed import FIXED_KERNELS
from ..golden.fixed_ops.common import spatial_pads
from ..golden.fixed_ops.pool import pool_output_extent, window_count_map
from ..ir.graph import Node
from ..ir.ops import FIXED_OPS, kernels, register
from .cpu import exact_float_dtype

__all__ = ["Dev", "Value", "Context", "torch_dtype", "requant", "FIXED_TORCH"]

F64, I64 = torch.float64, torch.int64
# NumPy code containers torch cannot compute in, stored in a wider signed type on the device
_STORAGE: dict[np.dtype, np.dtype] = {np.dtype(np.uint16): np.dtype(np.int32), np.dtype(np.uint32): np.dtype(np.int64),
                                      np.dtype(np.uint64): np.dtype(np.int64)}


@dataclass(frozen=True)
class Dev:
    """A value on the device: its tensor and the NumPy dtype it has on the host."""

    tensor: torch.Tensor
    dtype: np.dtype


Value = np.ndarray | Dev | None


class Context:
    """The device, host <-> device copies and a cache of device constants (weights, requant tables)."""

    def __init__(self, device: torch.device, pinned: Iterable[np.ndarray] = (),
                 code_ranges: dict[str, tuple[int, int]] | None = None) -> None:
        self.device = device
        self.code_ranges = code_ranges or {}  # value -> declared (qmin, qmax) of codes narrower than their container
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
    assert value is not None, "a required input is missing"
    return tuple(value.tensor.shape) if isinstance(value, Dev) else np.shape(value)


def _max_bits(x: torch.Tensor) -> int:
    if x.numel() == 0:
        return 0
    lo, hi = (int(v) for v in torch.aminmax(x))
    return max(hi.bit_length(), (-lo).bit_length())


def round_shift(ctx: Context, x: torch.Tensor, rq: Requant, shape: tuple[int, ...]) -> torch.Tensor:
    """:func:`hwaccel.fixedpoint.round_shift` of ``x = acc * rq.multiplier`` by ``rq.shift`` (reshaped to ``shape``).

    Channels whose multiplier is 0 hold 0, which every shift rounds to 0: they need no special case.
    """
    s, live = rq.shift.reshape(shape), rq.multiplier.reshape(shape) != 0

    def const(tag: str, build: Callable[[], np.ndarray]) -> torch.Tensor:
        return ctx.const((id(rq), tag, shape), rq, build)

    left = const("left", lambda: np.clip(-s, 0, 63))
    if np.any(s < 0):
        bad = ((x << left) >> left != x) & const("neg", lambda: s < 0)
        if np.any(s < -63):
            bad = bad | ((x != 0) & const("gone", lambda: s < -63))
        if bool(bad.any()):
            raise QuantizationError(f"x * 2**{int(-s.min())} must fit in int64, not overflow it")
    right = np.clip(s, 1, 63)
    q = x >> const("right", lambda: right)
    rem = x & const("mask", lambda: np.iinfo(np.int64).max >> (63 - right))  # x - q * 2**right, in [0, 2**right)
    half = const("half", lambda: np.int64(1) << (right - 1))
    # half_even rounds up when rem > half, or rem == half and q is odd: rem > half - (q & 1)
    up = rem >= half if rq.rounding == "half_up" else rem > half - (q & 1)
    out = q.add_(up)
    if np.any((s <= 0) & live):
        out = torch.where(const("left?", lambda: s <= 0), x << left, out)
    if np.any((s >= 64) & live):
        out = torch.where(const("zero?", lambda: s >= 64), 0, out)
    return out


def requant(ctx: Context, acc: torch.Tensor, rq: Requant | None, channel_axis: int, acc_bits: int | None = None) -> torch.Tensor:
    """:meth:`hwaccel.fixedpoint.Requant.apply` on an int64 tensor (the same checks and errors).

    ``acc_bits``: a proven bound on the accumulator width (the node's); when it shows that ``acc *
    multiplier`` fits int64 the check on the values, and its device synchronisation, is skipped.
    """
    if rq is None:
        return acc
    shape = [1] * acc.ndim
    if rq.channels > 1:
        if acc.ndim == 0 or acc.shape[channel_axis] != rq.channels:
            raise QuantizationError(f"acc axis {channel_axis} must have {rq.channels} channels, not shape {tuple(acc.shape)}")
        shape[channel_axis] = rq.channels
    if acc_bits is None or acc_bits + rq.mult_bits > 63:
        bits = _max_bits(acc)
        if bits + rq.mult_bits > 63:
            raise QuantizationError(f"acc_bits + mult_bits must be <= 63, not {bits} + {rq.mult_bits}")
    m = ctx.const((id(rq), "m", tuple(shape)), rq, lambda: rq.multiplier.reshape(shape))
    return round_shift(ctx, acc * m, rq, tuple(shape)).add_(rq.zero_point).clamp_(rq.lo, rq.hi)


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


@register("gpu", "QConv")
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
    return requant(ctx, acc, node.attr("requant"), 1, int(node.attr("acc_bits")))


def _offset_weights(w: np.ndarray | None, zw: np.ndarray) -> np.ndarray:
    assert w is not None, "weights are required"
    return (w.astype(np.int64) - zw).astype(np.float64)


@register("gpu", "QConvTranspose")
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
    return requant(ctx, acc, node.attr("requant"), 1, int(node.attr("acc_bits")))


@register("gpu", "QMatMul")
def matmul(ctx: Context, node: Node, xs: list[Value]) -> torch.Tensor:
    if not _exact(node):
        return _golden(ctx, node, xs)
    m = _shape(xs[1])[-1]
    zx, zw = _zero_points(node, m)
    wf = ctx.const((id(node), "w"), xs[1], lambda: _offset_weights(ctx.host(xs[1]), zw))
    acc = torch.matmul(ctx.dev(xs[0]).to(F64) - zx, wf).to(I64) + _bias(ctx, xs, (m,))
    return requant(ctx, acc, node.attr("requant"), acc.ndim - 1, int(node.attr("acc_bits")))


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


@register("gpu", "QMaxPool")
def max_pool(ctx: Context, node: Node, xs: list[Value]) -> torch.Tensor:
    win, axes = _pool_windows(node, ctx.dev(xs[0]).to(I64), torch.iinfo(I64).min)
    return win.amax(dim=axes)


@register("gpu", "QAveragePool")
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
        out[mask] = requant(ctx, sums[mask], node.attr("requants")[count], 0, node.attr("acc_bits"))
    return out


@register("gpu", "QGlobalAveragePool")
def global_average_pool(ctx: Context, node: Node, xs: list[Value]) -> torch.Tensor:
    x = ctx.dev(xs[0]).to(I64) - int(node.attr("x_zero_point", 0))
    sums = x.sum(dim=tuple(range(2, x.ndim)), keepdim=True)
    return requant(ctx, sums, node.attr("requants")[int(np.prod(x.shape[2:]))], 1, node.attr("acc_bits"))


@register("gpu", "QGlobalMaxPool")
def global_max_pool(ctx: Context, node: Node, xs: list[Value]) -> torch.Tensor:
    x = ctx.dev(xs[0]).to(I64)
    return x.amax(dim=tuple(range(2, x.ndim)), keepdim=True)


# -- element-wise ------------------------------------------------------------------------------------


def _offset(ctx: Context, value: Value, zero_point: Any) -> torch.Tensor:
    return ctx.dev(value).to(I64) - int(zero_point)


@register("gpu", "QAdd")
def add(ctx: Context, node: Node, xs: list[Value]) -> torch.Tensor:
    ma, mb = (int(v) for v in node.attr("multipliers"))
    total = _offset(ctx, xs[0], node.attr("a_zero_point", 0)) * ma + _offset(ctx, xs[1], node.attr("b_zero_point", 0)) * mb
    return requant(ctx, total, node.attr("requant"), 0)


@register("gpu", "QMul")
def mul(ctx: Context, node: Node, xs: list[Value]) -> torch.Tensor:
    product = _offset(ctx, xs[0], node.attr("a_zero_point", 0)) * _offset(ctx, xs[1], node.attr("b_zero_point", 0))
    return requant(ctx, product, node.attr("requant"), 0)


@register("gpu", "QRequant")
def requant_op(ctx: Context, node: Node, xs: list[Value]) -> torch.Tensor:
    x = _offset(ctx, xs[0], node.attr("x_zero_point", 0))
    return requant(ctx, x, node.attr("requant"), int(node.attr("channel_axis", 1)))


@register("gpu", "QConcat")
def concat(ctx: Context, node: Node, xs: list[Value]) -> torch.Tensor:
    parts = [ctx.dev(x).to(I64) if rq is None else requant(ctx, _offset(ctx, x, zx), rq, 0)
             for x, zx, rq in zip(xs, node.attr("x_zero_points"), node.attr("requants"))]
    return torch.cat(parts, dim=int(node.attr("axis")))


@register("gpu", "QLut")
def lut(ctx: Context, node: Node, xs: list[Value]) -> torch.Tensor:
    table = ctx.const((id(node), "table"), node, lambda: np.asarray(node.attr("table"), np.int64))
    return table[_offset(ctx, xs[0], node.attr("in_qmin"))]


@register("gpu", "QPad")
def pad(ctx: Context, node: Node, xs: list[Value]) -> torch.Tensor:
    x, pads = ctx.dev(xs[0]).to(I64), [int(p) for p in node.attr("pads")]
    rank = x.ndim
    if any(p < 0 for p in pads):
        raise ValueError(f"{node.name}: negative pads are not supported in fixed point")
    flat = [p for axis in reversed(range(rank)) for p in (pads[axis], pads[axis + rank])]
    return F.pad(x, flat, value=int(node.attr("x_zero_point", 0)))


# fixed-point op -> torch kernel, from the op table (an op without one runs its golden kernel on the host)
FIXED_TORCH: dict[str, Callable[[Context, Node, list[Value]], torch.Tensor]] = {
    op: k for op, k in kernels("gpu").items() if op in FIXED_OPS}
