"""Regroup: params and cycle formulas, the control model against the formulas and (cycle by cycle,
with random stalls) against amaranth.sim, RTL data and cycles, the manifest and the golden dataflow."""

from __future__ import annotations

import numpy as np
import pytest
from amaranth.sim import Simulator

from hwaccel.errors import CompileError
from hwaccel.hw.regroup import Regroup, write_offsets
from hwaccel.hw.stream import pack_lanes, unpack_lanes
from hwaccel.perf.control import control_for
from hwaccel.sim.harness import RUNS, RunConfig, UnitCase, make_endpoints
from hwaccel.sim.pysim import run_pysim
from hwaccel.sim.runner import SIMULATORS, run_rtl, simulator_missing
from hwaccel.units import RegroupParams, params_from_dict, params_to_dict, unit_class
from sim.bench_regroup import regroup_case

# (length, lanes_in, lanes_out): both dividing, neither, in > out, in < out, equal, one beat, one lane
CORNERS = [(48, 16, 24), (144, 16, 24), (64, 16, 16), (10, 3, 4), (10, 4, 3), (12, 12, 1), (12, 1, 12), (7, 7, 7),
           (5, 2, 2), (16, 2, 16), (17, 8, 3), (9, 9, 2), (14, 7, 8), (1, 1, 1), (33, 5, 32)]


def random_params(rng: np.random.Generator) -> RegroupParams:
    length = int(rng.integers(1, 40))
    return RegroupParams(length, int(rng.integers(1, length + 1)), int(rng.integers(1, length + 1)),
                         int(rng.integers(2, 17)), bool(rng.random() < 0.5))


def test_params_by_hand() -> None:
    p = RegroupParams(10, 3, 4, 8, True)
    assert (p.in_counts, p.out_counts, p.needs, p.capacity) == ((3, 3, 3, 1), (4, 4, 2), (1, 2, 3), 9)
    # output beat 0 needs input beat 1 (cycle 1): loads at the edge of cycle 2, leaves in cycle 3
    assert p.first_output_cycles == 3 and p.beat_ratio() == pytest.approx(3 / 4)
    # input-bound: 4 input beats a vector; the last output beat leaves 2 cycles after the last input
    assert [p.total_cycles(n) for n in (1, 2, 3)] == [6, 10, 14] and p.input_cycles() == 4
    q = RegroupParams(48, 16, 24)  # output-bound? 3 in, 2 out: input-bound again
    assert (q.first_output_cycles, q.total_cycles(1), q.input_cycles(), q.capacity) == (3, 5, 3, 48)
    r = RegroupParams(64, 32, 8)  # output-bound: 8 output beats a vector, one a cycle after the first
    assert (r.first_output_cycles, [r.total_cycles(n) for n in (1, 2)], r.input_cycles()) == (2, [10, 18], 8)
    assert (r.in_lanes, r.out_lanes, r.out_codes, r.dsp_blocks(), r.mac_multipliers()) == (32, 8, (8, False), 0, 0)
    assert r.inputs_per_image((4, 5, 100)) == 20 and r.image_cycles((4, 5, 100)) == 160
    assert r.memory_bits() == (r.capacity + 8) * 8 and r.lut_estimate() > 0
    assert [c.uses for c in r.asic_counts((4, 5, 100), 0)] == [20 * 10, 20 * 8]


@pytest.mark.parametrize("kwargs, message", [
    ({"length": 0, "lanes_in": 1, "lanes_out": 1}, "length must be an integer >= 1, not 0"),
    ({"length": 4, "lanes_in": 5, "lanes_out": 1}, "lanes_in must be an integer in [1, 4], not 5"),
    ({"length": 4, "lanes_in": 1, "lanes_out": 0}, "lanes_out must be an integer in [1, 4], not 0"),
])
def test_params_errors(kwargs: dict, message: str) -> None:
    with pytest.raises(CompileError) as err:
        RegroupParams(**kwargs)
    assert str(err.value) == message


def test_manifest_round_trip_and_registry() -> None:
    p = RegroupParams(27, 3, 8, 6, True)
    assert params_from_dict(params_to_dict(p)) == p
    assert unit_class("regroup") is RegroupParams and unit_class("RegroupParams") is RegroupParams


def _control_cycles(p: RegroupParams, vectors: int) -> tuple[int, int]:
    """(first output, total) of the control model alone, input always valid, output always ready."""
    ctl, outs, sent, first, cycle = control_for(p), 0, 0, -1, 0
    while outs < vectors * p.out_beats:
        fire = ctl.ov
        f0 = ctl.ready(True, sent < vectors * p.in_beats, False)[0] and sent < vectors * p.in_beats
        ctl.tick(f0, False, fire)
        sent += f0
        if fire:
            first = cycle if first < 0 else first
            outs += 1
        cycle += 1
    return first, cycle


