"""Stream testbench: driver, monitor (with backpressure), scoreboard and cycle counting.

The logic is plain Python so that two adapters share it: :func:`run_cocotb` (here, for Verilator
and Icarus through cocotb) and :func:`hwaccel.sim.pysim.run_pysim` (amaranth.sim). A run is a loop over
clock cycles; in cycle ``c`` every driver offers a beat (or a random gap), every monitor sets a
random ``ready``, then the settled ``valid``/``ready`` are sampled and a beat whose both are high
transfers at the end of cycle ``c``. Cycle 0 is the first cycle after reset, in which the drivers
first offer input, which is the cycle model's cycle 0 (see :mod:`hwaccel.units.base`).

A :class:`UnitCase` is one unit under test: input beats per input port, expected output beats per
output port (from the golden model) and the cycle model's ``first_output_cycles`` /
``total_cycles``. Several cases can share one simulation (one RTL build): their ports are
prefixed (``u0__i__valid``), see :class:`hwaccel.sim.runner.Bundle`.
"""

from __future__ import annotations

import json
import os
import random
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from hwaccel.errors import SimulationError
from hwaccel.hw.stream import pack_lanes, unpack_lanes

__all__ = ["Port", "UnitCase", "RunConfig", "RUNS", "Driver", "Monitor", "Outcome", "check", "save_cases",
           "load_cases", "run_cocotb", "summary", "CASE_ENV", "RESULT_ENV"]

CASE_ENV = "HWACCEL_SIM_CASE"  # env var naming the case file a cocotb bench reads
RESULT_ENV = "HWACCEL_SIM_RESULT"  # env var naming the JSON file a cocotb bench writes its measurements to
EXTRA_CYCLES = 8  # cycles watched after the last expected beat for spurious output


@dataclass
class Port:
    """One stream port: payload layout and beats (stimulus for inputs, expectation for outputs)."""

    bits: int
    lanes: int
    signed: bool
    beats: list[list[int]]


@dataclass
class UnitCase:
    """A unit under test with its stimulus, golden output and cycle model."""

    name: str
    inputs: dict[str, Port]
    outputs: dict[str, Port]
    first_output_cycles: int
    total_cycles: int
    prefix: str = ""

    def port_name(self, port: str, signal: str) -> str:
        """Flattened Verilog name of ``port``'s ``signal`` (``valid``/``ready``/``payload``)."""
        return f"{self.prefix}__{port}__{signal}" if self.prefix else f"{port}__{signal}"


@dataclass(frozen=True)
class RunConfig:
    """One run of every case: probabilities of offering a beat / being ready in a cycle."""

    name: str
    valid_prob: float = 1.0
    ready_prob: float = 1.0
    seed: int = 0
    check_cycles: bool = False


RUNS = (RunConfig("no_stall", check_cycles=True), RunConfig("random_stalls", 0.6, 0.5, seed=1))


class Driver:
    """Offers a port's beats in order, with random gaps."""

    def __init__(self, port: Port, prob: float, rng: random.Random) -> None:
        self.words = [pack_lanes(b, port.bits) for b in port.beats]
        self.prob, self.rng, self.index = prob, rng, 0
        self.first_cycle: int | None = None

    def offer(self, cycle: int) -> int | None:
        """The payload word offered in ``cycle``, or ``None`` for a gap."""
        if self.index >= len(self.words) or (self.prob < 1 and self.rng.random() >= self.prob):
            return None
        return self.words[self.index]

    def observe(self, cycle: int, valid: int, ready: int) -> None:
        if valid and ready:
            self.first_cycle = cycle if self.first_cycle is None else self.first_cycle
            self.index += 1

    @property
    def done(self) -> bool:
        return self.index >= len(self.words)


