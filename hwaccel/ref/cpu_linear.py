"""Builders of QConv and 2-D QMatMul: float GEMMs, exact by a bound on their partial sums.

A product ``sum_k (x_k - zx) * (w_k - zw)`` of integers is exact in floating point when every partial
sum is: their magnitude is at most ``X * sum_k |w_k - zw|`` with ``X`` the bound of ``|x - zx|``, so
float32 is exact up to ``2**24`` and float64 up to ``2**53`` (wider: the node runs on the golden
int64 kernel).

A small convolution is a dense (Toeplitz) matrix over the whole feature vector, cut into bands of
output rows (or channels, for groups) that each read only the input columns their windows touch:
one BLAS call per band. Row bands leave their outputs row-major (row, channel, column), an order the
next product absorbs into its matrix rows. A convolution whose bands still waste too many
multiply-adds (1x1, large or depthwise ones) multiplies its im2col windows instead. A max pool
reading only a banded convolution's output is fused onto the accumulators: columns with a negative
multiplier are negated (their requant coefficient ``-1`` undoes it), so requantization is
non-decreasing in every column and commutes with the maximum.
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Any

import numpy as np

from ..ir.graph import Node
from .cpu_plan import FLOAT32_EXACT, Built, Context, Flat
from .cpu_requant import FLOAT64_EXACT, FeatureRequant
from .cpu_steps import Band, Conv, Linear, flat_key
from .cpu_windows import Sliding, conv_sliding, pool_members, pool_sliding, toeplitz

__all__ = ["build_conv", "build_matmul", "gemm_dtype", "fits", "output_flat", "MAX_DENSE", "MAX_INFLATION", "BAND_COST"]

MAX_DENSE = 1 << 21  # entries of a dense convolution matrix (8 MiB in float32)
MAX_INFLATION = 12  # banded multiply-adds per useful one beyond which the im2col form is cheaper
MAX_POOL_GROWTH = 1.25  # fused max pool: matrix columns per convolution output
BAND_COST = 1000  # one more band (a BLAS call and a copy), in multiply-adds per row


def gemm_dtype(bound: float) -> np.dtype | None:
    """float32 when every partial sum is an integer of magnitude at most ``2**24``, float64 up to ``2**53``."""
    if bound <= FLOAT32_EXACT:
        return np.dtype(np.float32)
    return np.dtype(np.float64) if bound <= FLOAT64_EXACT else None


def fits(dtype: np.dtype, lo: int, hi: int) -> bool:
    info = np.iinfo(dtype)
    return bool(info.min <= lo and hi <= info.max)


def output_flat(ctx: Context, value: str, requant: Any, shape: tuple[int, ...]) -> Flat | None:
    """The flat form of a requantized output, or None when golden's container would wrap its codes
    or the declared shape disagrees."""
    dtype, offset = ctx.code_dtype(value), ctx.offset(value, requant.zero_point)
    flat = Flat(shape, dtype, offset, requant.lo - offset, requant.hi - offset)
    if not fits(dtype, requant.lo, requant.hi) or ctx.row_shape(value) not in (None, shape) or flat.bound > FLOAT32_EXACT:
        return None
    return flat


def _operands(ctx: Context, node: Node, channels: int) -> tuple[np.ndarray, np.ndarray] | None:
    """``(w_zero_point per channel, bias per channel)`` as int64, or None when not constant."""
    zw = np.broadcast_to(np.asarray(node.attr("w_zero_point", 0), np.int64).reshape(-1), (channels,))
    if len(node.inputs) < 3 or not node.inputs[2]:
        return zw, np.zeros(channels, np.int64)
    bias = ctx.initializer(node.inputs[2])
    return None if bias is None or bias.size != channels else (zw, bias.astype(np.int64).reshape(-1))


def build_conv(ctx: Context, i: int) -> Built | None:
    """A QConv as a banded dense (Toeplitz) :class:`~.cpu_steps.Linear` with a fused max pool when
    that is cheap enough, else as a :class:`~.cpu_steps.Conv`."""
    node = ctx.node(i)
    found, w, requant = ctx.flat_input(node.inputs[0]), ctx.initializer(node.inputs[1]), node.attr("requant")
    if found is None or w is None or requant is None or len(found[1].shape) < 2 or w.ndim != len(found[1].shape) + 1:
        return None
    x = found[1]
    group, (m, cg) = int(node.attr("group", 1)), w.shape[:2]
    operands = _operands(ctx, node, m)
    if operands is None or cg * group != x.shape[0] or m % group or x.offset != int(node.attr("x_zero_point", 0)):
        return None
    zw, bias = operands
    wz = w.astype(np.int64) - zw.reshape((m,) + (1,) * (w.ndim - 1))
    sliding = conv_sliding(node, x.shape[1:], tuple(w.shape[2:]))
    shape, mg = (m,) + sliding.out_spatial, m // group
    if math.prod(x.shape) * math.prod(shape) <= MAX_DENSE:
        rows, cols = cg * math.prod(x.shape[1:]), mg * math.prod(sliding.out_spatial)
        matrix = np.zeros((group * rows, group * cols), np.int64)  # block diagonal over groups
        for g in range(group):
            matrix[g * rows:(g + 1) * rows, g * cols:(g + 1) * cols] = toeplitz(sliding, wz[g * mg:(g + 1) * mg])
        budget = MAX_INFLATION * math.prod(shape) * math.prod(w.shape[1:])
        built = _linear(ctx, i, found, matrix, shape, bias, requant, budget)
        if built is None and x.order is not None:  # bands over C-order inputs may be cheaper (depthwise)
            natural = ctx.flat_input(node.inputs[0], natural=True)
            built = None if natural is None else _linear(ctx, i, natural, matrix, shape, bias, requant, budget)
        if built is not None:
            return built
    return _conv(ctx, node, wz, sliding, bias, requant)


def _conv(ctx: Context, node: Node, wz: np.ndarray, sliding: Sliding, bias: np.ndarray, requant: Any) -> Built | None:
    """A QConv as a :class:`~.cpu_steps.Conv` (``wz``: the zero-point-offset weights)."""
    found = ctx.flat_input(node.inputs[0], natural=True)
    if found is None:
        return None
    key, x = found
    m, cg = wz.shape[:2]
    group = x.shape[0] // cg
    reach = x.bound * np.abs(wz).reshape(m, -1).sum(axis=1).astype(np.float64)  # per output channel
    shape = (m,) + sliding.out_spatial
    gemm, flat = gemm_dtype(float(reach.max())), output_flat(ctx, node.outputs[0], requant, shape)
    if gemm is None or flat is None:
        return None
    channels = np.repeat(np.arange(m), math.prod(sliding.out_spatial))
    rq = FeatureRequant(requant, channels, [1], bias[channels], [reach[channels]], flat.offset)
    if rq.may_overflow(requant.mult_bits):
        return None
    grouped = wz.reshape(group, m // group, cg, -1)  # (groups, mg, cg, taps)
    weights = grouped[..., 0] if sliding.pointwise else grouped.transpose(0, 3, 2, 1).reshape(group, -1, m // group)
    step = Conv(key, flat_key(node.outputs[0]), x.shape, sliding, np.ascontiguousarray(weights.astype(gemm)), rq)
    return Built([step], {flat_key(node.outputs[0]): flat})


def build_matmul(ctx: Context, i: int) -> Built | None:
    """A QMatMul of (rows, K) codes by a constant (K, M) matrix as a :class:`~.cpu_steps.Linear`."""
    node = ctx.node(i)
    found, w, requant = ctx.flat_input(node.inputs[0]), ctx.initializer(node.inputs[1]), node.attr("requant")
    if found is None or w is None or requant is None or w.ndim != 2 or found[1].shape != (w.shape[0],):
        return None
    operands = _operands(ctx, node, w.shape[1])
    if operands is None or found[1].offset != int(node.attr("x_zero_point", 0)):
        return None
    zw, bias = operands
    return _linear(ctx, i, found, w.astype(np.int64) - zw, (w.shape[1],), bias, requant, math.inf)


def _fused_pool(ctx: Context, value: str, shape: tuple[int, ...], requant: Any) -> tuple[int, tuple[int, ...], np.ndarray] | None:
    """A QMaxPool alone reading ``value`` in this stage: (its index, pooled shape, members (taps, outputs))."""
    j = ctx.sole_consumer(value)
    if j is None or ctx.node(j).op != "QMaxPool" or len(shape) < 2:
        return None
    sliding = pool_sliding(ctx.node(j), shape[1:])
    pooled = (shape[0],) + sliding.out_spatial
    columns = math.prod(sliding.kernel) * math.prod(pooled)
    if not sliding.windows()[1].any(axis=1).all() or columns > MAX_POOL_GROWTH * math.prod(shape):
        return None  # a window of padding only, or overlapping windows computing too many columns
    if output_flat(ctx, ctx.node(j).outputs[0], requant, pooled) is None:
        return None
    return j, pooled, pool_members(sliding, shape[0])


def _linear(ctx: Context, i: int, found: tuple[str, Flat], matrix: np.ndarray, shape: tuple[int, ...], bias: np.ndarray,
            requant: Any, max_cost: float) -> Built | None:
    """``requant(x @ matrix + bias)`` (``matrix`` int64: rows the C-order input features, columns the
    (M, *out) outputs in C order) as banded products costing at most ``max_cost`` multiply-adds per
    row, with a max pool reading only the output fused."""
    (key, x), node, m = found, ctx.node(i), shape[0]
    out = node.outputs[0]
    if output_flat(ctx, out, requant, shape) is None:
        return None
    channel = np.repeat(np.arange(m), matrix.shape[1] // m)  # of each column
    members, signs, fused = np.arange(matrix.shape[1])[None], np.ones(matrix.shape[1], np.int64), set()
    pool = _fused_pool(ctx, out, shape, requant)
    if pool is not None:
        j, shape, members = pool
        out, fused = ctx.node(j).outputs[0], {j}
        signs = np.where(np.broadcast_to(requant.multiplier, (m,))[channel] < 0, -1, 1)
        matrix = matrix * signs
    reach = x.bound * np.abs(matrix).sum(axis=0).astype(np.float64)
    gemm = gemm_dtype(float(reach.max(initial=0.0)))
    flat = output_flat(ctx, out, requant, shape)
    if gemm is None or flat is None:
        return None
    if x.order is not None:
        matrix = matrix[x.order]  # rows in the input's column order
    bands, order, cost = _bands(matrix[:, members.reshape(-1)], shape, len(members))
    if cost > max_cost:
        return None
    kept = members[0, order]  # per output column: a member column of its window (same channel and sign)
    rq = FeatureRequant(requant, channel[kept], [signs[kept]], bias[channel[kept]], [reach[members[:, order]].max(axis=0)],
                        flat.offset)
    if rq.may_overflow(requant.mult_bits):
        return None
    natural = bool(np.array_equal(order, np.arange(order.size)))
    step = Linear(key, flat_key(out), tuple(Band(a, b, c.astype(gemm)) for a, b, c in bands), len(members), rq)
    return Built([step], {flat_key(out): replace(flat, order=None if natural else order)}, fused)


def _bands(columns: np.ndarray, shape: tuple[int, ...], blocks: int) -> tuple[list[tuple[int, int, np.ndarray]], np.ndarray, int]:
    """The cheapest cut of the (M, *out) outputs into equal boxes along the channel or first spatial axis.

    ``columns`` (K, blocks * outputs) holds the products of each block side by side. Returns the bands
    ``(first input row, last + 1, their matrix)``, the C-order output of each result column and the
    multiply-adds per row. The results of row bands are row-major, (row, channel, *rest), whatever
    their number, so that equal-shaped outputs of different convolutions share one column order.
    """
    features = math.prod(shape)
    grid, used = np.arange(features).reshape(shape), columns != 0
    best: tuple[list, np.ndarray, int] | None = None
    for axis in range(min(2, len(shape))):
        for count in [c for c in range(1, shape[axis] + 1) if shape[axis] % c == 0]:
            size, bands, order, cost = shape[axis] // count, [], [], 0
            for k in range(count):
                box = grid[(slice(None),) * axis + (slice(k * size, (k + 1) * size),)]
                outputs = (box if axis == 0 else box.swapaxes(0, 1)).reshape(-1)  # row bands: rows, then channels
                cols = (np.arange(blocks)[:, None] * features + outputs).reshape(-1)
                inputs = np.flatnonzero(used[:, cols].any(axis=1))
                a, b = (int(inputs[0]), int(inputs[-1]) + 1) if inputs.size else (0, 0)
                bands.append((a, b, np.ascontiguousarray(columns[a:b, cols])))
                order.append(outputs)
                cost += (b - a) * cols.size + BAND_COST
            if best is None or cost < best[2]:
                best = (bands, np.concatenate(order), cost)
    assert best is not None
    return best
