"""Lowering rules of data movement: Reshape, Flatten, Transpose, (Un)squeeze, Resize / Upsample
(nearest) and Gather keep their op and move codes (+ QRequant when the output encoding differs);
Pad in constant mode with a zero pad value -> QPad."""

from __future__ import annotations

import numpy as np

from ...ir.graph import Node
from ...ir.ops import register
from .common import Context, Lowered, fixed_node, rescale_after, single_input

__all__: list[str] = []

MOVERS = ("Reshape", "Flatten", "Transpose", "Squeeze", "Unsqueeze", "Resize", "Upsample", "Gather")


@register("lower", *MOVERS)
def _lower_mover(ctx: Context, node: Node) -> Lowered:
    """Reshape/Flatten/Transpose/Squeeze/Unsqueeze/Resize(nearest): move codes, rescale if needed."""
    if node.op in ("Resize", "Upsample") and node.attr("mode", "nearest") != "nearest":
        return None
    io = single_input(ctx, node)
    if io is None:
        return None
    x, out = io
    moved = Node(node.name, node.op, (x.name, *node.inputs[1:]), (out.name,), node.attrs, node.domain)
    return rescale_after(ctx, node, moved, x.quant, out), set(out.absorbed)


@register("lower", "Pad")
def _lower_pad(ctx: Context, node: Node) -> Lowered:
    if node.attr("mode", "constant") != "constant":
        return None
    io = single_input(ctx, node)
    pads = ctx.const(node.inputs[1]) if len(node.inputs) > 1 else None
    value = ctx.const(node.inputs[2]) if len(node.inputs) > 2 and node.inputs[2] else np.zeros(())
    if io is None or pads is None or float(np.asarray(value)) != 0.0:
        return None
    if len(node.inputs) > 3 and node.inputs[3]:
        return None  # explicit axes: rare, left on the host
    x, out = io
    padded = fixed_node(node.name, "QPad", (x.name,), out.name, pads=[int(p) for p in pads], x_zero_point=int(x.quant.zero_point[0]))
    return rescale_after(ctx, node, padded, x.quant, out), set(out.absorbed)
