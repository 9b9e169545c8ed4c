"""Lowering rule of the pointwise functions: any function of one quantized input becomes a QLut,
an exact table over every input code (Relu / Clip after a layer fuse into its requant clamp instead,
see :meth:`~.common.Context.quantized_output`)."""

from __future__ import annotations

import numpy as np

from ... import fixedpoint
from ...golden.float_executor import run_node_float
from ...ir.graph import Node, QuantParams
from ...ir.ops import register
from .common import Context, Lowered, fixed_node, single_input

__all__ = ["x_too_wide"]

POINTWISE = ("Relu", "Clip", "LeakyRelu", "Sigmoid", "HardSigmoid", "Tanh")


@register("lower", *POINTWISE)
def _lower_pointwise(ctx: Context, node: Node) -> Lowered:
    """Any pointwise function of one quantized input: an exact table over every input code."""
    io = single_input(ctx, node)
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
