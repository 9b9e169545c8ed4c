"""Lower a QDQ / QLinear graph to fixed-point ops (domain ``hwaccel``, see :mod:`hwaccel.ir.qops`).

A float op whose data inputs all come from DequantizeLinear and whose result (possibly through a
Relu/Clip, which fuses into the clamp) feeds exactly one QuantizeLinear becomes one integer op
producing that QuantizeLinear's codes. QLinearConv/QLinearMatMul/ConvInteger/MatMulInteger map
directly. Everything else stays a float op on the host, behind the Q/DQ nodes that remain.
Op knowledge lives in the ``LOWERINGS`` table (one row per op), not in if-chains.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Callable

import numpy as np

from .. import fixedpoint
from ..errors import QuantizationError
from ..ir.graph import Graph, Node, QuantParams, TensorInfo
from ..ir.ops import FIXED_DOMAIN
from .eliminate_dead import eliminate_dead
from . import lower_rules as rules

__all__ = ["lower_qdq", "LowerOptions"]


@dataclass(frozen=True)
class LowerOptions:
    scheme: str = "affine"  # or "pow2"
    rounding: str = "half_even"
    mult_bits: int | None = None  # None: fixedpoint's default for the accumulator width
    bits: dict[str, int] = field(default_factory=dict)  # narrower widths than the container, by value name


def lower_qdq(graph: Graph, options: LowerOptions | None = None) -> Graph:
    """Return ``graph`` with every quantized region replaced by fixed-point ops."""
    ctx = rules.Context(graph, options or LowerOptions())
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
