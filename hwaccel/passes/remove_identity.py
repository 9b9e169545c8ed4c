"""Remove Identity and inference-mode Dropout nodes by rewiring their consumers."""

from __future__ import annotations

from dataclasses import replace

from ..ir.graph import Graph

__all__ = ["remove_identity"]

_PASS_THROUGH = frozenset({"Identity", "Dropout"})


def remove_identity(graph: Graph) -> Graph:
    graph_outputs = {t.name for t in graph.outputs}
    used = {name for node in graph.nodes for name in node.inputs}
    rename: dict[str, str] = {}
    kept = []
    for node in graph.nodes:
        removable = (
            node.op in _PASS_THROUGH
            and node.outputs[0] not in graph_outputs
            and not (node.op == "Dropout" and len(node.outputs) > 1 and node.outputs[1] in used)
            and not (node.op == "Dropout" and len(node.inputs) > 2 and node.inputs[2])  # training_mode input
        )
        if removable:
            source = node.inputs[0]
            rename[node.outputs[0]] = rename.get(source, source)
            continue
        kept.append(node)
    if not rename:
        return graph
    nodes = tuple(replace(n, inputs=tuple(rename.get(i, i) for i in n.inputs)) for n in kept)
    values = {k: v for k, v in graph.values.items() if k not in rename}
    return graph.replace(nodes=nodes, values=values)
