"""Lower a QDQ / QLinear graph to fixed-point ops (domain ``hwaccel``, see :mod:`hwaccel.ir.qops`).

A float op whose data inputs all come from DequantizeLinear and whose result (possibly through a
Relu/Clip, which fuses into the clamp) feeds exactly one QuantizeLinear becomes one integer op
producing that QuantizeLinear's codes. QLinearConv/QLinearMatMul/ConvInteger/MatMulInteger map
directly. Everything else stays a float op on the host, behind the Q/DQ nodes that remain.
Op knowledge lives in the rules of :mod:`hwaccel.passes.lower` (one module per op family), found
through each node's op table row (its ``lower`` kernel), not in if-chains.
"""

from __future__ import annotations

from ..ir.graph import Graph, Node
from .eliminate_dead import eliminate_dead
from .lower import conv, eltwise, movers, pointwise, pool, recurrent  # noqa: F401  (register the rules)
from .lower.common import Context, LowerOptions

__all__ = ["lower_qdq", "LowerOptions"]


def lower_qdq(graph: Graph, options: LowerOptions | None = None) -> Graph:
    """Return ``graph`` with every quantized region replaced by fixed-point ops."""
    ctx = Context(graph, options or LowerOptions())
    nodes: list[Node] = []
    skip: set[str] = set()
    for node in graph.nodes:
        if node.name in skip:
            continue
        lowered = ctx.lower(node)
        if lowered is None:
            nodes.append(node)
            continue
        new_nodes, absorbed = lowered
        nodes.extend(new_nodes)
        skip.update(absorbed)
    # nodes whose results became constants (QuantizeLinear of a float weight) are gone
    nodes = [n for n in nodes if not all(o in ctx.new_initializers for o in n.outputs if o)]
    for node in nodes:  # codes entering the fixed-point region carry their encoding too
        if node.op == "QuantizeLinear" and node.outputs[0] not in ctx.new_values:
            quant = ctx.quant_params(node.outputs[0], node.inputs[1], node.inputs[2] if len(node.inputs) > 2 else "",
                                     int(node.attr("axis", 1)))
            ctx.codes_value(node.outputs[0], node.outputs[0], quant)
    values = dict(graph.values)
    values.update(ctx.new_values)
    initializers = dict(graph.initializers)
    initializers.update(ctx.new_initializers)
    return eliminate_dead(graph.replace(nodes=tuple(nodes), values=values, initializers=initializers))
