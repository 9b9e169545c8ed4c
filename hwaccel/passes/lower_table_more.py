"""Lowering rules for pooling, element-wise joins, pointwise functions and data movement."""

from __future__ import annotations

import math

import numpy as np

from .. import fixedpoint
from ..ir.graph import Node, QuantParams
from ..golden.fixed_ops.pool import window_counts
from .lower_rules import Codes, Context, QuantOut, fixed_node, same_encoding

__all__ = ["LOWERINGS_MORE"]

Lowered = tuple[list[Node], set[str]] | None


def _single_input(ctx: Context, node: Node) -> tuple[Codes, QuantOut] | None:
    x = ctx.dequantized(node.inputs[0])
    out = ctx.quantized_output(node.outputs[0])
    if x is None or out is None or x.quant.per_channel:
        return None
    return x, out


def _rescale_after(ctx: Context, node: Node, produced: Node, x: QuantParams, out: QuantOut) -> list[Node]:
    """``produced`` writes codes in the input encoding; add a QRequant when the output's differs."""
    if same_encoding(x, out.quant) and (out.lo, out.hi) == (out.quant.qmin, out.quant.qmax):
        ctx.codes_value(out.name, out.name, out.quant)
        return [produced]
    mid = f"{node.name}.codes"
    ctx.codes_value(mid, node.outputs[0], x)
    first = Node(produced.name, produced.op, produced.inputs, (mid,), produced.attrs, produced.domain)
    requant = ctx.requant(float(x.scale[0]) / float(out.quant.scale[0]), out.quant, out.lo, out.hi)
    ctx.codes_value(out.name, out.name, out.quant)
    return [first, fixed_node(f"{node.name}.rescale", "QRequant", (mid,), out.name, x_zero_point=int(x.zero_point[0]), requant=requant)]


def _lower_max_pool(ctx: Context, node: Node) -> Lowered:
    io = _single_input(ctx, node)
    if io is None or (len(node.outputs) > 1 and node.outputs[1] and ctx.consumers.get(node.outputs[1])):
        return None
    x, out = io
    if float(x.quant.scale[0]) <= 0:
        return None
    op = "QMaxPool" if node.op == "MaxPool" else "QGlobalMaxPool"
    attrs = {k: v for k, v in node.attrs.items() if k != "storage_order"}
    if op == "QMaxPool":
        attrs["pads"] = _pool_pads(ctx, node)
    produced = fixed_node(node.name, op, (x.name,), out.name, **attrs)
    return _rescale_after(ctx, node, produced, x.quant, out), set(out.absorbed)


def _pool_pads(ctx: Context, node: Node) -> list[int]:
    from .lower_table import _explicit_pads

    kernel = list(node.attr("kernel_shape"))
    spatial = len(kernel)
    in_shape = ctx.known_shape(node.inputs[0])
    return _explicit_pads(node, in_shape[2:], kernel, node.attr("strides", [1] * spatial), node.attr("dilations", [1] * spatial))


def _lower_average_pool(ctx: Context, node: Node) -> Lowered:
    io = _single_input(ctx, node)
    if io is None:
        return None
    x, out = io
    in_shape = ctx.graph.shape(node.inputs[0])
    if in_shape is None or not all(isinstance(d, int) for d in in_shape[2:]):
        return None
    in_spatial = tuple(int(d) for d in in_shape[2:])
    attrs = {k: v for k, v in node.attrs.items() if k != "auto_pad"}
    if node.op == "GlobalAveragePool":
        counts = [math.prod(in_spatial)]
        op = "QGlobalAveragePool"
    else:
        attrs["pads"] = _pool_pads(ctx, node)
        counts = window_counts(in_spatial, attrs)
        op = "QAveragePool"
    sx, sy = float(x.quant.scale[0]), float(out.quant.scale[0])
    k_max = max(counts)
    acc_bits = fixedpoint.accumulator_bits(x.quant.bits + 1, 1, k_max)
    requants = {int(c): ctx.requant(sx / (sy * c), out.quant, out.lo, out.hi, acc_bits) for c in counts}
    attrs.update(x_zero_point=int(x.quant.zero_point[0]), requants=requants, acc_bits=acc_bits)
    ctx.codes_value(out.name, out.name, out.quant)
    return [fixed_node(node.name, op, (x.name,), out.name, **attrs)], set(out.absorbed)


def _lower_add(ctx: Context, node: Node) -> Lowered:
    a, b = ctx.dequantized(node.inputs[0]), ctx.dequantized(node.inputs[1])
    out = ctx.quantized_output(node.outputs[0])
    if a is None or b is None or out is None or a.quant.per_channel or b.quant.per_channel:
        return None
    sy = float(out.quant.scale[0])
    sign = -1.0 if node.op == "Sub" else 1.0
    reals = np.array([float(a.quant.scale[0]) / sy, sign * float(b.quant.scale[0]) / sy])
    if ctx.options.scheme == "pow2":
        pairs = [fixedpoint.pow2_multiplier(r) for r in reals]
        shift = max(n for _, n in pairs)
        multipliers = [m << (shift - n) for m, n in pairs]
    else:
        m, n = fixedpoint.quantize_multipliers(reals, ctx.mult_bits(out.quant, out.lo, out.hi), common_shift=True)
        multipliers, shift = [int(v) for v in m], int(n[0])
    requant = fixedpoint.Requant(np.array([1], np.int64), np.array([shift], np.int64), int(out.quant.zero_point[0]),
                                 out.lo, out.hi, ctx.options.rounding)
    ctx.codes_value(out.name, out.name, out.quant)
    new = fixed_node(node.name, "QAdd", (a.name, b.name), out.name, multipliers=multipliers,
                 a_zero_point=int(a.quant.zero_point[0]), b_zero_point=int(b.quant.zero_point[0]), requant=requant)
    return [new], set(out.absorbed)