class Monitor:
    """Sets a random ``ready`` (backpressure) and records the beats that transfer."""

    def __init__(self, port: Port, prob: float, rng: random.Random) -> None:
        self.port, self.prob, self.rng = port, prob, rng
        self.beats: list[list[int]] = []
        self.cycles: list[int] = []

    def ready(self, cycle: int) -> bool:
        return self.prob >= 1 or self.rng.random() < self.prob

    def observe(self, cycle: int, valid: int, ready: int, payload: int) -> None:
        if valid and ready:
            self.beats.append(unpack_lanes(payload, self.port.bits, self.port.lanes, self.port.signed))
            self.cycles.append(cycle)

    @property
    def done(self) -> bool:
        return len(self.beats) >= len(self.port.beats)


@dataclass
class Outcome:
    """What one run of one case produced."""

    case: UnitCase
    run: RunConfig
    drivers: dict[str, Driver]
    monitors: dict[str, Monitor]
    cycles: int = 0
    wall_s: float = 0.0
    errors: list[str] = field(default_factory=list)

    @property
    def done(self) -> bool:
        """Every input beat accepted and every expected output beat seen."""
        return all(d.done for d in self.drivers.values()) and all(m.done for m in self.monitors.values())

    @property
    def first_and_total(self) -> tuple[int, int] | None:
        """Measured ``(first_output_cycles, total_cycles)``, if any beat came out."""
        cycles = [c for mon in self.monitors.values() for c in mon.cycles]
        return (min(cycles), max(cycles) + 1) if cycles else None


def make_endpoints(case: UnitCase, run: RunConfig, index: int) -> tuple[dict[str, Driver], dict[str, Monitor]]:
    """Drivers and monitors of a case, each with its own seeded random stream."""
    seed = run.seed * 1000003 + index * 101
    drivers = {n: Driver(p, run.valid_prob, random.Random(seed + k)) for k, (n, p) in enumerate(case.inputs.items())}
    monitors = {n: Monitor(p, run.ready_prob, random.Random(seed + 50 + k)) for k, (n, p) in enumerate(case.outputs.items())}
    return drivers, monitors


def watchdog_cycles(case: UnitCase, run: RunConfig) -> int:
    """Cycles after which a run counts as stalled: generous in the stall probabilities."""
    return int(4 * case.total_cycles / min(run.valid_prob, run.ready_prob) ** 2) + 200


def check(outcome: Outcome) -> list[str]:
    """Scoreboard: output beats equal the golden ones; cycles equal the cycle model on no-stall runs."""
    case, errors = outcome.case, list(outcome.errors)
    for name, mon in outcome.monitors.items():
        want, got = mon.port.beats, mon.beats
        bad = [i for i, (w, g) in enumerate(zip(want, got)) if list(w) != list(g)]
        if bad:
            i = bad[0]
            errors.append(f"{name}: {len(bad)} of {len(want)} beats differ; first at beat {i}: got {got[i]}, expected {list(want[i])}")
        if len(got) != len(want):
            errors.append(f"{name}: got {len(got)} beats, expected {len(want)}")
    for name, drv in outcome.drivers.items():
        if not drv.done:
            errors.append(f"{name}: only {drv.index} of {len(drv.words)} input beats were accepted")
    if outcome.run.check_cycles and not errors:
        measured = outcome.first_and_total
        if measured != (case.first_output_cycles, case.total_cycles):
            errors.append(f"cycles: measured (first output, total) {measured}; cycle model says "
                          f"{(case.first_output_cycles, case.total_cycles)}")
    return [f"{case.name} [{outcome.run.name}] {e}" for e in errors]


def raise_failures(outcomes: list[Outcome]) -> None:
    """Raise one :class:`SimulationError` listing every failed case."""
    errors = [e for o in outcomes for e in check(o)]
    if errors:
        raise SimulationError(f"{len(errors)} scoreboard error(s):\n" + "\n".join(errors))


def summary(outcomes: list[Outcome]) -> dict:
    """Measurements per case and run (JSON-ready): measured cycles, simulated cycles, wall time."""
    out: dict = {}
    for o in outcomes:
        out.setdefault(o.case.name, {})[o.run.name] = {
            "first_and_total": o.first_and_total, "model": [o.case.first_output_cycles, o.case.total_cycles],
            "sim_cycles": o.cycles, "wall_s": o.wall_s, "errors": check(o),
        }
    return out


