"""``hwaccel run``: execute a model with the float, golden, cpu, gpu or onnxruntime engine, through
:func:`hwaccel.api.run`."""

from __future__ import annotations

import argparse

from .. import api
from ..files import check_suffix, check_writable

__all__ = ["run"]


def run(args: argparse.Namespace) -> tuple[dict, str]:
    if args.output:  # before any work
        check_suffix(args.output)
        check_writable(args.output, args.force)
    result = api.run(args.model, args.input, args.engine, workers=args.workers, pipeline_stages=args.pipeline_stages,
                     device=args.device, output=args.output, force=args.force)
    report = result.to_dict()
    parallel = f" ({args.pipeline_stages} pipeline stages)" if args.engine == "cpu" and args.pipeline_stages > 1 else ""
    lines = [f"ran {args.model} on the {args.engine} engine{parallel}, batch {result.batch}"]
    for name, value in result.outputs.items():
        entry = report["outputs"][name]
        lines.append(f"  {name}: shape {tuple(value.shape)} {value.dtype}, min {entry['min']:.6g}, max {entry['max']:.6g}")
        if "argmax" in entry:
            more = " ..." if len(entry["argmax"]) > 32 else ""
            lines.append(f"    argmax per row: {entry['argmax'][:32]}{more}")
    if args.output:
        lines.append(f"wrote {args.output}")
    return report, "\n".join(lines)
