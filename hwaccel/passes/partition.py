"""Split a fixed-point graph into host ops before, the hardware partition, and host ops after.

The hardware partition is the maximal run of nodes from the QuantizeLinear of the graph input
to the last fixed-point op: fixed-point ops (domain ``hwaccel``) and the data movement between
them. Nodes before it (the QuantizeLinear and float ops on the input) and after it (e.g.
DequantizeLinear, Softmax) run on the host. A fixed-point op after a host op, or one placed on the
host by its op table row (:attr:`hwaccel.ir.ops.OpRow.where`, the placement ``hwaccel info``
prints), is a :class:`~hwaccel.errors.CompileError` naming the op and the row's reason.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import CompileError
from ..ir.graph import Graph, Node
from ..ir.ops import FIXED_DOMAIN, placement_of, row_of

__all__ = ["Partition", "partition", "is_hardware"]


@dataclass(frozen=True)
class Partition:
    """``pre`` (host, ends with the QuantizeLinear), ``hardware`` and ``post`` (host) nodes."""

    pre: tuple[Node, ...]
    hardware: tuple[Node, ...]
    post: tuple[Node, ...]
    input_value: str  # codes entering the hardware (output of the QuantizeLinear)
    output_value: str  # codes leaving the hardware


def is_hardware(node: Node, graph: Graph) -> bool:
    if node.domain == FIXED_DOMAIN:
        return True
    row = row_of(node)
    if row is not None and row.moves_codes and row.where.on_chip and node.domain in ("", "ai.onnx"):
        info = graph.values.get(node.inputs[0])
        return info is not None and info.quant is not None
    return False


def partition(graph: Graph) -> Partition:
    """Find the hardware partition of ``graph`` (see the module docstring)."""
    if len(graph.inputs) != 1:
        raise CompileError(f"{graph.name}: a compiled network must have one input, not {len(graph.inputs)}")
    source = graph.inputs[0].name
    quant = [n for n in graph.nodes if n.op == "QuantizeLinear"]
    if not quant:
        raise CompileError(f"{graph.name}: the graph has no QuantizeLinear: it must be a quantized (fixed-point) graph")
    for node in graph.nodes:
        where = placement_of(node)
        if node.domain == FIXED_DOMAIN and not where.on_chip:
            raise CompileError(f"{graph.name}: node {node.name!r} ({node.op}) cannot be compiled: {where.reason}")
    nodes = list(graph.nodes)
    start = nodes.index(quant[0])
    hw_end = max((i for i, n in enumerate(nodes) if n.domain == FIXED_DOMAIN), default=-1)
    if hw_end < start:
        raise CompileError(f"{graph.name}: no fixed-point op follows the input QuantizeLinear; nothing to put in hardware")
    # code movers right after the last fixed-point op, on its codes, stay in hardware (free in a stream)
    while hw_end + 1 < len(nodes) and is_hardware(nodes[hw_end + 1], graph) and nodes[hw_end + 1].inputs[0] in nodes[hw_end].outputs:
        hw_end += 1
    pre, hardware, post = nodes[: start + 1], nodes[start + 1: hw_end + 1], nodes[hw_end + 1:]
    for node in hardware:
        if not is_hardware(node, graph):
            raise CompileError(f"{graph.name}: node {node.name!r} ({node.op}) runs on the host but lies between hardware "
                               "layers; only a prefix and a suffix of the network can run on the host")
    for node in pre[:-1]:
        if node.domain == FIXED_DOMAIN:
            raise CompileError(f"{graph.name}: node {node.name!r} ({node.op}) comes before the input QuantizeLinear")
    if quant[0].inputs[0] != source and not any(source in n.inputs for n in pre):
        raise CompileError(f"{graph.name}: the QuantizeLinear {quant[0].name!r} must quantize the graph input {source!r}")
    produced = {o for n in hardware for o in n.outputs} | {quant[0].outputs[0]}
    leaving = [v for n in post for v in n.inputs if v in produced] + [t.name for t in graph.outputs if t.name in produced]
    if len(set(leaving)) != 1:
        raise CompileError(f"{graph.name}: the hardware partition must have one output stream, not {sorted(set(leaving))}")
    return Partition(tuple(pre), tuple(hardware), tuple(post), quant[0].outputs[0], leaving[0])
