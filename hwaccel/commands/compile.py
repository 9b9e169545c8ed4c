"""``hwaccel compile``: a quantized network -> a build directory (manifest, weights, Verilog), through
:func:`hwaccel.api.compile`."""

from __future__ import annotations

import argparse

from .. import api
from ..perf.model import format_report

__all__ = ["run"]


def run(args: argparse.Namespace) -> tuple[dict, str]:
    result = api.compile(args.model, args.output, calib=args.calib, dsp=args.dsp, luts=args.luts, multipliers=args.multipliers,
                         target_fps=args.target_fps, clock_mhz=args.clock_mhz, force=args.force)
    lines = [f"compiled {args.model} -> {result.output} ({len(result.dataflow.stages)} stages, {len(result.files)} files)",
             format_report(result.cycles), f"host ops: {', '.join(result.host_ops) or 'none'}"]
    if not result.verilog:
        lines.append("note: top.v not written: the top level (hwaccel.hw.top) is not available yet")
    return result.to_dict(), "\n".join(lines)
