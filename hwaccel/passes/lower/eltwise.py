"""Lowering rules of the element-wise joins: Add / Sub / two-input Sum -> QAdd, Mul -> QMul, Concat -> QConcat."""

from __future__ import annotations

import numpy as np

from ... import fixedpoint
from ...ir.graph import Node
from ...ir.ops import register
from .common import Context, Lowered, fixed_node, same_encoding

__all__: list[str] = []


@register("lower", "Add", "Sub", "Sum")
def _lower_add(ctx: Context, node: Node) -> Lowered:
    if len([i for i in node.inputs if i]) != 2:
        return None  # a Sum of other arity (the import expands every Sum into Adds first)
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


@register("lower", "Mul")
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


@register("lower", "Concat")
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
