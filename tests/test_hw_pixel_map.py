"""PixelMap (DepthToSpace, nearest Upsample): golden by hand, params and cycle formulas, the control
model against the formulas and (cycle by cycle, random stalls) against amaranth.sim, RTL data and cycles."""

from __future__ import annotations

import numpy as np
import pytest
from amaranth.sim import Simulator

from hwaccel.errors import CompileError
from hwaccel.golden.pixel_map import pixel_map
from hwaccel.hw import UNITS
from hwaccel.hw.pixel_map import PixelMap
from hwaccel.hw.stream import pack_lanes, unpack_lanes
from hwaccel.perf.control import control_for
from hwaccel.sim.harness import RUNS, RunConfig, UnitCase, make_endpoints
from hwaccel.sim.pysim import run_pysim
from hwaccel.sim.runner import SIMULATORS, run_rtl, simulator_missing
from hwaccel.units import DepthToSpaceParams, PixelMapParams, UpsampleParams, params_from_dict, params_to_dict, unit_class
from sim.bench_pixel_map import pixel_map_case


def random_params(rng: np.random.Generator) -> PixelMapParams:
    """A DepthToSpace (random crop and cut) or an Upsample, random factors, lanes dividing the channels."""
    channels = int(rng.integers(1, 7))
    simd = int(rng.choice([d for d in range(1, channels + 1) if channels % d == 0]))
    h, w, fh, fw = (int(v) for v in rng.integers(1, 5, 4))
    codes = dict(bits=int(rng.integers(2, 9)), signed=bool(rng.random() < 0.5), simd=simd)
    if rng.random() < 0.5:
        return UpsampleParams(channels, h, w, fh, fw, h * fh, w * fw, **codes)
    ct, cl = int(rng.integers(fh)), int(rng.integers(fw))
    oh, ow = int(rng.integers(1, h * fh - ct + 1)), int(rng.integers(1, w * fw - cl + 1))
    return DepthToSpaceParams(channels, h, w, fh, fw, oh, ow, ct, cl, **codes)


CORNERS = [DepthToSpaceParams(4, 3, 3, 2, 2, 5, 5, 1, 1, simd=2),  # a ConvTranspose k4 s2 p1 (the zoo generator)
           DepthToSpaceParams(2, 5, 4, 3, 2, 13, 7, 2, 1, simd=1),  # rows left over in the last step
           DepthToSpaceParams(3, 1, 1, 1, 1, 1, 1, simd=3),  # one pixel, one phase
           UpsampleParams(3, 2, 3, 2, 3, 4, 9, simd=3), UpsampleParams(1, 4, 1, 1, 4, 4, 4, bits=4, signed=True)]


def test_golden_by_hand() -> None:
    x = np.arange(2 * 2 * 8).reshape(1, 2, 2, 8)  # 2x2 pixels of 4 phases x 2 channels
    p = DepthToSpaceParams(2, 2, 2, 2, 2, 3, 4, crop_top=1)
    got = pixel_map(x, p)[0]
    # output row 0 is phase row 1 of input row 0: phases (1, 0), (1, 1) of pixel (0, 0), then of (0, 1)
    assert got[0].tolist() == [[4, 5], [6, 7], [12, 13], [14, 15]]
    assert got[1].tolist() == [[16, 17], [18, 19], [24, 25], [26, 27]] and got.shape == (3, 4, 2)
    u = pixel_map(np.arange(4).reshape(1, 2, 2, 1), UpsampleParams(1, 2, 2, 2, 1, 4, 2))[0, ..., 0]
    assert u.tolist() == [[0, 1], [0, 1], [2, 3], [2, 3]]


def test_params_by_hand() -> None:
    p = DepthToSpaceParams(4, 3, 3, 2, 2, 5, 5, 1, 1, simd=2)  # 3x3 pixels of 16 channels -> 5x5 of 4
    assert (p.in_channels, p.in_groups, p.groups, p.buffer_rows) == (16, 8, 2, 2)
    # output rows 0..4 read input rows 0, 1, 1, 2, 2
    assert p.step_reads == (24, 24, 0, 24, 0, 0) and p.step_emits == (0,) + (10,) * 5
    # steps of max(reads, emits) cycles; the last ends with its emissions, three registers later
    assert p.step_cycles == (24, 24, 10, 24, 10, 10) and p.first_output_cycles == 24 + 3 and p.total_cycles(1) == 102 + 3
    assert p.image_cycles((5, 5, 4)) == 102 and p.total_cycles(2) - p.total_cycles(1) == 102
    assert (p.in_lanes, p.out_lanes, p.out_codes, p.dsp_blocks(), p.mac_multipliers()) == (2, 2, (8, False), 0, 0)
    assert p.memory_bits() == 2 * 3 * 8 * 2 * 8 and p.source(3, 4) == (2, 2, 2)  # row 4 % 2 = 0, column 5 % 2 = 1
    u = UpsampleParams(3, 2, 3, 2, 3, 4, 9, simd=3)
    assert (u.in_channels, u.buffer_rows, u.step_reads, u.source(3, 5)) == (3, 2, (3, 0, 3, 0, 0), (1, 1, 0))
    assert u.beat_ratio() == 6 and u.total_cycles(1) == 3 + 9 + 9 + 9 + 9 + 3


