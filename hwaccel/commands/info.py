"""``hwaccel info``: layers, shapes, parameters, MACs and placement of a model."""

from __future__ import annotations

import argparse

from ..frontend import load_model
from ..ir.printer import format_graph
from ..summary import format_summary, summarize


def run(args: argparse.Namespace) -> tuple[dict, str]:
    graph = load_model(args.model)
    summary = summarize(graph)
    text = format_summary(summary, args.model)
    if getattr(args, "ir", False):
        text += "\n\n" + format_graph(graph)
    return summary.to_dict(), text
