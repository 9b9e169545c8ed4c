"""``hwaccel info``: layers, shapes, parameters, MACs and placement of a model."""

from __future__ import annotations

import argparse

from ..frontend import load_model
from ..ir.printer import format_graph
from ..errors import HwaccelError
from ..summary import format_op_table, format_summary, op_table, summarize


def run(args: argparse.Namespace) -> tuple[dict, str]:
    if getattr(args, "ops", False):
        rows = op_table()
        return {"ops": rows}, format_op_table(rows, markdown=getattr(args, "markdown", False))
    if not args.model:
        raise HwaccelError("info needs a MODEL (an ONNX file), or --ops for the op table")
    graph = load_model(args.model)
    summary = summarize(graph)
    text = format_summary(summary, args.model)
    if getattr(args, "ir", False):
        text += "\n\n" + format_graph(graph)
    return summary.to_dict(), text
