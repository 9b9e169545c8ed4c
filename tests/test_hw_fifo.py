"""StreamFifo (cycle formulas, amaranth.sim, RTL) and the harness itself: it must catch wrong data,
lost beats and a wrong cycle model, in amaranth.sim and through cocotb."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from amaranth.sim import Simulator

from hwaccel.errors import CompileError, SimulationError
from hwaccel.hw.fifo import StreamFifo
from hwaccel.units import FifoParams
from hwaccel.sim.harness import UnitCase
from hwaccel.sim.pysim import run_pysim
from hwaccel.sim.runner import SIMULATORS, run_rtl, simulator_missing
from sim.bench_fifo import fifo_case

N_PYSIM = 20
RTL_DEPTHS = (1, 2, 3, 5, 16, 33)


def random_params(rng: np.random.Generator) -> FifoParams:
    bits = int(rng.integers(2, 17))
    return FifoParams(int(rng.integers(1, 12)), int(rng.integers(1, 5)), bits, bool(rng.random() < 0.5))


def test_cycle_formulas_by_hand() -> None:
    # depth 1: one register, full every other cycle; depth 2: memory word + output register, still
    # alternating; depth >= 3: one beat a cycle after a 2-cycle latency
    assert [FifoParams(1).total_cycles(n) for n in (1, 2, 10)] == [2, 4, 20]
    assert [FifoParams(2).total_cycles(n) for n in (1, 2, 10)] == [3, 5, 21]
    assert [FifoParams(8).total_cycles(n) for n in (1, 2, 10)] == [3, 4, 12]
    assert FifoParams(1).first_output_cycles == 1 and FifoParams(3).first_output_cycles == 2


def test_params_errors() -> None:
    with pytest.raises(CompileError) as err:
        FifoParams(0)
    assert str(err.value) == "depth must be an integer >= 1, not 0"


def test_pysim_random(tally) -> None:
    rng = np.random.default_rng(11)
    for k in range(N_PYSIM):
        p = random_params(rng)
        run_pysim(StreamFifo(p), fifo_case(p, int(rng.integers(1, 40)), rng, f"fifo{k}"))
    tally("StreamFifo", "amaranth.sim", N_PYSIM)


@pytest.mark.parametrize("depth", [1, 2, 5])
def test_fifo_accepts_depth_beats_while_blocked(depth: int) -> None:
    fifo = StreamFifo(FifoParams(depth, 1, 8))
    accepted = []

    async def bench(ctx: object) -> None:
        ctx.set(fifo.i.valid, 1)
        for cycle in range(20):
            ctx.set(fifo.i.payload.as_value(), len(accepted))
            *_, ready = await ctx.tick().sample(fifo.i.ready)
            if ready:
                accepted.append(cycle)

    sim = Simulator(fifo)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()
    assert len(accepted) == depth


def _broken_cases(case: UnitCase) -> list[tuple[UnitCase, str]]:
    """The case with a flipped bit, a missing beat, a wrong cycle model, an extra beat; each with the error expected."""
    beats = [list(b) for b in case.outputs["o"].beats]
    n = len(beats)
    wrong = [beats[0], [beats[1][0] ^ 1, *beats[1][1:]], *beats[2:]]
    port = lambda b: replace(case.outputs["o"], beats=b)  # noqa: E731
    return [
        (replace(case, outputs={"o": port(wrong)}), f"1 of {n} beats differ; first at beat 1"),
        (replace(case, outputs={"o": port(beats[:-1])}), f"got {n} beats, expected {n - 1}"),
        (replace(case, total_cycles=case.total_cycles + 1), "cycle model says"),
        (replace(case, outputs={"o": port(beats + [[0] * len(beats[0])])}), "stalled"),
    ]


@pytest.mark.parametrize("index", range(4))
def test_scoreboard_catches_errors_pysim(index: int) -> None:
    p = FifoParams(4, 1, 8)
    broken, message = _broken_cases(fifo_case(p, 6, np.random.default_rng(1)))[index]
    with pytest.raises(SimulationError, match=message):
        run_pysim(StreamFifo(p), broken)


def _rtl_setup() -> tuple[list[FifoParams], list[UnitCase]]:
    rng = np.random.default_rng(3)
    params = [FifoParams(d, int(rng.integers(1, 4)), int(rng.integers(2, 17)), bool(d % 2)) for d in RTL_DEPTHS]
    return params, [fifo_case(p, 40, rng, f"fifo{p.depth}") for p in params]


@pytest.mark.rtl
@pytest.mark.parametrize("simulator", SIMULATORS)
def test_rtl(simulator: str, tally) -> None:
    if reason := simulator_missing(simulator):
        pytest.skip(reason)
    params, cases = _rtl_setup()
    result = run_rtl([StreamFifo(p) for p in params], cases, "sim.bench_fifo", "fifo", simulator)
    assert sorted(result) == sorted(c.name for c in cases)
    tally("StreamFifo", simulator, len(params))


@pytest.mark.rtl
@pytest.mark.parametrize("simulator", SIMULATORS)
def test_rtl_scoreboard_fails_the_test(simulator: str) -> None:
    """Wrong expectations inside the cocotb process become one SimulationError in pytest naming each.

    Same design as :func:`test_rtl` (its build is reused); the last two cases stay correct.
    """
    if reason := simulator_missing(simulator):
        pytest.skip(reason)
    params, cases = _rtl_setup()
    broken = [_broken_cases(c)[k][0] if k < 4 else c for k, c in enumerate(cases)]
    with pytest.raises(SimulationError) as err:
        run_rtl([StreamFifo(p) for p in params], broken, "sim.bench_fifo", "fifo", simulator)
    lines = str(err.value).splitlines()
    for k, case in enumerate(cases):
        hits = [line for line in lines if line.startswith(f"{case.name} ")]
        if k < 4:
            assert any(_broken_cases(case)[k][1] in line for line in hits), (case.name, hits)
        else:
            assert not hits
