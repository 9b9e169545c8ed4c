"""The cycle model of a compiled dataflow: exact latency, interval and total cycles.

Exact means equal to the RTL that ``hw/top.py`` assembles from the :class:`~hwaccel.units.dataflow.Dataflow`,
cycle for cycle, for any number of inputs fed back to back. It rests on these assumptions, which
the top level must meet (they are how :mod:`hwaccel.units.dataflow` defines the netlist):

* Every unit is the ``hw/<unit>.py`` built from its params; the control models of
  :mod:`.control` mirror their valid/ready logic register for register (``SyncFIFOBuffered`` for
  FIFOs: a beat written to an empty FIFO is readable 2 cycles later, depth <= 2 passes a beat
  every other cycle).
* A stage's units are connected directly (``wiring.connect``): no register, no FIFO between them.
* An edge with ``fifo=None`` is a direct connection; otherwise one ``StreamFifo(edge.fifo)``.
* A fork (several edges from one source) is combinational and lockstep: ``src.ready = AND_k
  ready_k``, ``valid_k = src.valid & AND_{j != k} ready_j``; every fork branch starts with a FIFO.
* Nothing else sits on a stream: the top-level ports ``i``/``o`` are the input edge's and output
  edge's ends; no extra register or skid buffer.
* Cycle 0 is the first cycle after reset in which the testbench offers input; the input offers
  beats back to back (``valid`` high while beats are left) and the output is always ready;
  ``total_cycles`` is the index of the cycle in which the last output beat transfers, plus one
  (the conventions of :mod:`hwaccel.units.base` and ``hwaccel/sim/harness.py``).

How: one cycle-by-cycle simulation of the control only (:mod:`.network`) with inputs back to
back, run until the state at the acceptance of an image's first input beat repeats (period ``P``
cycles every ``k`` images from image ``n0`` on). Everything after the later moment repeats what
followed the earlier one ``P`` cycles later, so an image that leaves after the earlier moment is
followed ``k`` images on by one leaving ``P`` cycles later; the run ends once it holds ``k`` such
images. No unit lets a later beat delay an earlier one, so image ``N`` leaves this endless run in
the cycle it leaves a run of exactly ``N`` inputs: ``total(N)`` is read off the run or extended by
whole periods. Any batch costs one run of about ``n0 + k`` images.

Why not a closed form: the units' own closed forms (``units/<unit>.py``) hold for a unit alone;
in a network most units are throttled by a neighbour for part of an image (a window waits for
its MatVec's later output folds, a FIFO fills within a burst), so the first image's latency
depends on beat-level timing the per-unit figures do not carry. The steady-state interval is
the slowest unit's only when the FIFOs absorb every burst; the simulation finds out either way.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from ..errors import SimulationError
from ..units.dataflow import Dataflow, Stage
from ..units.depthwise import DepthwiseParams
from ..units.matvec import MatVecParams
from ..units.recurrent import RecurrentParams
from ..units.window import WindowParams
from .network import Run, simulate
from .schedule import first_image, steady_interval

__all__ = ["DIRECT_RUN_INPUTS", "LayerReport", "CycleReport", "cycle_model", "periodic_run", "total_cycles", "layer_reports", "format_report"]


DIRECT_RUN_INPUTS = 16  # up to this many inputs, reports and verify run them; beyond, the periodic run is extended


@dataclass(frozen=True)
class LayerReport:
    """One stage: folding, standalone interval, latency, MACs, multipliers, memory, utilization."""

    name: str
    kind: str
    source: list[str]
    lanes_in: int
    lanes_out: int
    interval_cycles: int  # standalone initiation interval (slowest unit's closed form)
    latency_cycles: int  # first output transfer - first input transfer, in the batch run
    macs: int
    mac_multipliers: int  # MatVec multipliers built (lanes whose weights are all zero are not)
    array_lanes: int  # PE x SIMD lanes the layer's structure uses (see MatVecParams.array_lanes)
    multipliers: int  # DSP blocks (18 x 18)
    memory_bits: int
    mac_utilization: float  # scheduled macs / (array_lanes * network interval); 0 without MACs
    simd: int = 0  # the MatVec's folding (0 without one); its stream lanes may differ (Regroups)
    pe: int = 0
    # macs / (mac_multipliers * interval_cycles): the stage's own, against its true MACs (a transposed
    # conv's exclude inserted zeros; a weight quantized to 0 is pruned, so this may pass 1); 0 without MACs
    stage_mac_utilization: float = 0.0


@dataclass(frozen=True)
class CycleReport:
    """The cycle model's answer for ``batch`` inputs back to back at ``clock_mhz``."""

    batch: int
    clock_mhz: float
    latency_cycles: int  # cycle in which the first output beat transfers
    interval_cycles: float  # steady-state cycles per input
    total_cycles: int  # cycles for the whole batch (last output beat + 1)
    throughput_fps: float  # steady state, at the clock
    latency_us: float
    mac_utilization: float  # steady state: scheduled macs / (array lanes * interval), pruned tiles not counted
    macs: int
    multipliers: int
    mac_multipliers: int
    memory_bits: int
    periodic_from: int  # first image n0 of the periodic regime
    period_images: int  # k
    period_cycles: int  # P
    layers: list[LayerReport]

    def to_dict(self) -> dict:
        return asdict(self)


