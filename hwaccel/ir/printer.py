"""Human-readable listing of an IR graph (one line per node)."""

from __future__ import annotations

from .graph import Graph, TensorInfo

__all__ = ["format_shape", "format_graph"]


def format_shape(shape) -> str:
    if shape is None:
        return "?"
    return "(" + ", ".join(str(d) for d in shape) + ")"


def _describe(info: TensorInfo | None, name: str) -> str:
    if info is None:
        return name
    q = ""
    if info.quant is not None:
        q = f" q{'s' if info.quant.signed else 'u'}{info.quant.bits}"
    return f"{name}{format_shape(info.shape)} {info.dtype}{q}"


def format_graph(graph: Graph) -> str:
    lines = [f"graph {graph.name} (opset {graph.opset})"]
    for t in graph.inputs:
        lines.append(f"  input  {_describe(t, t.name)}")
    for node in graph.nodes:
        ins = ", ".join(i if i in graph.initializers else _describe(graph.values.get(i), i) for i in node.inputs if i)
        outs = ", ".join(_describe(graph.values.get(o), o) for o in node.outputs if o)
        lines.append(f"  {node.name}: {node.op}({ins}) -> {outs}")
    for t in graph.outputs:
        lines.append(f"  output {_describe(t, t.name)}")
    return "\n".join(lines)