def save_cases(cases: list[UnitCase], path: Path, runs: tuple[RunConfig, ...] = RUNS) -> None:
    """Write cases and runs as JSON for a bench process."""
    path.write_text(json.dumps({"cases": [asdict(c) for c in cases], "runs": [asdict(r) for r in runs]}))


def load_cases(path: Path) -> tuple[list[UnitCase], tuple[RunConfig, ...]]:
    data = json.loads(Path(path).read_text())
    cases = []
    for c in data["cases"]:
        ports = {k: {n: Port(**p) for n, p in c[k].items()} for k in ("inputs", "outputs")}
        cases.append(UnitCase(**{**c, **ports}))
    return cases, tuple(RunConfig(**r) for r in data["runs"])


# -- cocotb adapter ------------------------------------------------------------------------------


@dataclass
class _Wired:
    """A driver or monitor with the DUT handles of its port."""

    end: Any  # Driver or Monitor
    valid: Any
    ready: Any
    payload: Any


def _wire(dut: Any, outcome: Outcome) -> tuple[list[_Wired], list[_Wired]]:
    case = outcome.case
    wired = lambda name, end: _Wired(end, *(getattr(dut, case.port_name(name, s)) for s in ("valid", "ready", "payload")))  # noqa: E731
    return ([wired(n, d) for n, d in outcome.drivers.items()], [wired(n, m) for n, m in outcome.monitors.items()])


async def _cocotb_run(dut: Any, cases: list[UnitCase], run: RunConfig) -> list[Outcome]:
    """One run of every case, from reset."""
    from cocotb.triggers import ReadOnly, RisingEdge

    outcomes = [Outcome(case, run, *make_endpoints(case, run, i)) for i, case in enumerate(cases)]
    wiring = [_wire(dut, o) for o in outcomes]
    drivers = [w for ws, _ in wiring for w in ws]
    monitors = [w for _, ws in wiring for w in ws]
    for w in drivers:
        w.valid.value = 0
    for w in monitors:
        w.ready.value = 0
    dut.rst.value = 1
    for _ in range(2):
        await RisingEdge(dut.clk)
    dut.rst.value = 0
    limit = max(watchdog_cycles(case, run) for case in cases)
    after, cycle, start = 0, 0, time.perf_counter()
    while after < EXTRA_CYCLES and cycle <= limit:
        await RisingEdge(dut.clk)
        for w in drivers:
            word = w.end.offer(cycle)
            w.valid.value = int(word is not None)
            if word is not None:
                w.payload.value = word
        for w in monitors:
            w.ready.value = int(w.end.ready(cycle))
        await ReadOnly()
        for w in drivers:
            w.end.observe(cycle, int(w.valid.value), int(w.ready.value))
        for w in monitors:
            fire = int(w.valid.value) & int(w.ready.value)  # a payload is only defined when it transfers
            w.end.observe(cycle, fire, fire, int(w.payload.value) if fire else 0)
        cycle += 1
        after += all(o.done for o in outcomes)
    await RisingEdge(dut.clk)
    for o in outcomes:
        o.cycles, o.wall_s = cycle, time.perf_counter() - start
        if not o.done:
            o.errors.append(f"stalled: no completion within {limit} cycles (watchdog)")
    return outcomes


async def run_cocotb(dut: Any) -> list[Outcome]:
    """Run the case file named by ``$HWACCEL_SIM_CASE`` on ``dut``; raise on any scoreboard error.

    Writes the measurements (:func:`summary`) to ``$HWACCEL_SIM_RESULT`` when set.
    """
    from cocotb.clock import Clock

    cases, runs = load_cases(Path(os.environ[CASE_ENV]))
    Clock(dut.clk, 10, unit="ns").start()
    outcomes = [o for run in runs for o in await _cocotb_run(dut, cases, run)]
    if RESULT_ENV in os.environ:
        Path(os.environ[RESULT_ENV]).write_text(json.dumps(summary(outcomes)))
    raise_failures(outcomes)
    return outcomes
