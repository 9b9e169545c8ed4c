"""Per-layer summary of a graph: op, shapes, parameters, MACs and where each op runs.

Where a layer runs comes from its op table row (:func:`hwaccel.ir.ops.placement_of`), the same
row the compiler's partition reads, so ``hwaccel info`` and ``hwaccel compile`` agree.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

from .ir.graph import Graph
from .ir.graph import Node
from .ir.ops import FIXED_DOMAIN, ROWS, macs_of, placement_of, row_of
from .ir.printer import format_shape

__all__ = ["LayerSummary", "ModelSummary", "summarize", "placement", "op_table", "format_op_table"]


@dataclass(frozen=True)
class LayerSummary:
    name: str
    op: str
    inputs: list[str]
    output_shape: list[int | str] | None
    params: int
    macs: int
    placement: str  # "hardware", "host" or "stream" (data movement that costs nothing in a stream)
    reason: str = ""  # host: why it has no hardware unit; hardware: the unit; stream: how it is free


@dataclass(frozen=True)
class ModelSummary:
    name: str
    opset: int
    inputs: list[dict]
    outputs: list[dict]
    layers: list[LayerSummary]
    converted_from: int | None = None  # the file's opset, when the import converted it

    @property
    def total_params(self) -> int:
        return sum(layer.params for layer in self.layers)

    @property
    def total_macs(self) -> int:
        return sum(layer.macs for layer in self.layers)

    def to_dict(self) -> dict:
        host = sorted({layer.op for layer in self.layers if layer.placement == "host"})
        return {
            "name": self.name,
            "opset": self.opset,
            "converted_from_opset": self.converted_from,
            "inputs": self.inputs,
            "outputs": self.outputs,
            "layers": [asdict(layer) for layer in self.layers],
            "totals": {
                "params": self.total_params,
                "macs": self.total_macs,
                "layers": len(self.layers),
                "hardware_layers": sum(layer.placement == "hardware" for layer in self.layers),
                "host_ops": host,
            },
        }


def placement(node: Node) -> str:
    """``hardware``, ``stream`` or ``host``: the placement of ``node``'s op table row."""
    return placement_of(node).where


def summarize(graph: Graph) -> ModelSummary:
    layers = []
    for node in graph.nodes:
        row = row_of(node)
        where = placement_of(node)
        counts_params = row is not None and row.family not in ("movers", "shape", "quant")
        params = sum(math.prod(graph.initializers[i].shape) for i in node.inputs if i in graph.initializers) if counts_params else 0
        shape = graph.shape(node.outputs[0]) if node.outputs else None
        layers.append(
            LayerSummary(
                name=node.name,
                op=node.op,
                inputs=[i for i in node.inputs if i and i not in graph.initializers],
                output_shape=None if shape is None else list(shape),
                params=int(params),
                macs=macs_of(node, graph),
                placement=where.where,
                reason=where.unit if where.where == "hardware" else where.reason,
            )
        )
    return ModelSummary(
        name=graph.name,
        opset=graph.opset,
        inputs=[{"name": t.name, "shape": list(t.shape or []), "dtype": t.dtype} for t in graph.inputs],
        outputs=[{"name": t.name, "shape": list(t.shape or []), "dtype": t.dtype} for t in graph.outputs],
        layers=layers,
        converted_from=graph.converted_from,
    )


def format_summary(summary: ModelSummary, source: str) -> str:
    rows = [("#", "layer", "op", "output", "params", "MACs", "runs on", "why (host)")]
    for i, layer in enumerate(summary.layers):
        why = layer.reason if layer.placement == "host" else ""
        rows.append((str(i), layer.name, layer.op, format_shape(layer.output_shape), f"{layer.params:,}", f"{layer.macs:,}",
                     layer.placement, why))
    widths = [max(len(r[c]) for r in rows) for c in range(len(rows[0]))]
    right = {0, 4, 5}
    converted = f" (converted from opset {summary.converted_from} on import)" if summary.converted_from else ""
    lines = [f"model {source}: graph {summary.name!r}, opset {summary.opset}{converted}"]
    for t in summary.inputs:
        lines.append(f"  input  {t['name']} {format_shape(t['shape'])} {t['dtype']}")
    for t in summary.outputs:
        lines.append(f"  output {t['name']} {format_shape(t['shape'])} {t['dtype']}")
    for r in rows:
        cells = (v.rjust(w) if c in right else v.ljust(w) for c, (v, w) in enumerate(zip(r, widths)))
        lines.append("  " + "  ".join(cells).rstrip())
    d = summary.to_dict()["totals"]
    host = ", ".join(d["host_ops"]) or "none"
    lines.append(
        f"total: {d['params']:,} parameters, {d['macs']:,} MACs per inference, "
        f"{d['hardware_layers']} hardware layers, host-only ops: {host}"
    )
    return "\n".join(lines)


def op_table() -> list[dict]:
    """Every row of the op table: op, domain, family, what it lowers to, and where it runs (the
    placement ``info`` and ``compile`` read, with the unit or the reason)."""
    rows = []
    for row in ROWS.values():
        where = row.where
        rows.append({"op": row.op, "domain": row.domain or "ai.onnx", "family": row.family,
                     "lowers_to": list(row.lowers_to), "placement": where.where,
                     "detail": where.unit if where.where == "hardware" else where.reason})
    return rows


def format_op_table(rows: list[dict], markdown: bool = False) -> str:
    """The op table as aligned text, or as a Markdown table (the README's is this output)."""
    head = ("op", "domain", "runs on", "unit / reason")
    body = [(r["op"] + (f" -> {', '.join(r['lowers_to'])}" if r["lowers_to"] else ""),
             "hwaccel" if r["domain"] == FIXED_DOMAIN else r["domain"], r["placement"], r["detail"]) for r in rows]
    if markdown:
        return "\n".join(["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
                         + ["| " + " | ".join(cells) + " |" for cells in body])
    widths = [max(len(row[i]) for row in [head, *body]) for i in range(3)]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(row[:3], widths)) + "  " + row[3] for row in [head, *body])
