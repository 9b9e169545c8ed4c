"""Builders: one fixed-point or data-movement node to flat-form steps, or None (then it runs on golden).

Every builder checks the conditions under which its steps equal the golden kernel bit for bit:
static shapes, per-tensor encodings where the step needs them, containers wide enough that
golden's cast never wraps, float exactness bounds, and no possible int64 overflow error in golden.
"""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np

from ..fixedpoint import Requant
from ..golden.fixed_ops.pool import window_count_map
from ..ir.graph import Node
from ..ir.ops import kernels, register
from .cpu_linear import build_conv, build_matmul, fits, output_flat
from .cpu_plan import FLOAT32_EXACT, Builder, Built, Context, Flat
from .cpu_requant import FeatureRequant
from .cpu_steps import Alias, Combine, Dequantize, Golden, Lut, Pool, Quantize, flat_key
from .cpu_windows import pool_sliding

__all__ = ["BUILDERS"]


@register("cpu", "QuantizeLinear")
def _quantize(ctx: Context, i: int) -> Built | None:
    """Per-tensor QuantizeLinear with constant, valid parameters (else golden runs it and raises its errors)."""
    node = ctx.node(i)
    scale, zero = ctx.initializer(node.inputs[1]), ctx.initializer(node.inputs[2]) if len(node.inputs) > 2 else None
    shape, out = ctx.row_shape(node.inputs[0]), node.outputs[0]
    if scale is None or zero is None or shape is None or scale.size != 1 or zero.size != 1 or zero.dtype.kind not in "iu":
        return None
    info, declared = np.iinfo(zero.dtype), ctx.graph.values.get(out)
    qmin, qmax = int(info.min), int(info.max)
    if declared is not None and declared.quant is not None:  # codes narrower than their container, as golden
        qmin, qmax = max(qmin, declared.quant.qmin), min(qmax, declared.quant.qmax)
    z = int(zero.reshape(-1)[0])
    if scale.dtype.kind != "f" or not (np.isfinite(scale).all() and (scale > 0).all() and qmin <= z <= qmax):
        return None
    step = Quantize(node.inputs[0], flat_key(out), shape, np.asarray(scale).reshape(()), qmin - z, qmax - z,
                    Golden(node, ctx.graph))
    return Built([step], {flat_key(out): Flat(shape, zero.dtype, z, qmin - z, qmax - z)})


@register("cpu", "DequantizeLinear")
def _dequantize(ctx: Context, i: int) -> Built | None:
    """Per-tensor DequantizeLinear of flat codes, with a float scale (else golden runs it)."""
    node = ctx.node(i)
    found, scale = ctx.flat_input(node.inputs[0]), ctx.initializer(node.inputs[1])
    zero = ctx.initializer(node.inputs[2]) if len(node.inputs) > 2 and node.inputs[2] else np.zeros(1, np.int64)
    if found is None or scale is None or zero is None or scale.size != 1 or zero.size != 1 or scale.dtype.kind != "f":
        return None
    (key, x), out = found, node.outputs[0]
    step = Dequantize(key, out, x.shape, x.offset - int(zero.reshape(-1)[0]), float(scale.reshape(-1)[0]), scale.dtype,
                      x.columns)
    return Built([step], {}, golden=(out,))


def _spatial_input(ctx: Context, node: Node) -> tuple[str, Flat] | None:
    """The C-order flat form of a (C, *spatial) input."""
    found = ctx.flat_input(node.inputs[0], natural=True)
    return found if found is not None and len(found[1].shape) >= 2 else None


@register("cpu", "QMaxPool")
def _max_pool(ctx: Context, i: int, global_pool: bool = False) -> Built | None:
    node, out = ctx.node(i), ctx.node(i).outputs[0]
    found = _spatial_input(ctx, node)
    if found is None or not fits(ctx.code_dtype(out), found[1].lo + found[1].offset, found[1].hi + found[1].offset):
        return None  # golden's container would wrap the codes
    key, x = found
    sliding = None if global_pool else pool_sliding(node, x.shape[1:])
    shape = (x.shape[0],) + ((1,) * (len(x.shape) - 1) if sliding is None else sliding.out_spatial)
    if ctx.row_shape(out) not in (None, shape) or (sliding is not None and not sliding.windows()[1].any(axis=1).all()):
        return None  # a window of padding only
    step = Pool(key, flat_key(out), "max", x.shape, sliding, None)
    return Built([step], {flat_key(out): Flat(shape, ctx.code_dtype(out), x.offset, x.lo, x.hi)})


@register("cpu", "QAveragePool")
def _average_pool(ctx: Context, i: int) -> Built | None:
    """``requants[count](sum of the window)``: one multiplier per output position (its window size)."""
    node, requants = ctx.node(i), ctx.node(i).attr("requants") or {}
    found = _spatial_input(ctx, node)
    if found is None or found[1].offset != int(node.attr("x_zero_point", 0)):
        return None
    key, x = found
    sliding = pool_sliding(node, x.shape[1:])
    counts = window_count_map(x.shape[1:], node.attrs).reshape(-1).tolist()
    if any(int(c) not in requants for c in counts):
        return None
    used: list[Requant] = [requants[int(c)] for c in counts]  # per output position
    first = used[0]
    encoding = (first.zero_point, first.lo, first.hi, first.rounding)
    if any(r.multiplier.size != 1 or (r.zero_point, r.lo, r.hi, r.rounding) != encoding for r in used):
        return None
    shape, taps = (x.shape[0],) + sliding.out_spatial, math.prod(sliding.kernel)
    flat = output_flat(ctx, node.outputs[0], first, shape)
    if flat is None or x.bound * taps > FLOAT32_EXACT:
        return None
    m0 = np.tile([r.multiplier[0] for r in used], x.shape[0])  # per C-order output feature
    n = np.tile([r.shift[0] for r in used], x.shape[0])
    rq = FeatureRequant(first, np.zeros(len(m0), np.int64), [1], 0, [x.bound * taps], flat.offset, m0, n)
    if rq.may_overflow(max(r.mult_bits for r in used)):
        return None
    step = Pool(key, flat_key(node.outputs[0]), "sum", x.shape, sliding, rq)
    return Built([step], {flat_key(node.outputs[0]): flat})


