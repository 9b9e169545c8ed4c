"""The compile driver: a quantized network -> a dataflow, its manifest sections and a build directory."""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path

from ..build_dir import write_build
from ..errors import CompileError
from ..frontend.fixed_model import fixed_model
from ..ir.graph import Graph
from ..units.dataflow import Dataflow
from ..passes.fold_lanes import FoldTarget
from ..passes.size_fifos import size_fifos
from ..passes.to_dataflow import to_dataflow
from ..perf.model import CycleReport, cycle_model

__all__ = ["MODEL_FILE", "build_name", "emit_verilog", "compile_model", "write_compiled", "Steps"]

MODEL_FILE = "model.qdq.onnx"  # the quantized model a build was compiled from, inside the build


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


def build_name(model: str | os.PathLike[str]) -> str:
    """A Verilog-safe name from a model path (``models/cnn.qdq.onnx`` -> ``cnn``)."""
    name = re.sub(r"\W", "_", Path(model).name.split(".")[0]) or "net"
    return name if name[0].isalpha() else f"net_{name}"


class Steps:
    """A progress bar over the named steps of a long job (tqdm on stderr; silent when disabled)."""

    def __init__(self, names: list[str], enabled: bool, desc: str) -> None:
        from tqdm import tqdm

        self.bar = tqdm(total=len(names), desc=desc, unit="step", disable=not enabled, leave=False,
                        bar_format="{desc}: {n_fmt}/{total_fmt} {postfix} [{elapsed}]")
        self.started = False

    def start(self, name: str) -> None:
        """The previous step is done; ``name`` runs now."""
        if self.started:
            self.bar.update(1)
        self.started = True
        self.bar.set_postfix_str(name)

    def close(self) -> None:
        self.bar.close()


def compile_model(model: str | os.PathLike[str], calib: str | os.PathLike[str] | None, target: FoldTarget,
                  name: str, steps: Steps | None = None,
                  lowered: tuple[Graph, bytes] | None = None) -> tuple[Dataflow, dict, CycleReport, bytes]:
    """Compile ``model``; returns the dataflow, the manifest's extra sections, the batch-1 cycle
    report and the quantized model (to store in the build as :data:`MODEL_FILE`). ``steps``
    shows progress: import, fold, FIFOs, cycle model. ``lowered``: :func:`fixed_model`'s result
    when the caller already has it."""
    steps = steps or Steps([], False, "")
    steps.start("import")
    fixed, qdq = lowered or fixed_model(str(model), None if calib is None else str(calib))
    steps.start("lower and fold")
    df = to_dataflow(fixed, target, name=name, fifos=False)
    steps.start("FIFOs")
    df = size_fifos(df)
    steps.start("cycle model")
    report = cycle_model(df, 1, target.clock_mhz, periodic=False, analytic=True)
    if target.fps is not None and report.throughput_fps < target.fps:
        raise CompileError(f"--target-fps {target.fps:g} is not met: the cycle model gives {report.throughput_fps:.1f} fps "
                           f"(interval {report.interval_cycles:g} cycles at {target.clock_mhz:g} MHz); ask for less")
    source = hashlib.sha256(Path(model).read_bytes()).hexdigest()
    host = sorted({n.op for n in df.host_pre + df.host_post})
    layers = [{"name": s.name, "kind": s.kind, "source": list(s.source), "lanes_in": s.in_lanes, "lanes_out": s.lanes,
               "simd": next((getattr(u, "simd") for u in s.units if u.unit_kind == "matvec"), s.in_lanes),
               "pe": next((getattr(u, "pe") for u in s.units if u.unit_kind == "matvec"), s.lanes),
               "shape": list(s.shape), "encoding": {"bits": s.encoding.bits, "signed": s.encoding.signed,
                                                    "zero_point": s.encoding.zero_point, "scale": s.encoding.scale},
               "acc_bits": next((getattr(u, "acc_bits") for u in s.units if u.unit_kind in ("matvec", "depthwise")), None)}
              for s in df.stages]
    extra = {"model": {"file": MODEL_FILE, "sha256": hashlib.sha256(qdq).hexdigest(), "source": Path(model).name,
                       "source_sha256": source}, "host_ops": host, "layers": layers, "cycles": report.to_dict()}
    return df, extra, report, qdq


def write_compiled(out: str | os.PathLike[str], df: Dataflow, extra: dict, qdq: bytes, verilog: bool = True,
                   force: bool = False) -> tuple[list[str], list[str] | None]:
    """Write the build directory of :func:`compile_model`'s results (with ``top.v`` when ``verilog``);
    returns the files written and the Verilog files (None when none were written)."""
    written: list[str] | None = None

    def emit(d: Dataflow, tmp: Path) -> list[str]:
        nonlocal written
        written = emit_verilog(d, tmp)
        return written or []

    files = write_build(out, df, extra, force=force, emit=emit if verilog else None, files={MODEL_FILE: qdq})
    return files, written
