"""``hwaccel compile``: a quantized network -> a build directory (manifest, weights, Verilog)."""

from __future__ import annotations

import argparse
import hashlib
import re
from pathlib import Path

from ..build_dir import write_build
from ..errors import CompileError, HwaccelError, QuantizationError
from ..files import load_inputs
from ..frontend import load_model
from ..frontend.qdq import is_quantized, load_quantized, lower_model
from ..ir.dataflow import Dataflow
from ..ir.graph import Graph
from ..passes.fold_lanes import FoldTarget
from ..passes.to_dataflow import to_dataflow
from ..perf.model import CycleReport, cycle_model, format_report

__all__ = ["MODEL_FILE", "run", "load_fixed", "quantized_model", "emit_verilog", "compile_model", "build_name"]


MODEL_FILE = "model.qdq.onnx"  # the quantized model a build was compiled from, inside the build


def load_fixed(model: str, calib: str | None) -> Graph:
    """The fixed-point IR of ``model``: a QDQ/QLinear file, or a float one quantized with ``calib``."""
    return quantized_model(model, calib)[0]


def quantized_model(model: str, calib: str | None) -> tuple[Graph, bytes]:
    """The fixed-point IR of ``model`` and the quantized ONNX it comes from: a QDQ/QLinear file as
    it is, or a float one quantized with ``calib`` (default ``QuantConfig``)."""
    graph = load_model(model)
    if is_quantized(graph):
        if calib:
            raise QuantizationError(f"{model}: the model is already quantized; --calib applies to float models only")
        return load_quantized(model), Path(model).read_bytes()
    if not calib:
        raise QuantizationError(f"{model}: the model is float; give --calib DATA to quantize it first, or a QDQ model")
    from ..frontend.quantize import QuantConfig, quantize_graph

    qdq, _ = quantize_graph(graph, load_inputs(calib, graph), QuantConfig())
    return lower_model(qdq, model), qdq.SerializeToString()


def emit_verilog(df: Dataflow, out_dir: Path) -> list[str] | None:
    """Hook for the top level: ``hwaccel.hw.top.emit_verilog(df, out_dir)`` writes ``top.v`` (+ units).

    Returns the names of the files it wrote, or None while ``hwaccel.hw.top`` does not exist.
    """
    try:
        from ..hw import top
    except ModuleNotFoundError as exc:
        if exc.name != "hwaccel.hw.top":
            raise
        return None
    return [Path(p).name for p in top.emit_verilog(df, Path(out_dir))]


def build_name(model: str) -> str:
    """A Verilog-safe name from a model path (``models/cnn.qdq.onnx`` -> ``cnn``)."""
    name = re.sub(r"\W", "_", Path(model).name.split(".")[0]) or "net"
    return name if name[0].isalpha() else f"net_{name}"


def compile_model(model: str, calib: str | None, target: FoldTarget, name: str) -> tuple[Dataflow, dict, CycleReport, bytes]:
    """Compile ``model``; returns the dataflow, the manifest's extra sections, the batch-1 cycle
    report and the quantized model (to store in the build as :data:`MODEL_FILE`)."""
    fixed, qdq = quantized_model(model, calib)
    df = to_dataflow(fixed, target, name=name)
    report = cycle_model(df, 1, target.clock_mhz)
    if target.fps is not None and report.throughput_fps < target.fps:
        raise CompileError(f"--target-fps {target.fps:g} is not met: the cycle model gives {report.throughput_fps:.1f} fps "
                           f"(interval {report.interval_cycles:g} cycles at {target.clock_mhz:g} MHz); ask for less")
    source = hashlib.sha256(Path(model).read_bytes()).hexdigest()
    host = sorted({n.op for n in df.host_pre + df.host_post})
    layers = [{"name": s.name, "kind": s.kind, "source": list(s.source), "simd": s.in_lanes, "pe": s.lanes,
               "shape": list(s.shape), "encoding": {"bits": s.encoding.bits, "signed": s.encoding.signed,
                                                    "zero_point": s.encoding.zero_point, "scale": s.encoding.scale},
               "acc_bits": next((u.acc_bits for u in s.units if hasattr(u, "acc_bits") and type(u).__name__ == "MatVecParams"), None)}
              for s in df.stages]
    extra = {"model": {"file": MODEL_FILE, "sha256": hashlib.sha256(qdq).hexdigest(), "source": Path(model).name,
                       "source_sha256": source}, "host_ops": host, "layers": layers, "cycles": report.to_dict()}
    return df, extra, report, qdq


def run(args: argparse.Namespace) -> tuple[dict, str]:
    name = build_name(args.output or args.model)
    out = Path(args.output) if args.output else Path("build") / name
    if out.exists() and not args.force:
        raise HwaccelError(f"{out}: already exists (use --force to overwrite)")
    target = FoldTarget(fps=args.target_fps, dsp=args.dsp, luts=args.luts, clock_mhz=args.clock_mhz)
    df, extra, cycles, qdq = compile_model(args.model, args.calib, target, name)
    verilog: list[str] | None = None

    def emit(d: Dataflow, tmp: Path) -> list[str]:
        nonlocal verilog
        verilog = emit_verilog(d, tmp)
        return verilog or []

    files = write_build(out, df, extra, force=args.force, emit=emit, files={MODEL_FILE: qdq})
    report = {"model": args.model, "output": str(out), "files": files, "verilog": verilog is not None,
              "stages": len(df.stages), "host_ops": extra["host_ops"], "folding": dict(df.folding),
              **{k: extra["cycles"][k] for k in ("latency_cycles", "interval_cycles", "total_cycles", "mac_utilization",
                                                 "multipliers", "mac_multipliers", "memory_bits", "throughput_fps")}}
    lines = [f"compiled {args.model} -> {out} ({len(df.stages)} stages, {len(files)} files)", format_report(cycles),
             f"host ops: {', '.join(extra['host_ops']) or 'none'}"]
    if verilog is None:
        lines.append("note: top.v not written: the top level (hwaccel.hw.top) is not available yet")
    return report, "\n".join(lines)