@register("cpu", "QGlobalAveragePool")
def _global_average_pool(ctx: Context, i: int) -> Built | None:
    node = ctx.node(i)
    found = _spatial_input(ctx, node)
    if found is None or found[1].offset != int(node.attr("x_zero_point", 0)):
        return None
    key, x = found
    count, channels = math.prod(x.shape[1:]), x.shape[0]
    requant = (node.attr("requants") or {}).get(count)
    shape = (channels,) + (1,) * (len(x.shape) - 1)
    if requant is None or requant.multiplier.size not in (1, channels) or x.bound * count > FLOAT32_EXACT:
        return None
    flat = output_flat(ctx, node.outputs[0], requant, shape)
    if flat is None:
        return None
    rq = FeatureRequant(requant, np.arange(channels), [1], 0, [x.bound * count], flat.offset)
    if rq.may_overflow(requant.mult_bits):
        return None
    step = Pool(key, flat_key(node.outputs[0]), "sum", x.shape, None, rq)
    return Built([step], {flat_key(node.outputs[0]): flat})


@register("cpu", "QAdd")
def _add(ctx: Context, i: int) -> Built | None:
    """QAdd: ``requant((a - za) * Ma + (b - zb) * Mb)`` on same-shaped inputs, per-tensor requant."""
    node, requant = ctx.node(i), ctx.node(i).attr("requant")
    found_a, found_b = ctx.flat_input(node.inputs[0]), ctx.flat_input(node.inputs[1])
    if found_a is not None and found_b is not None and not found_a[1].same_order(found_b[1]):
        found_a, found_b = ctx.flat_input(node.inputs[0], natural=True), ctx.flat_input(node.inputs[1], natural=True)
    if found_a is None or found_b is None or requant is None or requant.multiplier.size != 1:
        return None
    (ka, a), (kb, b) = found_a, found_b
    if a.shape != b.shape:
        return None
    ma, mb = (int(m) for m in node.attr("multipliers"))
    za, zb = int(node.attr("a_zero_point", 0)), int(node.attr("b_zero_point", 0))
    flat = output_flat(ctx, node.outputs[0], requant, a.shape)
    if flat is None:
        return None
    bias = (a.offset - za) * ma + (b.offset - zb) * mb
    rq = FeatureRequant(requant, np.zeros(math.prod(a.shape), np.int64), [ma, mb], bias, [a.bound, b.bound], flat.offset)
    if rq.may_overflow(requant.mult_bits):
        return None
    step = Combine((ka, kb), flat_key(node.outputs[0]), rq)
    return Built([step], {flat_key(node.outputs[0]): replace(flat, order=a.order)})


@register("cpu", "QLut")
def _lut(ctx: Context, i: int) -> Built | None:
    node, out = ctx.node(i), ctx.node(i).outputs[0]
    found, table = ctx.flat_input(node.inputs[0]), np.asarray(node.attr("table"), np.int64)
    if found is None or table.size == 0 or ctx.row_shape(out) not in (None, found[1].shape):
        return None
    (key, x), dtype, offset = found, ctx.code_dtype(out), ctx.offset(out)
    flat = Flat(x.shape, dtype, offset, int(table.min()) - offset, int(table.max()) - offset, x.order)
    if not fits(dtype, int(table.min()), int(table.max())) or flat.bound > FLOAT32_EXACT:
        return None
    step = Lut(key, flat_key(out), (table - offset).astype(np.float32), x.offset - int(node.attr("in_qmin")))
    return Built([step], {flat_key(out): flat})


@register("cpu", "Flatten", "Reshape", "Identity", "Squeeze", "Unsqueeze")
def _alias(ctx: Context, i: int) -> Built | None:
    """Flatten / Reshape / Identity / (Un)squeeze keeping the first axis: the flat array is unchanged."""
    node = ctx.node(i)
    found, shape = ctx.flat_input(node.inputs[0]), ctx.row_shape(node.outputs[0])
    if found is None or shape is None or not ctx.same_rows(node.inputs[0], node.outputs[0]):
        return None
    key, x = found
    if math.prod(shape) != math.prod(x.shape):
        return None
    return Built([Alias(key, flat_key(node.outputs[0]))], {flat_key(node.outputs[0]): replace(x, shape=shape)})


@register("cpu", "QGlobalMaxPool")
def _global_max_pool(ctx: Context, i: int) -> Built | None:
    return _max_pool(ctx, i, global_pool=True)


register("cpu", "QConv")(build_conv)
register("cpu", "QMatMul")(build_matmul)

BUILDERS: dict[str, Builder] = kernels("cpu")  # op -> builder, from the op table (an op without one runs golden)
