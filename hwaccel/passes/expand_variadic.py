"""Variadic element-wise ops as chains of binary ones: ``Sum(a, b, c)`` -> ``Add(Add(a, b), c)``.

ONNX ``Sum`` (ResNet-50 and ShuffleNet of the ONNX model zoo join their residuals with it) adds left
to right like the chain, so the float result is the same; the quantizer, the lowering and the
hardware then see only ``Add`` (one EltwiseAdd stage per pair). A one-input ``Sum`` is an Identity.
"""

from __future__ import annotations

from ..ir.graph import Dim, Graph, Node, TensorInfo

__all__ = ["expand_variadic"]

BINARY = {"Sum": "Add"}


def _broadcast(a: tuple[Dim, ...] | None, b: tuple[Dim, ...] | None) -> tuple[Dim, ...] | None:
    """The multidirectional broadcast of two shapes (symbolic dims kept where the other is 1)."""
    if a is None or b is None:
        return None
    rank = max(len(a), len(b))
    a, b = (1,) * (rank - len(a)) + tuple(a), (1,) * (rank - len(b)) + tuple(b)
    return tuple(y if x == 1 else x for x, y in zip(a, b))


def expand_variadic(graph: Graph) -> Graph:
    nodes: list[Node] = []
    values = dict(graph.values)
    changed = False
    for node in graph.nodes:
        if node.op not in BINARY or node.domain not in ("", "ai.onnx"):
            nodes.append(node)
            continue
        changed = True
        inputs = [i for i in node.inputs if i]
        if len(inputs) == 1:
            nodes.append(Node(node.name, "Identity", (inputs[0],), node.outputs))
            continue
        acc = inputs[0]
        for k, x in enumerate(inputs[1:], 1):
            last = k == len(inputs) - 1
            out = node.outputs[0] if last else f"{node.name}.partial{k}"
            nodes.append(Node(node.name if last else f"{node.name}.{k}", BINARY[node.op], (acc, x), (out,)))
            if not last:
                shape = _broadcast(*(values[v].shape if v in values else None for v in (acc, x)))
                values[out] = TensorInfo(out, shape, values[node.outputs[0]].dtype if node.outputs[0] in values else "float32")
            acc = out
    return graph.replace(nodes=tuple(nodes), values=values) if changed else graph
