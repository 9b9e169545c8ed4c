"""The build side of the API: compile a quantized network to a build directory, run its cycle model."""

from __future__ import annotations

import os
import time
from pathlib import Path

from ..build_dir import read_build, remove_stale
from ..errors import HwaccelError
from ..files import check_writable
from ..frontend.validate import named
from ..passes.fold_lanes import FoldTarget
from ..perf.model import DIRECT_RUN_INPUTS, cycle_model
from .compiler import Steps, build_name, compile_model, write_compiled
from ..errors import CompileError
from ..frontend.fixed_model import fixed_model
from ..ir.graph import Graph
from ..estimate.memory_map import map_memories
from ..perf.memory import memory as memory_named
from .overlay import DEFAULT_PART, OverlayResult, check_part, compile_overlay, is_overlay, simulate_overlay, weights_fit_on_chip
from .results import CompileResult, SimulateResult

__all__ = ["compile", "simulate"]


def compile(model: str | os.PathLike[str], output: str | os.PathLike[str] | None = None, *,  # noqa: A001
            calib: str | os.PathLike[str] | None = None, dsp: int | None = None, luts: int | None = None,
            target_fps: float | None = None, clock_mhz: float = 100.0, force: bool = False,
            verilog: bool = True, multipliers: int | None = None, progress: bool = False, weights: str = "onchip",
            memory: str = "ddr4-2400-x64", fpga: str | None = None) -> CompileResult | OverlayResult:
    """Compile a quantized network to a streaming dataflow build directory.

    Parameters
    ----------
    model
        A QDQ/QLinear ONNX file, or a float one with ``calib``.
    output
        The build directory to write; default ``build/NAME`` (NAME from the model's file name).
    calib
        Calibration inputs (``.npy``/``.npz``) to quantize a float ``model`` first.
    dsp, luts, multipliers, target_fps
        At most one fold target: the shortest interval within ``dsp`` multipliers (18x18 DSP blocks;
        the default is 124), an estimated ``luts`` LUTs or ``multipliers`` MAC multipliers (the
        MatVec lanes alone, as a systolic array's PE count), or the fewest DSP blocks for
        ``target_fps`` inferences/s at ``clock_mhz``.
    clock_mhz
        The clock for ``target_fps`` and the reports.
    force
        Replace an existing build directory.
    verilog
        Write ``top.v`` (the manifest and weights are always written).
    progress
        Show the compile's steps (import, fold, FIFOs, cycle model, Verilog) on stderr.
    weights
        ``onchip`` (the streaming dataflow, every weight in a ROM), ``external`` (an overlay: one
        shared array, weights and spilled feature maps in external memory; a schedule estimate, its
        RTL is not generated yet) or ``auto`` (external when the weights alone exceed ``fpga``'s
        block RAM, or when the streaming design's memories do not fit it).
    memory
        For an overlay: the external memory (a preset of :data:`hwaccel.perf.memory.MEMORIES` or
        ``GBPS[,LATENCY_NS[,DATA_BYTES]]``).
    fpga
        The part (default ecp5-85k): its DSP blocks (or ``multipliers``) and block RAM bound an
        overlay; a streaming design's memories are mapped onto it, and one that does not fit is an
        error when ``fpga`` is given (the result and manifest say so otherwise).

    Returns
    -------
    CompileResult or OverlayResult
        The build directory, its files, the dataflow and the batch-1 cycle report (an overlay: its schedule).

    Raises
    ------
    CompileError
        A node has no hardware unit, the fold target is invalid or not met.
    QuantizationError
        A float model without ``calib``, or a quantized one with it.
    """
    name = build_name(output if output is not None else model)
    out = Path(output) if output is not None else Path("build") / name
    try:  # the build's folder and its missing parents are made (only they) before any work
        out.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise HwaccelError(f"{out.parent}: cannot make the output directory ({exc.strerror})") from None
    check_writable(out, force, directory=True)
    remove_stale(out)
    if weights not in ("onchip", "external", "auto"):
        raise HwaccelError(f"--weights must be onchip, external or auto, not {weights!r}")
    part = check_part(fpga or DEFAULT_PART)
    if weights != "onchip":
        if target_fps is not None or luts is not None:
            raise HwaccelError(f"--weights {weights} takes --dsp or --multipliers as its budget, not --target-fps or --luts")
        memory_named(memory)  # a bad --memory is an error before any work
        with named(str(model)):  # imported and quantized once, for the choice and the compile
            lowered: tuple[Graph, bytes] | None = fixed_model(str(model), None if calib is None else str(calib))
    else:
        lowered = None

    def overlay() -> OverlayResult:
        assert lowered is not None
        with named(str(model)):
            return compile_overlay(model, out, lowered=lowered, memory=memory, part=part, multipliers=multipliers or dsp,
                                   clock_mhz=clock_mhz, force=force)

    if lowered is not None and (weights == "external" or not weights_fit_on_chip(lowered[0], part)):
        return overlay()
    target = FoldTarget(fps=target_fps, dsp=dsp, luts=luts, multipliers=multipliers, clock_mhz=clock_mhz)
    steps = Steps(["import", "lower and fold", "FIFOs", "cycle model", "Verilog"], progress, f"compile {name}")
    try:
        with named(str(model)):
            df, extra, cycles, qdq = compile_model(model, calib, target, name, steps, lowered)
        placed = map_memories(df, part)
        if not placed.fits and weights == "auto":
            steps.close()
            return overlay()
        if not placed.fits and fpga is not None:
            raise CompileError(f"{model}: {placed.message}")
        extra = {**extra, "memory_map": {"fpga": part, "fits": placed.fits, "message": placed.message}}
        steps.start("Verilog" if verilog else "write")
        files, written = write_compiled(out, df, extra, qdq, verilog=verilog, force=force)
    finally:
        steps.close()
    return CompileResult(str(model), out, files, written is not None, df, cycles, extra["host_ops"], extra["memory_map"])


def simulate(build: str | os.PathLike[str], batch: int = 1, clock_mhz: float | None = None) -> SimulateResult | OverlayResult:
    """The cycle model of a compiled build: latency, interval, total cycles, MAC utilization.

    Parameters
    ----------
    build
        A build directory written by :func:`compile`.
    batch
        Inputs fed back to back.
    clock_mhz
        The clock for throughput; default the compile clock.

    Returns
    -------
    SimulateResult
        ``cycles`` is the :class:`~hwaccel.perf.model.CycleReport`; an overlay build gives its
        schedule (:class:`~hwaccel.api.overlay.OverlayResult`, one inference).
    """
    if is_overlay(build):
        if batch != 1:
            raise HwaccelError(f"{build}: an overlay build's schedule covers one inference, not batch {batch!r}")
        return simulate_overlay(build, clock_mhz)
    df, _ = read_build(build)
    start = time.perf_counter()
    report = cycle_model(df, batch, clock_mhz, periodic=isinstance(batch, int) and batch > DIRECT_RUN_INPUTS)
    seconds = time.perf_counter() - start
    return SimulateResult(str(build), df.name, len(df.stages), report, seconds)