def periodic_run(df: Dataflow) -> Run:
    """The endless back-to-back run up to its period, with the images :func:`total_cycles` reads finished."""
    run = simulate(df, None, stop_periodic=True)
    if run.period is None:
        raise SimulationError(f"{df.name}: the control state never repeated; no steady state found")
    return run


def total_cycles(df: Dataflow, batch: int, run: Run | None = None) -> tuple[int, Run]:
    """``(total cycles, run)`` for ``batch`` inputs back to back, from :func:`periodic_run` (or ``run``).

    Image ``N`` leaves the endless run in the cycle it leaves a run of ``N`` inputs (no unit lets a
    later beat delay an earlier one), so ``total(N) = image_ends[N - 1] + 1`` while the run has
    it, and ``P`` cycles per ``k`` images more beyond.
    """
    if not isinstance(batch, int) or isinstance(batch, bool) or batch < 1:
        raise SimulationError(f"batch must be a positive integer, not {batch!r}")
    run = run if run is not None else periodic_run(df)
    assert run.period is not None
    _, k, p = run.period
    known = len(run.image_ends)
    if batch <= known:
        return run.image_ends[batch - 1] + 1, run
    laps = -(-(batch - known) // k)
    return run.image_ends[batch - 1 - laps * k] + 1 + laps * p, run


def _mac_work(s: Stage) -> tuple[int, float]:
    """``(array lanes, scheduled MACs)`` of a stage: its MatVec's or Depthwise's (every lane, every
    MAC: no beat is skipped), and none without one."""
    dw = s.unit(DepthwiseParams)
    if dw is not None:
        return dw.lanes, float(s.macs)
    rc = s.unit(RecurrentParams)
    if rc is not None:
        return rc.mac_multipliers(), float(s.macs)
    mv, window = s.unit(MatVecParams), s.unit(WindowParams)
    if mv is None:
        return 0, 0.0
    channels = window.channels if window is not None else None
    return mv.array_lanes(s.groups, channels), s.macs * mv.scheduled_mac_fraction(s.groups, channels)


def layer_reports(df: Dataflow, run: Run, interval: float | None = None) -> list[LayerReport]:
    """Per-stage figures; latencies from ``run`` (image 1), utilization at its steady-state interval
    (``interval``, default the run's period)."""
    if interval is None:
        assert run.period is not None
        interval = run.period[2] / run.period[1]
    layers = []
    for s in df.stages:
        lanes, done = _mac_work(s)
        cycles, mults = max(u.image_cycles(s.shape) for u in s.units), sum(u.mac_multipliers() for u in s.units)
        layers.append(LayerReport(
            s.name, s.kind, list(s.source), s.in_lanes, s.lanes, cycles,
            run.stage_first_out[s.name] - run.stage_first_in[s.name], s.macs, mults,
            lanes, sum(u.dsp_blocks() for u in s.units), sum(u.memory_bits() for u in s.units),
            done / (lanes * interval) if lanes else 0.0, *_fold(s), s.macs / (mults * cycles) if mults and cycles else 0.0))
    return layers


def cycle_model(df: Dataflow, batch: int = 1, clock_mhz: float | None = None, periodic: bool = True,
                analytic: bool = False) -> CycleReport:
    """Latency, interval, total cycles and per-layer figures of ``df`` for ``batch`` inputs.

    ``clock_mhz`` defaults to the clock the dataflow was folded for (100 MHz if none). Without
    ``periodic`` one run of ``batch`` inputs gives the latency and total, and the interval is the
    analytic schedule's steady interval (:func:`~.schedule.steady_interval`, which tests check
    against periodic runs); the period fields are then 0. A network whose join FIFOs hold whole
    images may take hundreds of images to become periodic. ``analytic`` (what ``compile`` reports,
    one input, FIFOs sized by :func:`~hwaccel.passes.size_fifos.size_fifos`): the run's figures
    from the schedule (:func:`~.schedule.first_image`), no simulation.
    """
    clock = float(clock_mhz if clock_mhz is not None else df.folding.get("target", {}).get("clock_mhz", 100.0))
    if not clock > 0:
        raise SimulationError(f"clock_mhz must be positive, not {clock_mhz!r}")
    if analytic:
        if batch != 1:
            raise SimulationError(f"the analytic cycle model covers one input, not batch {batch!r}")
        first = first_image(df)
        run = Run(1, first.cycles, first.first_output, -1, [], first.stage_first_in, first.stage_first_out, {}, {})
        total, (n0, k, p) = run.cycles, (0, 0, 0)
        interval: float = float(df.folding.get("steady_interval") or steady_interval(df))
    elif periodic:
        total, run = total_cycles(df, batch)
        assert run.period is not None
        n0, k, p = run.period
        interval = p / k
    else:
        if not isinstance(batch, int) or isinstance(batch, bool) or batch < 1:
            raise SimulationError(f"batch must be a positive integer, not {batch!r}")
        run = simulate(df, batch)
        total, (n0, k, p) = run.cycles, (0, 0, 0)
        interval = float(df.folding.get("steady_interval") or steady_interval(df))
    layers = layer_reports(df, run, interval)
    fifo_bits = sum(e.fifo.memory_bits() for e in df.edges if e.fifo is not None)
    macs = sum(s.macs for s in df.stages)
    lanes = sum(l.array_lanes for l in layers)
    mm = sum(l.mac_multipliers for l in layers)
    return CycleReport(batch, clock, run.first_output, interval, total, clock * 1e6 / interval,
                       run.first_output / clock, sum(l.mac_utilization * l.array_lanes for l in layers) / lanes if lanes else 0.0, macs,
                       sum(l.multipliers for l in layers), mm, sum(l.memory_bits for l in layers) + fifo_bits,
                       n0, k, p, layers)


def _fold(s: Stage) -> tuple[int, int]:
    """``(simd, pe)`` of the stage's MatVec or Recurrent unit; ``(0, 0)`` without one."""
    mv = next((u for u in s.units if isinstance(u, (MatVecParams, RecurrentParams))), None)
    return (0, 0) if mv is None else (mv.simd, mv.pe)


def format_report(r: CycleReport) -> str:
    """The report as a table: a stage's stream lanes in and out, its MatVec's simd x pe."""
    head = ("layer", "kind", "lanes", "simd x pe", "II", "latency", "MACs", "mults", "mem bits", "MAC util")
    rows = [head] + [(l.name, l.kind, f"{l.lanes_in}>{l.lanes_out}" if l.lanes_in != l.lanes_out else str(l.lanes_in),
                      f"{l.simd}x{l.pe}" if l.simd else "-", str(l.interval_cycles), str(l.latency_cycles),
                      str(l.macs), str(l.multipliers), str(l.memory_bits), f"{l.mac_utilization:.1%}" if l.mac_multipliers else "-")
                     for l in r.layers]
    widths = [max(len(row[i]) for row in rows) for i in range(len(head))]
    lines = ["  " + "  ".join(v.rjust(w) if i >= 2 else v.ljust(w) for i, (v, w) in enumerate(zip(row, widths))) for row in rows]
    lines += [
        f"batch {r.batch} at {r.clock_mhz:g} MHz: latency {r.latency_cycles} cycles ({r.latency_us:.2f} us) to the first output, "
        f"interval {r.interval_cycles:g} cycles ({r.throughput_fps:,.0f} inferences/s), total {r.total_cycles} cycles",
        f"MAC utilization {r.mac_utilization:.1%} ({r.macs} MACs per input on {sum(l.array_lanes for l in r.layers)} "
        f"PE x SIMD lanes, {r.mac_multipliers} multipliers built); "
        f"{r.multipliers} DSP multipliers (18x18), {r.memory_bits} memory bits",
    ]
    return "\n".join(lines)
