"""``hwaccel verify``: run a compiled top on inputs and check it against golden and the cycle model
(:func:`hwaccel.sim.verify.verify_build`); prints the report, exit status 1 when they differ."""

from __future__ import annotations

import argparse
import sys

from ..sim.verify import SIMULATORS, verify_build

__all__ = ["SIMULATORS", "run"]


def run(args: argparse.Namespace) -> tuple[dict, str]:
    report = verify_build(args.build, args.input, args.count, args.simulator, args.waves, args.model, args.calib,
                          progress=not args.json and sys.stderr.isatty())
    ok = report["bit_exact"] and report["cycles_match"]
    report["failed"] = not ok
    lines = [f"verified {report['build']} on {report['simulator']}: {report['count']} inputs back to back",
             f"  outputs: {'bit-exact' if report['bit_exact'] else str(report['mismatches']) + ' codes differ'} "
             "against the golden model",
             f"  cycles: {report['cycles_rtl']} measured, {report['cycles_model']} from the cycle model"
             f" ({'equal' if report['cycles_match'] else 'DIFFERENT'})",
             f"  simulation {report['sim_seconds']:.3g} s ({report['images_per_s']:.3g} inputs/s, "
             f"{report['cycles_per_s']:.3g} cycles/s); cycle model {report['model_seconds']:.3g} s"]
    for m in report["first_mismatches"]:
        lines.append(f"  mismatch: input {m['image']} beat {m['beat']} lane {m['lane']}: got {m['got']}, expected {m['want']}")
    return report, "\n".join(lines)
