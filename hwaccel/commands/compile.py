"""``hwaccel compile``: a quantized network -> a build directory (manifest, weights, Verilog), through
:func:`hwaccel.api.compile`."""

from __future__ import annotations

import argparse
import sys
from typing import Any, Mapping

from .. import api
from ..api.overlay import OverlayResult, format_overlay
from ..perf.model import format_report

__all__ = ["run"]


def run(args: argparse.Namespace) -> tuple[dict, str]:
    result = api.compile(args.model, args.output, calib=args.calib, dsp=args.dsp, luts=args.luts, multipliers=args.multipliers,
                         target_fps=args.target_fps, clock_mhz=args.clock_mhz, force=args.force,
                         progress=not args.json and sys.stderr.isatty(), weights=args.weights, memory=args.memory,
                         fpga=args.fpga)
    if isinstance(result, OverlayResult):
        return result.to_dict(), (f"compiled {args.model} -> {result.output} (overlay for {result.part}, "
                                  f"{len(result.report.layers)} layers, {len(result.files)} files)\n" + format_overlay(result.report))
    lines = [f"compiled {args.model} -> {result.output} ({len(result.dataflow.stages)} stages, {len(result.files)} files)",
             format_report(result.cycles), _folding(result.dataflow.folding),
             f"host ops: {', '.join(result.host_ops) or 'none'}"]
    if result.memory_map is not None:
        fits = result.memory_map["fits"]
        lines.append(f"{'memories' if fits else 'note'}: {result.memory_map['message']} ({result.memory_map['fpga']})")
    if not result.verilog:
        lines.append("note: top.v not written: the top level (hwaccel.hw.top) is not available yet")
    return result.to_dict(), "\n".join(lines)


def _folding(summary: Mapping[str, Any]) -> str:
    """The folding search's outcome in two lines: what it chose and why it stopped there."""
    if "interval_estimate" not in summary:
        return "folding: not recorded"
    return (f"folding: interval {summary['interval_estimate']:,} cycles with {summary.get('mac_multipliers', '?')} MAC "
            f"multipliers ({summary['multipliers']} DSP blocks); bottleneck {', '.join(summary.get('bottleneck', []))}\n"
            f"  stopped: {summary.get('stopped', 'not recorded')}")
