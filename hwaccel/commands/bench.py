"""``hwaccel bench``: a QDQ model on onnxruntime, the hwaccel CPU/GPU engines (measured) and as FPGA/ASIC
(estimated), in one table with units; ``--json`` and ``--plot OUT.png``; through :func:`hwaccel.bench.bench`."""

from __future__ import annotations

import argparse
import sys

from ..bench import bench, format_table
from ..estimate.asic import NODES
from ..files import check_writable

__all__ = ["add_arguments", "run"]


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", help="quantized (QDQ) ONNX model, e.g. from `hwaccel quantize`")
    p.add_argument("--float-model", help="the float ONNX model it was quantized from: adds an onnxruntime float row")
    p.add_argument("--input", "-i", help=".npy/.npz inputs, reused cyclically to --batch (default: random valid inputs)")
    p.add_argument("--batch", type=int, default=1024, help="inputs per timed run (default 1024)")
    p.add_argument("--repeat", type=int, default=5, help="timed runs per engine and batch size; the median is reported (default 5)")
    p.add_argument("--workers", type=int, default=None, help="cpu engine workers (processes) for the all-cores row (default: all cores)")
    p.add_argument("--pipeline-stages", type=int, default=2,
                   help="layer stages of the pipelined cpu row (model parallelism), each stage a process, over "
                        "workers // stages shards (default 2)")
    p.add_argument("--fpga", metavar="DEVICE", help="estimate this FPGA (e.g. ecp5-85k): synthesis + place-and-route, cached")
    p.add_argument("--asic", metavar="NODE", choices=NODES, help=f"estimate an ASIC at this node ({', '.join(NODES)})")
    p.add_argument("--asic-clock-mhz", type=float, default=None, help="ASIC clock (default: the build's compile clock)")
    p.add_argument("--build", help="an existing build of MODEL for the estimates (default: compile one into a temporary directory)")
    p.add_argument("--seed", type=int, default=0, help="seed of the random inputs (default 0)")
    p.add_argument("--plot", metavar="OUT.png", help="write a bar chart of throughput (log scale)")
    p.add_argument("--force", action="store_true", help="overwrite an existing --plot file")


def _progress(message: str) -> None:
    print(f"bench: {message}", file=sys.stderr, flush=True)


def run(args: argparse.Namespace) -> tuple[dict, str]:
    if args.plot:  # before any work
        check_writable(args.plot, args.force)
    result = bench(args.model, float_model=args.float_model, inputs=args.input, batch=args.batch, repeat=args.repeat,
                   workers=args.workers, pipeline_stages=args.pipeline_stages, fpga=args.fpga, asic=args.asic,
                   asic_clock_mhz=args.asic_clock_mhz, build=args.build, seed=args.seed, plot=args.plot, force=args.force,
                   progress=_progress)
    report = result.to_dict()
    lines = [f"bench of {args.model}: batch {args.batch}, median of {args.repeat} runs; inputs: {report['inputs']}",
             format_table(result.rows),
             "measured: wall time on this machine; estimated: cycle model x clock (FPGA: post-route fmax; ASIC: "
             "per-operation energies) -- estimates, not measurements"]
    if result.failed:
        lines.append("FAILED: an engine's outputs differ from the golden model")
    if result.plot:
        lines.append(f"wrote {result.plot}")
    return report, "\n".join(lines)
