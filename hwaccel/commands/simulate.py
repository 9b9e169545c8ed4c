"""``hwaccel simulate``: the cycle model of a compiled build (latency, interval, total cycles,
utilization), through :func:`hwaccel.api.simulate`."""

from __future__ import annotations

import argparse

from .. import api
from ..perf.model import format_report

__all__ = ["run"]


def run(args: argparse.Namespace) -> tuple[dict, str]:
    result = api.simulate(args.build, args.batch, args.clock_mhz)
    text = f"cycle model of {args.build} ({result.name}, {result.stages} stages)\n" + format_report(result.cycles)
    return result.to_dict(), text
