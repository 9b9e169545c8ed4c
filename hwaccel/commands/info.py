"""``hwaccel info``: layers, shapes, parameters, MACs and placement of a model."""

from __future__ import annotations

import argparse

from ..frontend import load_model
from ..summary import format_summary, summarize


def run(args: argparse.Namespace) -> tuple[dict, str]:
    summary = summarize(load_model(args.model))
    return summary.to_dict(), format_summary(summary, args.model)