def test_control_model_equals_the_formulas() -> None:
    """Exhaustive over small vectors: the capacity sustains the formulas' rate (one beat a cycle each side)."""
    for length in range(1, 21):
        for a in range(1, length + 1):
            for b in range(1, length + 1):
                p = RegroupParams(length, a, b)
                for n in (1, 2, 5):
                    assert _control_cycles(p, n) == (p.first_output_cycles, p.total_cycles(n)), (length, a, b, n)


def test_write_offsets_cover_every_landing_slot() -> None:
    """Every slot an input beat lands at in a stalled run of the control model is a multiplexer input."""
    rng = np.random.default_rng(5)
    for length, a, b in CORNERS:
        p = RegroupParams(length, a, b)
        offsets, ctl = set(write_offsets(p)), control_for(p)
        for _ in range(400):
            ov = ctl.ov
            o_ready = bool(rng.random() < 0.5)
            f0 = ctl.ready(o_ready, True, False)[0] and bool(rng.random() < 0.7)
            free = not ov or o_ready
            shift = ctl.outs[ctl.k] if free and ctl.fill >= ctl.outs[ctl.k] else 0
            if f0:
                assert ctl.fill - shift in offsets, (length, a, b, ctl.fill, shift)
            ctl.tick(f0, False, ov and o_ready)


def _lockstep(p: RegroupParams, vectors: int, seed: int, valid_prob: float, ready_prob: float) -> None:
    """amaranth.sim and the control model under the same random valid/ready: the same ready, valid
    and transfers every cycle, and the output codes the elements in order."""
    rng = np.random.default_rng(seed)
    case = regroup_case(p, vectors, rng)
    words = [pack_lanes(b, p.bits) for b in case.inputs["i"].beats]
    want = case.outputs["o"].beats
    unit, ctl = Regroup(p), control_for(p)
    got: list[list[int]] = []

    async def bench(ctx: object) -> None:
        sent, cycle = 0, 0
        while len(got) < len(want):
            assert cycle < 40 * len(want) + 100, "stalled"
            offer = sent < len(words) and bool(rng.random() < valid_prob)
            ready = bool(rng.random() < ready_prob)
            ctx.set(unit.i.valid, offer)
            ctx.set(unit.i.payload.as_value(), words[min(sent, len(words) - 1)])
            ctx.set(unit.o.ready, ready)
            _, _, i_ready, o_valid, payload = await ctx.tick().sample(unit.i.ready, unit.o.valid, unit.o.payload.as_value())
            m_ready = ctl.ready(ready, offer, False)[0]
            assert (bool(i_ready), bool(o_valid)) == (m_ready, ctl.ov), (p, cycle)
            f0, fire = offer and m_ready, ctl.ov and ready
            if fire:
                got.append(unpack_lanes(payload, p.bits, p.lanes_out, p.signed))
            ctl.tick(f0, False, fire)
            sent += f0
            cycle += 1

    sim = Simulator(unit)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()
    assert got == [list(b) for b in want]


@pytest.mark.parametrize("corner", CORNERS)
def test_pysim_lockstep_with_the_control_model(corner: tuple[int, int, int]) -> None:
    length, a, b = corner
    p = RegroupParams(length, a, b, 5, length % 2 == 1)
    for seed, (vp, rp) in enumerate([(1.0, 1.0), (0.6, 0.5), (1.0, 0.3), (0.3, 1.0)]):
        _lockstep(p, 4, seed, vp, rp)


def test_pysim_random(tally) -> None:
    rng = np.random.default_rng(11)
    for k in range(12):
        p = random_params(rng)
        _lockstep(p, 3, k, 0.7, 0.6)
        run_pysim(Regroup(p), regroup_case(p, 3, rng, f"regroup{k}"))
    tally("Regroup", "amaranth.sim", 12)


def _model_first_and_total(p: RegroupParams, case: UnitCase, run: RunConfig, index: int) -> tuple[int, int]:
    """The control model driven by the same random drivers and monitors as the bench's ``run``."""
    drivers, monitors = make_endpoints(case, run, index)
    drv, mon = drivers["i"], monitors["o"]
    ctl, cycles, cycle = control_for(p), [], 0
    while not mon.done:
        word = drv.offer(cycle)
        ready = mon.ready(cycle)
        f0 = ctl.ready(ready, word is not None, False)[0] and word is not None
        fire = ctl.ov and ready
        drv.observe(cycle, word is not None, f0)
        if fire:
            cycles.append(cycle)
            mon.beats.append([])
        ctl.tick(f0, False, fire)
        cycle += 1
    return cycles[0], cycles[-1] + 1


