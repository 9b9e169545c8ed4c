"""Network bench: a whole :class:`~hwaccel.hw.top.NetworkTop` fed N inputs back to back.

The host builds a :class:`NetworkCase` (input beats, probe names and beat counts, cycle-model
total), the simulation records every output word, the cycle of every output transfer and the
beats each probed stream carried; the host compares with the golden codes (:func:`compare`).
The per-cycle logic (:class:`NetworkRun`) is plain Python shared by the cocotb adapter
(:func:`network_bench`, Verilator/Icarus) and the amaranth.sim adapter (:func:`run_pysim`).

Cycle 0 is the first cycle after reset, in which the first input beat is offered (as in
:mod:`sim.harness`); ``cycles_rtl`` is the cycle of the last output transfer plus one.

Watchdog: a run that moves no probed stream for ``idle_bound`` cycles, or runs past
``cycle_bound`` (both from the cycle model, scaled by the stall probabilities), ends with a
:class:`~hwaccel.errors.SimulationError` naming the unit whose output stream stopped.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from tqdm import tqdm

from hwaccel.errors import SimulationError
from hwaccel.hw.stream import pack_lanes, unpack_lanes
from hwaccel.hw.top import NetworkTop, stage_beats

__all__ = ["NetworkCase", "NetworkRun", "make_case", "tensor_beats", "compare", "run_pysim", "run_rtl", "network_bench",
           "CASE_ENV", "RESULT_ENV", "PROGRESS_ENV"]

CASE_ENV = "HWACCEL_NET_CASE"  # JSON case file the bench reads
RESULT_ENV = "HWACCEL_NET_RESULT"  # JSON result file the bench writes
PROGRESS_ENV = "HWACCEL_NET_PROGRESS"  # file the bench writes "output beats done" into now and then
PROGRESS_EVERY = 2048  # cycles between progress writes


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


def tensor_beats(codes: np.ndarray, lanes: int, per_pixel: bool) -> tuple[np.ndarray, np.ndarray]:
    """Stream beats of a batch of code tensors (``(N, C, H, W)`` streams HWC, ``(N, F)`` as is).

    Returns ``(beats, valid)``, both ``(N, beats_per_item, lanes)``: the lanes past the data
    (each pixel's channels when ``per_pixel``, else each item's whole vector, padded to a whole
    beat) hold 0 and are ``False`` in ``valid``.
    """
    x = np.asarray(codes, dtype=np.int64)
    if x.ndim == 4:
        x = x.transpose(0, 2, 3, 1)
    x = x.reshape(x.shape[0], -1, x.shape[-1]) if per_pixel and x.ndim > 2 else x.reshape(x.shape[0], 1, -1)
    width = -(-x.shape[-1] // lanes) * lanes
    beats = np.zeros(x.shape[:2] + (width,), dtype=np.int64)
    valid = np.zeros(beats.shape, dtype=bool)
    beats[..., :x.shape[-1]], valid[..., :x.shape[-1]] = x, True
    return beats.reshape(x.shape[0], -1, lanes), valid.reshape(x.shape[0], -1, lanes)


def make_case(top: NetworkTop, in_codes: np.ndarray, out_beats: int, cycles_model: int,
              valid_prob: float = 1.0, ready_prob: float = 1.0, seed: int = 0) -> NetworkCase:
    """The case of ``in_codes`` (a batch of input code tensors) through ``top``.

    ``out_beats`` is the number of output beats the batch gives (checked against the beat counts
    of the stages).
    """
    in_layout, out_layout = top.i.payload.shape(), top.o.payload.shape()
    beats, _ = tensor_beats(in_codes, in_layout.length, per_pixel=False)
    bits = in_layout.elem_shape.width
    words = [pack_lanes(b, bits) for b in beats.reshape(-1, in_layout.length).tolist()]
    counts = stage_beats(top.stages, len(words))
    if counts[top.probe_names[-1]] != out_beats:
        raise SimulationError(f"output beats must be {counts[top.probe_names[-1]]} for {len(words)} input beats, not {out_beats}")
    shape = out_layout.elem_shape
    return NetworkCase(words, out_beats, shape.width, out_layout.length, shape.signed, len(in_codes), cycles_model,
                       list(top.probe_names), [counts[n] for n in top.probe_names], valid_prob, ready_prob, seed)


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

    def __post_init__(self) -> None:
        self.rng_in, self.rng_out = random.Random(self.case.seed * 7919 + 1), random.Random(self.case.seed * 7919 + 2)
        self.probe_counts = [0] * len(self.case.probes)
        self.n = len(self.case.probes)

    def offer(self) -> int | None:
        """The input word offered this cycle, or ``None``."""
        if self.in_index >= len(self.case.in_words) or (self.case.valid_prob < 1 and self.rng_in.random() >= self.case.valid_prob):
            return None
        return self.case.in_words[self.in_index]

    def ready(self) -> bool:
        return self.case.ready_prob >= 1 or self.rng_out.random() < self.case.ready_prob

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

    @property
    def done(self) -> bool:
        return len(self.words) >= self.case.out_beats and self.in_index >= len(self.case.in_words)

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
            where = f"stage {stage!r} unit {unit} stopped its output stream after {got} of {want} beats (valid={valid}, ready={ready})"
        held = [s[0] for s in unfinished if s[3] and not s[4]]
        if held:
            where += f"; held by backpressure (valid=1, ready=0): {', '.join(held)}"
        return (f"simulation stalled at cycle {self.cycle} (no stream moved for {self.cycle - self.last_move} cycles; bounds "
                f"{c.idle_bound} idle / {c.cycle_bound} total from the cycle model's {c.cycles_model}): {where}; "
                f"input took {self.in_index} of {len(c.in_words)} beats, output gave {len(self.words)} of {c.out_beats}")

    def result(self, wall_s: float) -> dict[str, Any]:
        return {"words": self.words, "out_cycles": self.out_cycles, "cycles": self.cycle, "error": self.error,
                "probe_counts": self.probe_counts, "wall_s": wall_s}


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


def run_pysim(top: NetworkTop, case: NetworkCase, vcd: Path | None = None) -> dict[str, Any]:
    """Run ``case`` on ``top`` in amaranth.sim; returns the :meth:`NetworkRun.result`.

    Raises
    ------
    SimulationError
        The run stalled (the watchdog's message).
    """
    from amaranth.sim import Simulator, SimulatorContext

    run = NetworkRun(case)

    async def bench(ctx: SimulatorContext) -> None:
        while not run.finished:
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
    if run.error:
        raise SimulationError(run.error)
    return run.result(time.perf_counter() - start)


def compare(result: dict[str, Any], case: NetworkCase, want: np.ndarray, valid: np.ndarray) -> dict[str, Any]:
    """Output codes of ``result`` against ``want`` (``(N, beats, lanes)``, ``valid`` lanes only).

    Returns the verify report's core: ``count``, ``bit_exact``, ``mismatches`` (codes that differ
    or are missing), ``first_mismatches`` (up to 10, with image, beat, lane, got, want),
    ``cycles_rtl``, ``first_output_rtl``, ``cycles_model``.
    """
    got = np.array([unpack_lanes(w, case.out_bits, case.out_lanes, case.out_signed) for w in result["words"]],
                   dtype=np.int64).reshape(-1, case.out_lanes)
    flat_want, flat_valid = want.reshape(-1, case.out_lanes), valid.reshape(-1, case.out_lanes)
    seen = np.zeros(flat_want.shape, dtype=bool)
    seen[:len(got)] = True
    got_full = np.zeros(flat_want.shape, dtype=np.int64)
    got_full[:min(len(got), len(flat_want))] = got[:len(flat_want)]
    bad = flat_valid & (~seen | (got_full != flat_want))
    per_image = want.shape[1]
    first = [{"image": int(b // per_image), "beat": int(b % per_image), "lane": int(lane),
              "got": int(got_full[b, lane]) if seen[b, lane] else None, "want": int(flat_want[b, lane])}
             for b, lane in zip(*np.nonzero(bad))][:10]
    cycles = result["out_cycles"]
    return {"count": case.count, "bit_exact": not bad.any() and len(got) == len(flat_want), "mismatches": int(bad.sum()),
            "first_mismatches": first, "cycles_rtl": cycles[-1] + 1 if cycles else None,
            "first_output_rtl": cycles[0] if cycles else None, "cycles_model": case.cycles_model}


@contextmanager
def _output_to(log: Path) -> Iterator[int]:
    """Send this process's stdout/stderr (and its children's) to ``log``; yields a copy of the old stderr."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = [os.dup(1), os.dup(2)]
    with open(log, "a") as f:
        os.dup2(f.fileno(), 1)
        os.dup2(f.fileno(), 2)
    try:
        yield saved[1]
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        for fd in saved:
            os.close(fd)


