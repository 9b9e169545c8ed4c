"""Drop nodes whose outputs nobody reads, then initializers and value records nobody references."""

from __future__ import annotations

from ..ir.graph import Graph

__all__ = ["eliminate_dead"]


def eliminate_dead(graph: Graph) -> Graph:
    live = {t.name for t in graph.outputs}
    kept = []
    for node in reversed(graph.nodes):
        if any(o and o in live for o in node.outputs):
            kept.append(node)
            live.update(i for i in node.inputs if i)
    kept.reverse()
    referenced = live | {t.name for t in graph.inputs} | {o for n in kept for o in n.outputs if o}
    initializers = {k: v for k, v in graph.initializers.items() if k in live}
    values = {k: v for k, v in graph.values.items() if k in referenced}
    if len(kept) == len(graph.nodes) and len(initializers) == len(graph.initializers) and len(values) == len(graph.values):
        return graph
    return graph.replace(nodes=tuple(kept), initializers=initializers, values=values)
