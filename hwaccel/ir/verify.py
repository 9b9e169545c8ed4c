"""Structural checks of an IR graph, run between passes in tests.

Checks: every node input is defined before use (topological order), no value is written twice,
graph outputs are produced, no dangling references, initializer shapes agree with the recorded
value info, and every op is in the op table.
"""

from __future__ import annotations

from ..errors import ModelError
from .graph import Graph
from .ops import spec_of

__all__ = ["verify_graph"]


def verify_graph(graph: Graph, where: str = "graph") -> None:
    """Raise :class:`ModelError` describing the first inconsistency found in ``graph``."""
    defined = {t.name for t in graph.inputs} | set(graph.initializers)
    overlap = {t.name for t in graph.inputs} & set(graph.initializers)
    if overlap:
        raise ModelError(f"{where}: values are both graph inputs and initializers: {sorted(overlap)}")
    names: set[str] = set()
    for node in graph.nodes:
        if node.name in names:
            raise ModelError(f"{where}: node name {node.name!r} is used twice")
        names.add(node.name)
        if spec_of(node) is None:
            raise ModelError(f"{where}: node {node.name!r} has op {node.domain or 'ai.onnx'}.{node.op}, which is not in the op table")
        for value in node.inputs:
            if value and value not in defined:
                raise ModelError(f"{where}: node {node.name!r} reads {value!r} before it is defined (or it never is)")
        for value in node.outputs:
            if not value:
                continue
            if value in defined:
                raise ModelError(f"{where}: value {value!r} is written twice (by node {node.name!r})")
            defined.add(value)
    for out in graph.outputs:
        if out.name not in defined:
            raise ModelError(f"{where}: graph output {out.name!r} is never produced")
    for name, array in graph.initializers.items():
        info = graph.values.get(name)
        if info is not None and info.shape is not None and tuple(info.shape) != tuple(array.shape):
            raise ModelError(
                f"{where}: initializer {name!r} has shape {tuple(array.shape)} but its value info says {info.shape}"
            )
    dangling = set(graph.values) - defined
    if dangling:
        raise ModelError(f"{where}: value info for values nothing defines: {sorted(dangling)[:5]}")
