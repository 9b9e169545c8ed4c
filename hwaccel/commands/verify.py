"""``hwaccel verify``: run a compiled top on inputs and check it against golden and the cycle model
(:func:`hwaccel.api.verify`); prints the report, exit status 1 when they differ."""

from __future__ import annotations

import argparse
import sys

from .. import api
from ..sim.verify import SIMULATORS

__all__ = ["SIMULATORS", "run"]


def run(args: argparse.Namespace) -> tuple[dict, str]:
    result = api.verify(args.build, args.input, args.count, args.simulator, waves=args.waves, model=args.model,
                        calib=args.calib, progress=not args.json and sys.stderr.isatty(), force=args.force,
                        timeout=args.timeout)
    report = result.to_dict()
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
