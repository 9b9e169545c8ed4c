"""Network bench: a whole :class:`~hwaccel.hw.top.NetworkTop` fed N inputs back to back.

The host builds a :class:`NetworkCase` (input beats, probe names and beat counts, cycle-model
total), the simulation records every output word, the cycle of every output transfer and the
beats each probed stream carried; the host compares with the golden codes (:func:`compare`).
The per-cycle logic (:class:`NetworkRun`) is plain Python shared by the cocotb adapter
(:func:`network_bench`, Verilator/Icarus, started by :func:`hwaccel.sim.network_rtl.run_rtl`) and the
amaranth.sim adapter (:func:`run_pysim`).

Cycle 0 is the first cycle after reset, in which the first input beat is offered (as in
:mod:`hwaccel.sim.harness`); ``cycles_rtl`` is the cycle of the last output transfer plus one.

Watchdog: a run that moves no probed stream for ``idle_bound`` cycles, or runs past
``cycle_bound`` (both from the cycle model, scaled by the stall probabilities), ends with a
:class:`~hwaccel.errors.SimulationError` naming the unit whose output stream stopped. A wall-clock
limit (``timeout_s``, default :func:`default_timeout` of the run's measured speed) ends it with a
:class:`SimulationTimeout` naming the unit furthest behind.

Inputs stream: the case holds the words of the distinct inputs, offered cyclically until
``in_total`` beats went in, so ``count`` inputs never exist as one array.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from tqdm import tqdm

from hwaccel.errors import SimulationError
from hwaccel.hw.stream import pack_lanes, unpack_lanes
from hwaccel.hw.top import NetworkTop, stream_beats

__all__ = ["NetworkCase", "NetworkRun", "SimulationTimeout", "make_case", "compare", "run_pysim", "network_bench",
           "stall_pattern", "default_timeout", "CASE_ENV", "RESULT_ENV", "PROGRESS_ENV"]

CASE_ENV = "HWACCEL_NET_CASE"  # JSON case file the bench reads
RESULT_ENV = "HWACCEL_NET_RESULT"  # JSON result file the bench writes
PROGRESS_ENV = "HWACCEL_NET_PROGRESS"  # file the bench writes "output beats done" into now and then
PROGRESS_EVERY = 2048  # cycles between progress writes
CLOCK_EVERY = 256  # cycles between wall-clock checks
DEFAULT_TIMEOUT_MIN_S = 120.0  # the default limit is at least this, and
DEFAULT_TIMEOUT_FACTOR = 10.0  # this many times the run's expected wall time at its measured speed


class SimulationTimeout(SimulationError):
    """The simulation ran past its wall-clock limit (exit status 1: the design, not the input, failed)."""

    exit_code = 1


def default_timeout(cycles_model: int, cycles_done: int, elapsed_s: float) -> float:
    """The default wall-clock limit of a run: generous, from the cycle model's total and the speed
    measured so far (:data:`DEFAULT_TIMEOUT_FACTOR` times the expected time, at least
    :data:`DEFAULT_TIMEOUT_MIN_S`)."""
    if cycles_done <= 0 or elapsed_s <= 0:
        return float("inf")
    return max(DEFAULT_TIMEOUT_MIN_S, DEFAULT_TIMEOUT_FACTOR * cycles_model * elapsed_s / cycles_done)


@dataclass
class NetworkCase:
    """Stimulus and bounds of one network run (JSON-ready)."""

    in_words: list[int]
    out_beats: int
    out_bits: int
    out_lanes: int
    out_signed: bool
    count: int
    cycles_model: int
    probes: list[str]
    probe_beats: list[int]
    valid_prob: float = 1.0
    ready_prob: float = 1.0
    seed: int = 0
    in_total: int = 0  # input beats to feed, cycling over in_words (0: in_words once)
    timeout_s: float | None = None  # wall-clock limit of the run (None: default_timeout)
    launched_at: float | None = None  # time.time() the simulator was launched: the limit counts from it (else from the bench's start)

    def __post_init__(self) -> None:
        self.in_total = self.in_total or len(self.in_words)

    @property
    def cycle_bound(self) -> int:
        """Cycles after which the run counts as stalled."""
        return int(4 * self.cycles_model / min(self.valid_prob, self.ready_prob) ** 2) + 1000

    @property
    def idle_bound(self) -> int:
        """Cycles without any probed stream moving after which the run counts as stalled."""
        return int(2 * self.cycles_model / self.count / min(self.valid_prob, self.ready_prob) ** 2) + 200

    def save(self, path: Path) -> None:
        Path(path).write_text(json.dumps(asdict(self)))

    @classmethod
    def load(cls, path: Path) -> "NetworkCase":
        return cls(**json.loads(Path(path).read_text()))


def make_case(top: NetworkTop, in_codes: np.ndarray, cycles_model: int, valid_prob: float = 1.0, ready_prob: float = 1.0,
              seed: int = 0, count: int | None = None, timeout_s: float | None = None) -> NetworkCase:
    """The case of ``in_codes`` (input codes in the IR layout, batch first) through ``top``; with
    ``count``, that many inputs, ``in_codes`` reused cyclically."""
    df = top.df
    count = len(in_codes) if count is None else count
    beats = df.input.to_stream(np.asarray(in_codes, dtype=np.int64))
    layout, out_layout = top.i.payload.shape(), top.o.payload.shape()
    words = [pack_lanes(b, layout.elem_shape.width) for b in beats.reshape(-1, layout.length).tolist()]
    counts = stream_beats(df, count)
    shape = out_layout.elem_shape
    return NetworkCase(words, df.output.beats * count, shape.width, out_layout.length, shape.signed, count,
                       cycles_model, list(top.probe_names), [counts[n] for n in top.probe_names], valid_prob, ready_prob, seed,
                       len(words) // len(in_codes) * count, timeout_s)


def stall_pattern(prob: float, seed: int, stream: int) -> Callable[[int], bool] | None:
    """A reproducible random stall pattern: ``pattern(cycle)`` is True with probability ``prob``.

    A pure function of the cycle (an integer hash of ``seed``, ``stream`` and the cycle), so the
    bench and the cycle model (:func:`hwaccel.perf.network.simulate`'s ``valid``/``ready``) see the
    same pattern however often they ask. ``None`` for ``prob >= 1`` (never stalls).
    """
    if prob >= 1:
        return None
    threshold, key = int(prob * (1 << 32)), ((seed * 2 + stream + 1) * 0x9E3779B97F4A7C15) & _MASK64

    def pattern(cycle: int) -> bool:
        x = (cycle * 0xBF58476D1CE4E5B9 + key) & _MASK64  # splitmix64 finalizer
        x = ((x ^ (x >> 31)) * 0x94D049BB133111EB) & _MASK64
        return (x ^ (x >> 29)) & 0xFFFFFFFF < threshold

    return pattern


_MASK64 = (1 << 64) - 1


@dataclass
class NetworkRun:
    """The per-cycle logic of a run: driver, ready generator, recorder, watchdog."""

    case: NetworkCase
    cycle: int = 0
    in_index: int = 0
    words: list[int] = field(default_factory=list)
    out_cycles: list[int] = field(default_factory=list)
    probe_counts: list[int] = field(default_factory=list)
    last_probe: int = 0
    last_move: int = 0
    error: str | None = None
    timed_out: bool = False

    def __post_init__(self) -> None:
        c = self.case
        self.valid_at, self.ready_at = stall_pattern(c.valid_prob, c.seed, 0), stall_pattern(c.ready_prob, c.seed, 1)
        self.probe_counts = [0] * len(c.probes)
        self.n = len(c.probes)
        self.start = time.perf_counter()

    def offer(self) -> int | None:
        """The input word offered this cycle, or ``None``."""
        if self.in_index >= self.case.in_total or (self.valid_at is not None and not self.valid_at(self.cycle)):
            return None
        return self.case.in_words[self.in_index % len(self.case.in_words)]

    def ready(self) -> bool:
        return self.ready_at is None or self.ready_at(self.cycle)

    def observe(self, in_fire: bool, out_fire: bool, out_word: int, probe: int) -> None:
        """Record one cycle's settled handshakes; then advance the cycle and check the watchdog."""
        self.in_index += in_fire
        if out_fire:
            self.words.append(out_word)
            self.out_cycles.append(self.cycle)
        fire = probe & (probe >> self.n) & ((1 << self.n) - 1)
        if fire or in_fire:
            self.last_move = self.cycle
        k = 0
        while fire:
            if fire & 1:
                self.probe_counts[k] += 1
            fire >>= 1
            k += 1
        self.last_probe = probe
        self.cycle += 1
        if not self.done and (self.cycle > self.case.cycle_bound or self.cycle - self.last_move > self.case.idle_bound):
            self.error = self.stall_message()
        elif self.cycle % CLOCK_EVERY == 0 and not self.done:
            self.check_clock()

    def check_clock(self) -> None:
        """End the run (:attr:`timed_out`) past its wall-clock limit."""
        c = self.case
        elapsed = time.time() - c.launched_at if c.launched_at is not None else time.perf_counter() - self.start
        limit = default_timeout(c.cycles_model, self.cycle, elapsed) if c.timeout_s is None else c.timeout_s
        if elapsed > limit:
            self.timed_out = True
            self.error = (f"simulation timed out after {elapsed:.1f} s (limit {limit:.1f} s) at cycle {self.cycle:,} of "
                          f"the cycle model's {c.cycles_model:,}: {self.busy_unit()}; input took {self.in_index:,} of "
                          f"{c.in_total:,} beats, output gave {len(self.words):,} of {c.out_beats:,}")

    def busy_unit(self) -> str:
        """The unit furthest behind: the unfinished probed stream with the smallest share of its beats."""
        c, n = self.case, self.n
        behind = [(self.probe_counts[k] / c.probe_beats[k], k) for k in range(n) if self.probe_counts[k] < c.probe_beats[k]]
        if not behind:
            return "busy: no unit (every probed stream finished)"
        k = min(behind)[1]
        stage, unit = c.probes[k].split("/", 1)
        what = f"the FIFO into {stage!r} port {unit[4:]}" if unit.startswith("fifo") else f"stage {stage!r} unit {unit}"
        return (f"busy: {what}, output stream at {self.probe_counts[k]:,} of {c.probe_beats[k]:,} beats "
                f"(valid={self.last_probe >> k & 1}, ready={self.last_probe >> (n + k) & 1})")

    @property
    def done(self) -> bool:
        return len(self.words) >= self.case.out_beats and self.in_index >= self.case.in_total

    @property
    def finished(self) -> bool:
        return self.done or self.error is not None

    def stall_message(self) -> str:
        """Which unit's output stream stopped: the first unfinished one not offering a beat."""
        c, n = self.case, self.n
        state = [(name, self.probe_counts[k], c.probe_beats[k], self.last_probe >> k & 1, self.last_probe >> (n + k) & 1)
                 for k, name in enumerate(c.probes)]
        unfinished = [s for s in state if s[1] < s[2]]
        stopped = [s for s in unfinished if not s[3]] or unfinished
        where = "no unit (every probed stream finished)"
        if stopped:
            name, got, want, valid, ready = stopped[0]
            stage, unit = name.split("/", 1)
            what = f"the FIFO into {stage!r} port {unit[4:]}" if unit.startswith("fifo") else f"stage {stage!r} unit {unit}"
            where = f"{what} stopped its output stream after {got} of {want} beats (valid={valid}, ready={ready})"
        held = [s[0] for s in unfinished if s[3] and not s[4]]
        if held:
            where += f"; held by backpressure (valid=1, ready=0): {', '.join(held)}"
        return (f"simulation stalled at cycle {self.cycle} (no stream moved for {self.cycle - self.last_move} cycles; bounds "
                f"{c.idle_bound} idle / {c.cycle_bound} total from the cycle model's {c.cycles_model}): {where}; "
                f"input took {self.in_index} of {c.in_total} beats, output gave {len(self.words)} of {c.out_beats}")

    def result(self, wall_s: float) -> dict[str, Any]:
        return {"words": self.words, "out_cycles": self.out_cycles, "cycles": self.cycle, "error": self.error,
                "probe_counts": self.probe_counts, "wall_s": wall_s, "timed_out": self.timed_out}


def _write_progress(run: NetworkRun) -> None:
    path = os.environ.get(PROGRESS_ENV)
    if path:
        Path(path).write_text(f"{len(run.words)} {run.cycle}")


async def network_bench_run(dut: Any, case: NetworkCase) -> dict[str, Any]:
    """Run ``case`` on ``dut`` (cocotb) from reset; returns the :meth:`NetworkRun.result`."""
    from cocotb.clock import Clock
    from cocotb.triggers import ReadOnly, RisingEdge

    Clock(dut.clk, 10, unit="ns").start()
    iv, ir, ip, ov, orr, op, probe = (dut.i__valid, dut.i__ready, dut.i__payload, dut.o__valid, dut.o__ready,
                                      dut.o__payload, dut.probe)
    iv.value, orr.value, dut.rst.value = 0, 0, 1
    for _ in range(2):
        await RisingEdge(dut.clk)
    dut.rst.value = 0
    run, start, offered = NetworkRun(case), time.perf_counter(), None
    rising, read_only = RisingEdge(dut.clk), ReadOnly()
    while not run.finished:
        await rising
        word = run.offer()
        if word != offered:
            iv.value = int(word is not None)
            if word is not None:
                ip.value = word
            offered = word
        orr.value = int(run.ready())
        await read_only
        out_fire = int(ov.value) and int(orr.value)
        run.observe(word is not None and bool(int(ir.value)), bool(out_fire), int(op.value) if out_fire else 0, int(probe.value))
        if run.cycle % PROGRESS_EVERY == 0:
            _write_progress(run)
    await RisingEdge(dut.clk)
    _write_progress(run)
    return run.result(time.perf_counter() - start)


try:
    import cocotb

    @cocotb.test()
    async def network_bench(dut: Any) -> None:
        """Run the case file of ``$HWACCEL_NET_CASE``; write the result; fail on a stall."""
        result = await network_bench_run(dut, NetworkCase.load(Path(os.environ[CASE_ENV])))
        Path(os.environ[RESULT_ENV]).write_text(json.dumps(result))
        if result["error"]:
            raise SimulationError(result["error"])
except ImportError:  # cocotb missing: the amaranth.sim path still works
    pass


def run_pysim(top: NetworkTop, case: NetworkCase, vcd: Path | None = None, progress: bool = False) -> dict[str, Any]:
    """Run ``case`` on ``top`` in amaranth.sim; returns the :meth:`NetworkRun.result`.

    ``vcd`` writes a waveform; ``progress`` shows a progress bar (tqdm, stderr) over the inputs.

    Raises
    ------
    SimulationError
        The run stalled (the watchdog's message).
    """
    from amaranth.sim import Simulator, SimulatorContext

    run = NetworkRun(case)
    bar = tqdm(total=case.count, unit="img", disable=not progress, leave=False, desc="amaranth")
    per_image = case.out_beats // case.count

    async def bench(ctx: SimulatorContext) -> None:
        while not run.finished:
            if run.cycle % 256 == 0:
                bar.update(len(run.words) // per_image - bar.n)
            word = run.offer()
            ctx.set(top.i.valid, word is not None)
            if word is not None:
                ctx.set(top.i.payload.as_value(), word)
            ready = run.ready()
            ctx.set(top.o.ready, ready)
            _, _, in_ready, out_valid, payload, probe = await ctx.tick().sample(
                top.i.ready, top.o.valid, top.o.payload.as_value(), top.probe)
            out_fire = bool(out_valid) and ready
            run.observe(word is not None and bool(in_ready), out_fire, int(payload) if out_fire else 0, int(probe))

    sim = Simulator(top)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    start = time.perf_counter()
    if vcd is not None:
        with sim.write_vcd(str(vcd)):
            sim.run()
    else:
        sim.run()
    bar.close()
    if run.error:
        raise (SimulationTimeout if run.timed_out else SimulationError)(run.error)
    return run.result(time.perf_counter() - start)


def compare(result: dict[str, Any], case: NetworkCase, want: np.ndarray) -> dict[str, Any]:
    """Output codes of ``result`` against the golden beats ``want`` (``(B, beats, lanes)``; input
    ``k`` of the case's ``count`` expects ``want[k % B]``).

    Returns the verify report's core: ``count``, ``bit_exact``, ``mismatches`` (codes that differ
    or are missing), ``first_mismatches`` (up to 10: image, beat, lane, got, want), ``cycles_rtl``,
    ``first_output_rtl`` and ``cycles_model``.
    """
    want = np.asarray(want, dtype=np.int64)
    if len(want) != case.count:
        want = want[np.arange(case.count) % len(want)]
    flat = want.reshape(-1, case.out_lanes)
    got = np.zeros(flat.shape, dtype=np.int64)
    seen = np.zeros(flat.shape, dtype=bool)
    words = result["words"][:len(flat)]
    if words:
        got[:len(words)] = [unpack_lanes(w, case.out_bits, case.out_lanes, case.out_signed) for w in words]
        seen[:len(words)] = True
    bad = ~seen | (got != flat)
    per_image = want.shape[1]
    first = [{"image": int(b // per_image), "beat": int(b % per_image), "lane": int(lane),
              "got": int(got[b, lane]) if seen[b, lane] else None, "want": int(flat[b, lane])}
             for b, lane in zip(*np.nonzero(bad))][:10]
    cycles = result["out_cycles"]
    return {"count": case.count, "bit_exact": not bad.any() and len(result["words"]) == len(flat),
            "mismatches": int(bad.sum()), "first_mismatches": first, "cycles_rtl": cycles[-1] + 1 if cycles else None,
            "first_output_rtl": cycles[0] if cycles else None, "cycles_model": case.cycles_model}