@pytest.mark.rtl
@pytest.mark.parametrize("simulator", SIMULATORS)
def test_rtl(simulator: str, tally) -> None:
    """Data, the formulas on the no-stall run and the control model on the random-stall run."""
    if reason := simulator_missing(simulator):
        pytest.skip(reason)
    rng = np.random.default_rng(3)
    params = [RegroupParams(length, a, b, int(rng.integers(2, 17)), bool(rng.random() < 0.5)) for length, a, b in CORNERS]
    params += [random_params(rng) for _ in range(5)]
    cases = [regroup_case(p, 5, rng, f"regroup{k}") for k, p in enumerate(params)]
    result = run_rtl([Regroup(p) for p in params], cases, "sim.bench_regroup", "regroup", simulator)
    assert sorted(result) == sorted(c.name for c in cases)
    stalled = RUNS[1]
    for k, (p, case) in enumerate(zip(params, cases)):
        assert tuple(result[case.name][stalled.name]["first_and_total"]) == _model_first_and_total(p, case, stalled, k)
    tally("Regroup", simulator, len(params))


def test_schedule_equals_the_control_model() -> None:
    """perf/schedule.py's recurrence against the control model fed at random arrival cycles and
    drained by a consumer that takes each beat at a random cycle after it is valid."""
    from hwaccel.perf.schedule import _regroup, room_after

    rng = np.random.default_rng(8)
    for length, a, b in CORNERS:
        p = RegroupParams(length, a, b)
        vectors = 4
        arrive = np.cumsum(rng.integers(0, 3, size=vectors * p.in_beats)).astype(np.int64)
        delays = rng.integers(0, 4, size=vectors * p.out_beats)
        ctl, reads, valid, taken, cycle = control_for(p), [], [], [], 0
        while len(taken) < vectors * p.out_beats:
            j, k = len(reads), len(taken)
            offer = j < len(arrive) and cycle >= arrive[j]
            if ctl.ov and len(valid) == k:
                valid.append(cycle)
            ready = ctl.ov and cycle >= valid[k] + delays[k]
            f0 = ctl.ready(ready, offer, False)[0] and offer
            if f0:
                reads.append(cycle)
            if ready:
                taken.append(cycle)
            ctl.tick(f0, False, ready)
            cycle += 1
        got_reads, got_valid = _regroup(p, arrive, room_after(np.array(taken), 1), 1)
        assert got_reads[0].tolist() == reads and got_valid.tolist() == valid, (length, a, b)


def _with_regroups(df):
    """``df`` with every MatVec refolded to other lanes behind and before regroups."""
    from dataclasses import replace

    from hwaccel.units import MatVecParams

    stages = []
    for s in df.stages:
        mv = s.unit(MatVecParams)
        if mv is None:
            stages.append(s)
            continue
        k = s.units.index(mv)
        a, b = s.units[k - 1].out_lanes if k else mv.simd, mv.pe
        simd = next(d for d in (3, 5, 2, 1) if d <= mv.in_features and d != a)
        pe = next(d for d in (3, 2, 1) if d <= mv.out_features and d != b)
        bits = s.units[k - 1].out_codes if k else (df.input.encoding.bits, df.input.encoding.signed)
        new = mv.refold(pe, simd)
        units = (*s.units[:k], RegroupParams(mv.in_features, a, simd, *bits), new,
                 RegroupParams(mv.out_features, pe, b, *new.out_codes), *s.units[k + 1:])
        stages.append(replace(s, units=units))
    return df.replace(stages=tuple(stages))


def test_network_with_regroups_in_amaranth_sim() -> None:
    """cnn with regroups around every MatVec: run_dataflow unchanged, FIFOs from the schedule let it
    run at its slowest stage, and the cycle model equals the units in amaranth.sim beat for beat."""
    from hwaccel.golden.dataflow import run_dataflow
    from hwaccel.golden.fixed import run_golden
    from hwaccel.passes.size_fifos import size_fifos
    from hwaccel.passes.to_dataflow import to_dataflow
    from hwaccel.perf.network import simulate
    from hwaccel.perf.schedule import steady_interval

    from dataflow_cases import zoo_fixed, zoo_inputs
    from dataflow_rtl import simulate_top

    graph, x = zoo_fixed("cnn"), zoo_inputs("cnn", 2)
    plain = to_dataflow(graph, fifos=False)
    df = size_fifos(_with_regroups(plain))
    count = lambda d: sum(isinstance(u, RegroupParams) for s in d.stages for u in s.units)  # noqa: E731
    assert count(df) == count(plain) + 2 * 3  # the default folding may regroup already
    want = run_dataflow(plain, {"input": x})[plain.output.value]
    assert np.array_equal(run_dataflow(df, {"input": x})[df.output.value], want)
    run = simulate(df, None, stop_periodic=True)
    assert run.period is not None and run.period[2] / run.period[1] == steady_interval(df)
    model = simulate(df, 2, keep_beats=True)
    codes = run_golden(graph, {"input": x}, outputs=[df.input.value])[df.input.value]
    beats = df.input.to_stream(codes.astype(np.int64)).reshape(-1, df.input.lanes)
    got, cycles = simulate_top(df, beats, 2 * df.output.beats)
    assert cycles == model.out_cycles
    assert np.array_equal(df.output.from_stream(np.array(got).reshape(2, df.output.beats, df.output.lanes)), want)
