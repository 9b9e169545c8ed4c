"""Lowering rules of the pools: (Global)MaxPool -> QMaxPool / QGlobalMaxPool (+ QRequant when the
output encoding differs), (Global)AveragePool -> QAveragePool / QGlobalAveragePool."""

from __future__ import annotations

import math

from ... import fixedpoint
from ...golden.fixed_ops.pool import window_counts
from ...ir.graph import Node
from ...ir.ops import register
from .common import Context, Lowered, explicit_pads, fixed_node, rescale_after, single_input

__all__: list[str] = []


@register("lower", "MaxPool", "GlobalMaxPool")
def _lower_max_pool(ctx: Context, node: Node) -> Lowered:
    io = single_input(ctx, node)
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
    return rescale_after(ctx, node, produced, x.quant, out), set(out.absorbed)


def _pool_pads(ctx: Context, node: Node) -> list[int]:
    kernel = list(node.attr("kernel_shape"))
    spatial = len(kernel)
    in_shape = ctx.known_shape(node.inputs[0])
    return explicit_pads(node, in_shape[2:], kernel, node.attr("strides", [1] * spatial), node.attr("dilations", [1] * spatial))


@register("lower", "AveragePool", "GlobalAveragePool")
def _lower_average_pool(ctx: Context, node: Node) -> Lowered:
    io = single_input(ctx, node)
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