def run_rtl(verilog: str, case: NetworkCase, simulator: str = "verilator", name: str = "network",
            waves: Path | None = None, progress: bool = True) -> dict[str, Any]:
    """Build ``verilog`` (module ``top`` of a :class:`NetworkTop`) once, run ``case`` through cocotb.

    The build lives in ``sim_build/<name>/<simulator>`` and is reused while the Verilog is
    unchanged; the simulator's output goes to ``sim.log`` there. A progress bar (tqdm, on stderr)
    follows the output beats when ``progress``. ``waves`` copies the waveform there.

    Raises
    ------
    SimulationError
        The simulator is missing, the bench failed, or the run stalled (the watchdog's message).
    """
    from cocotb_tools.runner import get_results

    from .runner import BUILD_ROOT, ROOT, _build, _tool_env, simulator_missing

    if reason := simulator_missing(simulator):
        raise SimulationError(f"cannot run {simulator}: {reason}")
    build_dir = BUILD_ROOT / name / simulator
    build_dir.mkdir(parents=True, exist_ok=True)
    source = build_dir / "top.v"
    if not source.exists() or source.read_text() != verilog:
        source.write_text(verilog)
    files = {k: build_dir / f for k, f in ((CASE_ENV, "case.json"), (RESULT_ENV, "result.json"), (PROGRESS_ENV, "progress"))}
    case.save(files[CASE_ENV])
    for k in (RESULT_ENV, PROGRESS_ENV):
        files[k].unlink(missing_ok=True)
    log, xml = build_dir / "sim.log", build_dir / "results.xml"
    log.unlink(missing_ok=True)
    env = {**{k: str(v) for k, v in files.items()}, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    with _output_to(log) as stderr_fd:
        runner = _build(simulator, source, build_dir, waves is not None)

        def test() -> None:
            try:  # under pytest the runner exits on a failed test; elsewhere it returns: the results are checked below
                with _tool_env(simulator):
                    runner.test(test_module="sim.bench_network", hdl_toplevel="top", build_dir=build_dir, test_dir=build_dir,
                                extra_env=env, waves=waves is not None, timescale=("1ns", "1ps"), results_xml=str(xml))
            except SystemExit:
                pass

        per_image = case.out_beats // case.count
        with ThreadPoolExecutor(1) as pool, open(os.dup(stderr_fd), "w") as err, \
                tqdm(total=case.count, unit="img", file=err, disable=not progress, leave=False, desc=f"{simulator}") as bar:
            job = pool.submit(test)
            while not job.done():
                time.sleep(0.2)
                text = files[PROGRESS_ENV].read_text().split() if files[PROGRESS_ENV].exists() else []
                if len(text) == 2:
                    bar.update(int(text[0]) // per_image - bar.n)
            job.result()
    result = json.loads(files[RESULT_ENV].read_text()) if files[RESULT_ENV].exists() else None
    if result is not None and result["error"]:
        raise SimulationError(result["error"])
    n_tests, n_failed = get_results(xml) if xml.exists() else (0, 0)
    if result is None or n_tests == 0 or n_failed:
        raise SimulationError(f"network bench on {simulator} failed ({n_failed} of {n_tests} cocotb tests); see {log}")
    if waves is not None:
        dump = build_dir / ("dump.vcd" if simulator == "verilator" else "top.fst")
        shutil.copyfile(dump, waves)
    return result
