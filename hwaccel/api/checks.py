"""Checking a build: its RTL in an HDL simulator (``verify``), its FPGA and ASIC cost (``estimate``)."""

from __future__ import annotations

import os
from pathlib import Path

from ..build_dir import check_build
from ..files import Inputs
from .results import EstimateResult, VerifyResult

__all__ = ["verify", "estimate"]


def verify(build: str | os.PathLike[str], inputs: Inputs, count: int | None = None, simulator: str = "verilator", *,
           waves: str | os.PathLike[str] | None = None, model: str | os.PathLike[str] | None = None,
           calib: str | os.PathLike[str] | None = None, progress: bool = False, force: bool = False,
           timeout: float | None = None) -> VerifyResult:
    """Run a build's RTL on inputs back to back against the golden model and the cycle model.

    Parameters
    ----------
    build
        A build directory written by :func:`compile` (with ``top.v`` for Verilator and Icarus).
    inputs
        A ``.npy``/``.npz`` file, an array (single input) or a dict keyed by input name; batch first.
    count
        Inputs fed back to back; default the batch, reused cyclically past its end (streamed: at
        most :data:`~hwaccel.sim.verify.MAX_OUTPUT_BEATS` output beats in one run).
    simulator
        ``verilator`` or ``icarus`` (through cocotb on ``top.v``), or ``amaranth`` (amaranth.sim).
    waves, force
        Write the waveform here (checked before any work); ``force`` overwrites an existing file.
    timeout
        Wall-clock limit of the simulation in seconds (building the simulator not counted);
        default generous, from the cycle model and the simulator's measured speed.
    model, calib
        The model the build was compiled from (and its calibration data for a float model), when it
        is not in the build directory.
    progress
        Show the simulator's progress on stderr.

    Returns
    -------
    VerifyResult
        ``ok`` when bit-exact and the cycles equal the cycle model's; ``report`` holds the numbers.

    Raises
    ------
    SimulationError
        The simulator is missing, the bench failed, or the design stalled (naming the unit); a
        ``SimulationTimeout`` when it ran past ``timeout`` (naming the unit furthest behind).
    """
    from ..sim.verify import verify_build

    report = verify_build(str(build), inputs, count, simulator, None if waves is None else str(waves),
                          None if model is None else str(model), None if calib is None else str(calib), progress,
                          force, timeout)
    return VerifyResult(report)


def estimate(build: str | os.PathLike[str], fpga: str | None = None, asic: str | None = None, *,
             clock_mhz: float | None = None, seed: int | None = None, seeds: int = 1, pnr_timeout_s: float | None = None,
             force: bool = False, progress: bool = False) -> EstimateResult:
    """FPGA resources and post-route fmax (Yosys + nextpnr) and/or ASIC area and energy of a build.

    Parameters
    ----------
    build
        A build directory written by :func:`compile`.
    fpga
        The FPGA device to synthesize, place and route for (e.g. ``ecp5-85k``).
    asic
        The ASIC node to estimate at (``45nm`` or ``28nm``).
    clock_mhz
        FPGA: nextpnr's target frequency; ASIC: the clock for throughput and power (default: the
        build's compile clock).
    seed, seeds, pnr_timeout_s
        nextpnr's placement seed, how many seeds to try (keeping the best fmax), and the time limit
        of one place-and-route run.
    force
        Run the FPGA tools even when the result is cached.
    progress
        Show the tools' progress on stderr.

    Returns
    -------
    EstimateResult
        ``fpga`` and ``asic`` estimates (None where not asked for).

    Raises
    ------
    EstimateError
        Neither target, an unknown device or node, a missing build, or a failed tool.
    """
    from ..estimate.asic import estimate_asic
    from ..estimate.devices import device
    from ..estimate.fpga import DEFAULT_FREQ_MHZ, DEFAULT_PNR_TIMEOUT_S, DEFAULT_SEED, estimate_fpga
    from ..estimate.tools import EstimateError

    if not fpga and not asic:
        raise EstimateError("estimate needs --fpga DEVICE and/or --asic NODE, not neither")
    if fpga:
        device(fpga)  # an unknown device fails first (a usage error), before the build is read
    if not Path(build).is_dir():
        raise EstimateError(f"build directory must exist, not {str(build)!r} (run `hwaccel compile MODEL -o {build}`)")
    check_build(build)  # a complete one
    from .overlay import is_overlay, simulate_overlay

    if is_overlay(build):  # a schedule, no RTL: the ASIC estimate from its layers; nothing to place and route
        if fpga:
            raise EstimateError(f"{build}: an overlay build has no RTL to place and route yet; its multipliers and "
                                "block RAM are in its schedule (`hwaccel simulate`); --asic estimates it")
        from ..estimate.asic_overlay import estimate_overlay_asic

        assert asic is not None  # not neither, and not --fpga
        return EstimateResult(str(build), None, estimate_overlay_asic(build, simulate_overlay(build).report, asic))
    # the ASIC estimate is fast: first, so that its errors come before the long FPGA run
    asic_result = estimate_asic(build, asic, clock_mhz=clock_mhz) if asic else None
    fpga_result = None
    if fpga:
        fpga_result = estimate_fpga(build, fpga, DEFAULT_FREQ_MHZ if clock_mhz is None else clock_mhz, progress=progress,
                                    seed=DEFAULT_SEED if seed is None else seed, force=force, seeds=seeds,
                                    pnr_timeout_s=DEFAULT_PNR_TIMEOUT_S if pnr_timeout_s is None else pnr_timeout_s)
    return EstimateResult(str(build), fpga_result, asic_result)
