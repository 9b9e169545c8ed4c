"""``hwaccel simulate``: the cycle model of a compiled build (latency, interval, total cycles,
utilization), through :func:`hwaccel.api.simulate`."""

from __future__ import annotations

import argparse

from .. import api
from ..api.overlay import OverlayResult, format_overlay
from ..bench.roofline import roofline_png
from ..errors import HwaccelError
from ..files import check_writable
from ..perf.model import format_report

__all__ = ["run"]


def run(args: argparse.Namespace) -> tuple[dict, str]:
    if args.plot:
        check_writable(args.plot, args.force)
    result = api.simulate(args.build, args.batch, args.clock_mhz)
    if isinstance(result, OverlayResult):
        text = f"overlay schedule of {args.build} ({result.model}, {len(result.report.layers)} layers)\n" + format_overlay(result.report)
        if args.plot:
            roofline_png(result.report, args.plot, args.force)
            text += f"\nwrote {args.plot}"
        return result.to_dict(), text
    if args.plot:
        raise HwaccelError(f"{args.build}: --plot draws an overlay build's roofline; this is a streaming build")
    text = f"cycle model of {args.build} ({result.name}, {result.stages} stages)\n" + format_report(result.cycles)
    return result.to_dict(), text
