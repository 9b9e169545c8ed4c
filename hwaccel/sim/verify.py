# amaranth: UnusedElaboratable=no
"""Verify a compiled build: run its top on inputs and check it against golden and the cycle model.

The host quantizes the inputs by running the golden executor (:func:`hwaccel.golden.fixed.run_golden`)
on the same fixed-point graph the build was compiled from, which also gives the reference: the
codes of the hardware partition's output value (before the host Dequantize and other host ops).
The build's ``top.v`` runs in Verilator or Icarus through cocotb (:mod:`hwaccel.sim.bench_network`),
or the :class:`~hwaccel.hw.top.NetworkTop` of its manifest in amaranth.sim. The cycle count for
the N inputs fed back to back comes from the cycle model: a run of the N inputs
(:func:`hwaccel.perf.network.simulate`), or for many inputs :func:`hwaccel.perf.model.total_cycles`
(its periodic run extended, the same count).

The simulator builds in ``<build dir>/sim_build/<simulator>`` (``_waves`` appended for a traced
build), reused while ``top.v`` is unchanged, or in a temporary folder removed afterwards when the
build directory is read-only; verifies of different builds never share a file.
"""

from __future__ import annotations

import hashlib
import os
import re
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import numpy as np

from ..build_dir import read_build
from ..errors import HwaccelError
from ..files import Inputs, check_writable, load_inputs
from ..frontend.fixed_model import fixed_model
from ..ir.graph import Graph

__all__ = ["SIMULATORS", "verify_build", "fixed_graph"]

SIMULATORS = ("verilator", "icarus", "amaranth")


def fixed_graph(build: Path, manifest: dict, model: str | None = None, calib: str | None = None) -> Graph:
    """The fixed-point graph ``build`` was compiled from: ``model`` (checked against the manifest's
    sha256), else the model file named by the manifest inside the build directory."""
    info = manifest.get("model", {})
    path = Path(model) if model else build / str(info.get("file", ""))
    if not model and not path.is_file():
        raise HwaccelError(f"{build}: the compiled model {info.get('file')!r} is not in the build; give --model PATH "
                           "(the MODEL given to `hwaccel compile`, with its --calib for a float model)")
    if not path.is_file():
        raise HwaccelError(f"{path}: model file does not exist")
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if info.get("sha256") and digest != info["sha256"]:
        raise HwaccelError(f"{path}: model must be the one {build} was compiled from (sha256 {info['sha256'][:12]}...), "
                           f"not sha256 {digest[:12]}...")
    return fixed_model(path, calib)[0]


MAX_OUTPUT_BEATS = 1_000_000  # output beats one verify records (its inputs stream; its outputs are kept)


def _take(feeds: dict[str, np.ndarray], count: int | None, out_beats: int) -> tuple[dict[str, np.ndarray], int]:
    """The distinct inputs of a run of ``count`` (the first ``count`` of the batch; past its end the
    batch is reused cyclically, so the run streams the batch and never holds ``count`` inputs)."""
    batch = next(iter(feeds.values())).shape[0]
    n = batch if count is None else count
    if not isinstance(n, (int, np.integer)) or isinstance(n, bool) or n < 1:
        raise HwaccelError(f"count must be a positive integer, not {count!r}")
    if batch < 1:
        raise HwaccelError("inputs must hold at least one input, not an empty batch")
    limit = max(1, MAX_OUTPUT_BEATS // max(out_beats, 1))
    if n > limit:
        raise HwaccelError(f"count must be at most {limit:,} for this build ({out_beats} output beats an input, "
                           f"{MAX_OUTPUT_BEATS:,} in one run), not {n:,}")
    return {k: v[:min(n, batch)] for k, v in feeds.items()}, int(n)


def _check_probe_width(verilog: str, probes: int, path: Path) -> None:
    match = re.search(r"output \[(\d+):0\] probe;", verilog)
    if match is None or int(match.group(1)) + 1 != 2 * probes:
        raise HwaccelError(f"{path}: must be the top of this build's manifest ({2 * probes} probe bits), "
                           "not another design; recompile with `hwaccel compile ... --force`")


def _sim_folder(root: Path, simulator: str, waves: bool, stack: ExitStack) -> Path:
    """``<root>/sim_build/<simulator>[_waves]``, or a temporary folder (closed with ``stack``) when
    the build directory is read-only."""
    folder = root / "sim_build" / (simulator + ("_waves" if waves else ""))
    try:
        folder.mkdir(parents=True, exist_ok=True)
        if os.access(folder, os.W_OK):
            return folder
    except OSError:
        pass
    return Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="hwaccel_verify_")))