@pytest.mark.parametrize("kwargs, message", [
    ({"crop_top": 2}, "crop_top must be an integer in [0, 1], not 2"),
    ({"out_height": 7}, "out_height must be an integer in [1, 6], not 7"),
    ({"simd": 3}, "simd must divide channels=4, not 3"),
])
def test_params_errors(kwargs: dict, message: str) -> None:
    args = dict(channels=4, height=3, width=3, factor_h=2, factor_w=2, out_height=5, out_width=5)
    with pytest.raises(CompileError) as err:
        DepthToSpaceParams(**{**args, **kwargs})
    assert str(err.value) == message


def test_manifest_round_trip_and_registry() -> None:
    for p in CORNERS:
        assert params_from_dict(params_to_dict(p)) == p
        assert UNITS[type(p)] is PixelMap
    assert unit_class("depth_to_space") is DepthToSpaceParams and unit_class("UpsampleParams") is UpsampleParams


def _control_cycles(p: PixelMapParams, images: int) -> tuple[int, int]:
    """(first output, total) of the control model alone, input always valid, output always ready."""
    ctl, outs, sent, first, cycle = control_for(p), 0, 0, -1, 0
    while outs < images * p.out_beats:
        fire = ctl.ov
        more = sent < images * p.in_beats
        f0 = ctl.ready(True, more, False)[0] and more
        ctl.tick(f0, False, fire)
        sent += f0
        if fire:
            first = cycle if first < 0 else first
            outs += 1
        cycle += 1
    return first, cycle


def test_control_model_equals_the_formulas() -> None:
    rng = np.random.default_rng(2)
    for p in CORNERS + [random_params(rng) for _ in range(60)]:
        for n in (1, 3):
            assert _control_cycles(p, n) == (p.first_output_cycles, p.total_cycles(n)), (p, n)


def _lockstep(p: PixelMapParams, images: int, seed: int, valid_prob: float, ready_prob: float) -> None:
    """amaranth.sim and the control model under the same random valid/ready: the same ready, valid
    and transfers every cycle, and the golden output."""
    rng = np.random.default_rng(seed)
    case = pixel_map_case(p, images, rng)
    words = [pack_lanes(b, p.bits) for b in case.inputs["i"].beats]
    want = case.outputs["o"].beats
    unit, ctl = PixelMap(p), control_for(p)
    got: list[list[int]] = []

    async def bench(ctx: object) -> None:
        sent, cycle = 0, 0
        while len(got) < len(want):
            assert cycle < 40 * (len(want) + len(words)) + 100, "stalled"
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
                got.append(unpack_lanes(payload, p.bits, p.simd, p.signed))
            ctl.tick(f0, False, fire)
            sent += f0
            cycle += 1

    sim = Simulator(unit)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()
    assert got == [list(b) for b in want]


@pytest.mark.parametrize("index", range(len(CORNERS)))
def test_pysim_lockstep_with_the_control_model(index: int) -> None:
    for seed, (vp, rp) in enumerate([(1.0, 1.0), (0.6, 0.5), (1.0, 0.3), (0.3, 1.0)]):
        _lockstep(CORNERS[index], 2, seed, vp, rp)


def test_pysim_random(tally) -> None:
    rng = np.random.default_rng(11)
    for k in range(10):
        p = random_params(rng)
        _lockstep(p, 2, k, 0.7, 0.6)
        run_pysim(PixelMap(p), pixel_map_case(p, 2, rng, f"pixel_map{k}"))
    tally("PixelMap", "amaranth.sim", 10)


def _model_first_and_total(p: PixelMapParams, case: UnitCase, run: RunConfig, index: int) -> tuple[int, int]:
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
    params = CORNERS + [random_params(rng) for _ in range(3)]
    cases = [pixel_map_case(p, 2, rng, f"pixel_map{k}") for k, p in enumerate(params)]
    result = run_rtl([PixelMap(p) for p in params], cases, "sim.bench_pixel_map", "pixel_map", simulator)
    assert sorted(result) == sorted(c.name for c in cases)
    stalled = RUNS[1]
    for k, (p, case) in enumerate(zip(params, cases)):
        assert tuple(result[case.name][stalled.name]["first_and_total"]) == _model_first_and_total(p, case, stalled, k)
    tally("PixelMap", simulator, len(params))