def _lower_mul(ctx: Context, node: Node) -> Lowered:
    a, b = ctx.dequantized(node.inputs[0]), ctx.dequantized(node.inputs[1])
    out = ctx.quantized_output(node.outputs[0])
    if a is None or b is None or out is None or a.quant.per_channel or b.quant.per_channel:
        return None
    real = float(a.quant.scale[0]) * float(b.quant.scale[0]) / float(out.quant.scale[0])
    requant = ctx.requant(real, out.quant, out.lo, out.hi, a.quant.bits + b.quant.bits + 1)
    ctx.codes_value(out.name, out.name, out.quant)
    new = fixed_node(node.name, "QMul", (a.name, b.name), out.name, a_zero_point=int(a.quant.zero_point[0]),
                 b_zero_point=int(b.quant.zero_point[0]), requant=requant)
    return [new], set(out.absorbed)


def _lower_concat(ctx: Context, node: Node) -> Lowered:
    found = [ctx.dequantized(i) for i in node.inputs]
    out = ctx.quantized_output(node.outputs[0])
    ins = [c for c in found if c is not None and not c.quant.per_channel]
    if out is None or len(ins) != len(found):
        return None
    requants = []
    for c in ins:
        same = same_encoding(c.quant, out.quant) and (out.lo, out.hi) == (out.quant.qmin, out.quant.qmax)
        requants.append(None if same else ctx.requant(float(c.quant.scale[0]) / float(out.quant.scale[0]), out.quant, out.lo, out.hi))
    ctx.codes_value(out.name, out.name, out.quant)
    new = fixed_node(node.name, "QConcat", [c.name for c in ins], out.name, axis=int(node.attr("axis")),
                 x_zero_points=[int(c.quant.zero_point[0]) for c in ins], requants=requants)
    return [new], set(out.absorbed)


def _lower_pointwise(ctx: Context, node: Node) -> Lowered:
    """Any pointwise function of one quantized input: an exact table over every input code."""
    from ..golden.float_executor import run_node_float

    io = _single_input(ctx, node)
    if io is None or x_too_wide(io[0].quant):
        return None
    x, out = io
    consts = [ctx.const(i) for i in node.inputs[1:]]
    if any(c is None for c, i in zip(consts, node.inputs[1:]) if i):
        return None

    def function(real: np.ndarray) -> np.ndarray:
        return run_node_float(node, [real.astype(np.float32), *consts])[0]

    table = fixedpoint.build_lut(function, x.quant, out.quant)
    table = np.clip(table, out.lo, out.hi)
    ctx.codes_value(out.name, out.name, out.quant)
    new = fixed_node(node.name, "QLut", (x.name,), out.name, table=table, in_qmin=x.quant.qmin, function=node.op)
    return [new], set(out.absorbed)


def x_too_wide(q: QuantParams) -> bool:
    return q.bits > 16


def _lower_mover(ctx: Context, node: Node) -> Lowered:
    """Reshape/Flatten/Transpose/Squeeze/Unsqueeze/Resize(nearest): move codes, rescale if needed."""
    if node.op in ("Resize", "Upsample") and node.attr("mode", "nearest") != "nearest":
        return None
    io = _single_input(ctx, node)
    if io is None:
        return None
    x, out = io
    moved = Node(node.name, node.op, (x.name, *node.inputs[1:]), (out.name,), node.attrs, node.domain)
    return _rescale_after(ctx, node, moved, x.quant, out), set(out.absorbed)


def _lower_pad(ctx: Context, node: Node) -> Lowered:
    if node.attr("mode", "constant") != "constant":
        return None
    io = _single_input(ctx, node)
    pads = ctx.const(node.inputs[1]) if len(node.inputs) > 1 else None
    value = ctx.const(node.inputs[2]) if len(node.inputs) > 2 and node.inputs[2] else np.zeros(())
    if io is None or pads is None or float(np.asarray(value)) != 0.0:
        return None
    if len(node.inputs) > 3 and node.inputs[3]:
        return None  # explicit axes: rare, left on the host
    x, out = io
    padded = fixed_node(node.name, "QPad", (x.name,), out.name, pads=[int(p) for p in pads], x_zero_point=int(x.quant.zero_point[0]))
    return _rescale_after(ctx, node, padded, x.quant, out), set(out.absorbed)


LOWERINGS_MORE = {
    "MaxPool": _lower_max_pool,
    "GlobalMaxPool": _lower_max_pool,
    "AveragePool": _lower_average_pool,
    "GlobalAveragePool": _lower_average_pool,
    "Add": _lower_add,
    "Sub": _lower_add,
    "Mul": _lower_mul,
    "Concat": _lower_concat,
    **{op: _lower_pointwise for op in ("Relu", "Clip", "LeakyRelu", "Sigmoid", "HardSigmoid", "Tanh")},
    **{op: _lower_mover for op in ("Reshape", "Flatten", "Transpose", "Squeeze", "Unsqueeze", "Resize", "Upsample", "Gather")},
    "Pad": _lower_pad,
}
