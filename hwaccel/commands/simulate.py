"""``hwaccel simulate``: the cycle model of a compiled build (latency, interval, total cycles, utilization)."""

from __future__ import annotations

import argparse
import time

from ..build_dir import read_build
from ..perf.model import cycle_model, format_report

__all__ = ["run"]


def run(args: argparse.Namespace) -> tuple[dict, str]:
    df, _ = read_build(args.build)
    start = time.perf_counter()
    report = cycle_model(df, args.batch, args.clock_mhz)
    seconds = time.perf_counter() - start
    result = {"build": str(args.build), **report.to_dict(), "model_seconds": seconds}
    text = f"cycle model of {args.build} ({df.name}, {len(df.stages)} stages)\n" + format_report(report)
    return result, text