def verify_build(build: str | Path, inputs: Inputs, count: int | None = None, simulator: str = "verilator",
                 waves: str | None = None, model: str | None = None, calib: str | None = None,
                 progress: bool = True, force: bool = False, timeout: float | None = None) -> dict[str, Any]:
    """Simulate ``count`` inputs back to back and compare with golden and the cycle model.

    Parameters
    ----------
    build
        Build directory written by ``hwaccel compile``.
    inputs
        ``.npy`` (the single input) or ``.npz`` keyed by input name, batch first.
    count
        Inputs fed back to back (default: the file's batch; reused cyclically).
    simulator
        One of :data:`SIMULATORS`.
    waves
        Write the waveform to this path (Verilator: VCD, Icarus: FST, amaranth: VCD).
    model, calib
        The model the build was compiled from when it is not in the build (and the calibration
        data of a float one).
    progress
        Show a progress bar on stderr.
    force
        Overwrite an existing ``waves`` file.
    timeout
        Wall-clock limit of this call in seconds, not counting building the simulator (the golden
        run and the cycle model before the simulation count against it); default generous, from the
        cycle model and the simulator's measured speed
        (:func:`~hwaccel.sim.bench_network.default_timeout`).

    Returns
    -------
    dict
        ``count``, ``bit_exact``, ``mismatches``, ``first_mismatches``, ``cycles_rtl``,
        ``cycles_model``, ``cycles_match``, ``first_output_rtl``, ``build``, ``simulator`` and
        timings (``sim_seconds``, ``model_seconds``, ``images_per_s``, ``cycles_per_s``, ``model_speedup``).

    Raises
    ------
    HwaccelError
        The build, the model, the inputs, ``count``, ``timeout`` or ``waves`` are not usable.
    SimulationError
        The simulator is missing, the bench failed, or the design stalled (naming the unit).
    SimulationTimeout
        The simulation ran past ``timeout`` (naming the unit furthest behind).
    """
    if simulator not in SIMULATORS:
        raise HwaccelError(f"simulator must be one of {SIMULATORS}, not {simulator!r}")
    if timeout is not None and not (isinstance(timeout, (int, float)) and 0 < timeout < float("inf")):
        raise HwaccelError(f"timeout must be a positive number of seconds, not {timeout!r}")
    if waves is not None:
        check_writable(waves, force)  # before any work (and the imports below)
    from ..golden.fixed import run_golden
    from ..hw.top import NetworkTop
    from ..perf.model import DIRECT_RUN_INPUTS, total_cycles
    from ..perf.network import simulate
    from .bench_network import compare, make_case, run_pysim

    began = time.perf_counter()  # a given timeout also covers the work before the simulation (not the simulator's build)
    root = Path(build)
    df, manifest = read_build(root)
    graph = fixed_graph(root, manifest, model, calib)
    feeds, n = _take(load_inputs(inputs, graph), count, df.output.beats)
    values = run_golden(graph, feeds, outputs=[df.input.value, df.output.value])
    start = time.perf_counter()  # a few inputs: one run; many: the periodic run's extrapolation (the same cycles)
    cycles_model = simulate(df, n).cycles if n <= DIRECT_RUN_INPUTS else total_cycles(df, n)[0]
    model_seconds = time.perf_counter() - start
    top = NetworkTop(df)
    left = None if timeout is None else max(timeout - (time.perf_counter() - began), 0.1)
    case = make_case(top, values[df.input.value], cycles_model, count=n, timeout_s=left)
    if simulator == "amaranth":
        sys.set_int_max_str_digits(0)  # amaranth.sim writes wide ROM words as decimal literals
        result = run_pysim(top, case, Path(waves) if waves else None, progress)
    else:
        from .network_rtl import run_rtl

        source = root / "top.v"
        if not source.is_file():
            raise HwaccelError(f"{root}: no top.v in the build; recompile with `hwaccel compile ... --force`")
        text = source.read_text()
        _check_probe_width(text, len(top.probe_names), source)
        with ExitStack() as stack:  # a traced build has a folder of its own: both stay reusable
            folder = _sim_folder(root, simulator, bool(waves), stack)
            result = run_rtl(text, case, simulator, waves=Path(waves) if waves else None, progress=progress,
                             build_dir=folder)
    report = compare(result, case, df.output.to_stream(values[df.output.value]))
    sim_seconds = float(result["wall_s"])
    report.update({
        "build": str(root), "simulator": simulator, "cycles_match": report["cycles_rtl"] == cycles_model,
        "sim_seconds": sim_seconds, "model_seconds": model_seconds,
        "images_per_s": n / sim_seconds if sim_seconds else None,
        "cycles_per_s": result["cycles"] / sim_seconds if sim_seconds else None,
        "model_speedup": sim_seconds / model_seconds if model_seconds else None,
    })
    return report
