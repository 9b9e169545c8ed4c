"""The cycle model: exact against the units' closed forms and against the real units assembled and
simulated in amaranth.sim (every output beat in the same cycle, with and without stalls);
deadlock-free FIFO sizing. Batches read off the periodic run: test_perf_network.py."""

from __future__ import annotations

import random
from dataclasses import replace

import numpy as np
import pytest

from hwaccel.errors import SimulationError
from hwaccel.golden.dataflow import run_dataflow
from hwaccel.golden.fixed import run_golden
from hwaccel.units import MatVecParams, PoolParams, RequantParams, WindowParams
from hwaccel.units.dataflow import INPUT, OUTPUT, Dataflow, Edge, Encoding, Port, Stage
from hwaccel.passes.fold_lanes import FoldTarget
from hwaccel.passes.to_dataflow import to_dataflow
from hwaccel.perf.model import cycle_model
from hwaccel.perf.network import simulate

from dataflow_cases import requant_fixed, small_fixed, torch_fixed, zoo_fixed, zoo_inputs
from dataflow_rtl import simulate_top

ENC = Encoding(8, False, 0, 1.0)


def one_unit(unit, in_shape: tuple[int, int, int], out_shape: tuple[int, int, int], in_lanes: int) -> Dataflow:
    """A dataflow of a single unit between the top-level ports."""
    port = lambda shape, lanes: Port("x", shape, ENC, lanes, ((shape[0] * shape[1] * shape[2],), (0,)), (1,))  # noqa: E731
    stage = Stage("s0", "conv", (unit,), (INPUT,), out_shape, ENC)
    return Dataflow("unit", port(in_shape, in_lanes), port(out_shape, stage.lanes), (stage,),
                    (Edge(INPUT, "s0"), Edge("s0", OUTPUT)), "x", ("y",))


def random_units(rng: random.Random) -> list[tuple]:
    cases = []
    for _ in range(6):
        c, simd = rng.choice([(1, 1), (4, 2), (6, 3), (8, 8)])
        kh, kw, sh, sw, dh, dw = (rng.randint(1, 3) for _ in range(6))
        h, w = rng.randint(dh * (kh - 1) + 1, 9), rng.randint(dw * (kw - 1) + 1, 9)
        p = WindowParams(c, h, w, kh, kw, sh, sw, dh, dw, rng.randint(0, dh * (kh - 1)), rng.randint(0, dw * (kw - 1)),
                         rng.randint(0, dh * (kh - 1)), rng.randint(0, dw * (kw - 1)), simd=simd)
        cases.append((p, (h, w, c), (p.out_height * p.out_width, kh * kw, c), simd))
    for _ in range(6):
        k, out = rng.randint(1, 20), rng.choice([2, 4, 6, 12])
        pe, simd = rng.choice([d for d in (1, 2, 3, 4, 6, 12) if out % d == 0]), rng.randint(1, k)
        weights = np.array([[rng.choice([0, 0, 1, -3]) for _ in range(k)] for _ in range(out)])
        p = MatVecParams(k, out, weights, pe=pe, simd=simd)
        cases.append((p, (1, 1, p.input_folds * simd), (1, 1, out), simd))
    for lanes, channels, lut in [(1, 3, None), (4, 8, tuple(range(256))), (2, 2, None)]:
        p = RequantParams(20, 8, False, (3,), (4,), 7, 0, 255, channels=channels, lut=lut, lanes=lanes)
        cases.append((p, (1, 1, channels), (1, 1, channels), lanes))
    for kind, window in [("max", 4), ("avg", 9), ("max", 1)]:
        rq = RequantParams(16, 8, True, (5,), (6,), 0, -128, 127, channels=4, lanes=2) if kind == "avg" else None
        p = PoolParams(kind, window, 8, True, 4, requant=rq, lanes=2)
        cases.append((p, (1, window, 4), (1, 1, 4), 2))
    return cases


@pytest.mark.parametrize("images", [1, 3])
def test_single_units_match_their_closed_forms(images):
    """The network simulation of one unit gives the params' own first-output and total cycles
    (closed forms the unit benches check against the RTL); one image is one unit input here."""
    for unit, in_shape, out_shape, lanes in random_units(random.Random(images)):
        run = simulate(one_unit(unit, in_shape, out_shape, lanes), images)
        assert (run.first_output, run.cycles) == (unit.first_output_cycles, unit.total_cycles(images)), unit


def _input_beats(graph, df, x) -> np.ndarray:
    codes = run_golden(graph, {"input": x}, outputs=[df.input.value])[df.input.value]
    return df.input.to_stream(codes.astype(np.int64)).reshape(-1, df.input.lanes)


def _stalls(seed: int, valid_prob: float, ready_prob: float):
    rng = np.random.default_rng(seed)
    valid, ready = rng.random(1 << 18) < valid_prob, rng.random(1 << 18) < ready_prob
    return (lambda c: bool(valid[c])), (lambda c: bool(ready[c]))


def _compare_with_rtl(graph, df, x, stalls=(None, None), top=None) -> None:
    """Model vs amaranth.sim: every output beat's cycle, and its data against run_dataflow."""
    n = len(x)
    model = simulate(df, n, valid=stalls[0], ready=stalls[1], keep_beats=True)
    got, cycles = simulate_top(df, _input_beats(graph, df, x), n * df.output.beats, *stalls, top=top)
    assert cycles == model.out_cycles
    want = run_dataflow(df, {"input": x})[df.output.value]
    np.testing.assert_array_equal(df.output.from_stream(np.array(got).reshape(n, df.output.beats, df.output.lanes)), want)


CASES = {
    "cnn": lambda tmp: (zoo_fixed("cnn"), zoo_inputs("cnn", 2), None),
    "dbn-luts": lambda tmp: (zoo_fixed("dbn"), zoo_inputs("dbn", 3), FoldTarget(luts=30_000)),
    "resnet": lambda tmp: (zoo_fixed("resnet"), zoo_inputs("resnet", 2), None),
    "dscnn": lambda tmp: (zoo_fixed("dscnn"), zoo_inputs("dscnn", 1), None),
    "pools": lambda tmp: (*small_fixed("pools"), None),
    "concat": lambda tmp: (*small_fixed("concat_transpose"), None),
    "requant": lambda tmp: (*requant_fixed(), None),
    "conv_variants": lambda tmp: (*torch_fixed(tmp, "conv_variants", "qdq-uint8-per-channel"), None),
    "resnet_bn": lambda tmp: (*torch_fixed(tmp, "resnet_bn", "qdq-int8-per-tensor"), None),
}


@pytest.mark.parametrize("case", list(CASES))
def test_model_equals_units_in_amaranth_sim(tmp_path, case):
    graph, x, target = CASES[case](tmp_path)
    df = to_dataflow(graph, target)
    _compare_with_rtl(graph, df, x[:2])


@pytest.mark.parametrize("case, seed", [("resnet", 1), ("concat", 2), ("dbn-luts", 3), ("pools", 4)])
def test_model_equals_units_with_random_stalls(tmp_path, case, seed):
    graph, x, target = CASES[case](tmp_path)
    df = to_dataflow(graph, target)
    _compare_with_rtl(graph, df, x[:2], _stalls(seed, 0.6, 0.5))


def test_model_equals_the_network_top(tmp_path):
    """The top level of hw/top.py follows the same netlist contract (resnet: forks and a skip FIFO)."""
    graph, x, _ = CASES["resnet"](tmp_path)
    df = to_dataflow(graph)
    _compare_with_rtl(graph, df, x[:1])
    _compare_with_rtl(graph, df, x[:1], _stalls(9, 0.5, 0.7))


def test_cnn_report_by_hand():
    """conv0's window: step 0 reads 2 rows (16 beats), then 8 rows of 8 windows x 9 taps = 576: 592
    cycles an image, the bottleneck. 23680 MACs on 8 + 32 + 1 MAC multipliers (conv0 1 x 8, conv2
    8 x 4, dense4 1 x 1: the fewest DSP blocks at 592, see test_default_folding_of_the_cnn_by_hand)
    over 592 cycles, less the MACs of dense4's zero weights past its first output fold (its 1 x 1
    tiles, skipped, no cycle)."""
    df = to_dataflow(zoo_fixed("cnn"))
    r = cycle_model(df, batch=10, clock_mhz=200)
    assert r.interval_cycles == 592 and r.throughput_fps == pytest.approx(200e6 / 592)
    assert r.macs == 64 * 8 * 9 + 16 * 16 * 72 + 64 * 10
    dense = df.stages[-1].unit(MatVecParams)
    assert (dense.pe, dense.simd) == (1, 1)
    zero_tiles = int((np.asarray(dense.weights)[1:] == 0).sum())
    assert zero_tiles >= 1  # the case this test pins: a pruned tile's MACs are not work done
    assert r.mac_multipliers == 41 and r.mac_utilization == pytest.approx((23680 - zero_tiles) / (41 * 592))
    assert r.mac_utilization >= 0.9
    conv0 = r.layers[0]
    assert (conv0.lanes_in, conv0.lanes_out, conv0.interval_cycles, conv0.mac_utilization) == (1, 8, 592, pytest.approx(576 / 592))
    assert (conv0.simd, conv0.pe) == (1, 8)
    assert r.total_cycles == simulate(df, 10).cycles and r.latency_cycles == simulate(df, 10).first_output


@pytest.mark.parametrize("case", ["resnet", "concat", "dscnn", "resnet_bn"])
def test_sized_joins_never_deadlock_under_stalls(tmp_path, case):
    graph, x, target = CASES[case](tmp_path)
    df = to_dataflow(graph, target)
    for seed, (vp, rp) in enumerate([(0.2, 0.9), (0.9, 0.1), (0.3, 0.3)]):
        run = simulate(df, 2, valid=_stalls(seed, vp, rp)[0], ready=_stalls(seed + 10, vp, rp)[1])
        assert run.cycles > 0


def test_a_join_fifo_too_small_deadlocks_and_the_watchdog_names_the_stuck_units():
    df = to_dataflow(zoo_fixed("resnet"), fifos=False)
    edges = tuple(replace(e, fifo=replace(e.fifo, depth=2)) if e.dst == "add3" and e.src == "conv0" else e for e in df.edges)
    with pytest.raises(SimulationError, match=r"deadlock: no stream transferred for \d+ cycles .* blocked: .*conv0"):
        simulate(df.replace(edges=edges), 1)


def test_array_lanes_by_hand():
    w = np.zeros((4, 36), np.int64)  # a depthwise 3x3 over 4 channels: output o reads tap*4 + o
    for o in range(4):
        w[o, [t * 4 + o for t in range(9)]] = o + 1
    assert MatVecParams(36, 4, w, pe=4, simd=4).array_lanes(groups=4, channels=4) == 4  # the diagonal
    # pe 2: fold nf holds outputs 2nf + p, so lane (p, s) serves channel s = 2nf + p: 2 lanes per p
    assert MatVecParams(36, 4, w, pe=2, simd=4).array_lanes(groups=4, channels=4) == 4
    dense = MatVecParams(3, 2, [[0, 0, 0], [1, 0, 0]], pe=2, simd=3)
    assert dense.array_lanes() == 6 and len(dense.live_lanes) == 1  # value zeros count, pruned multipliers do not exist


@pytest.mark.parametrize("name", ["mlp", "dbn", "dscnn"])
def test_mac_utilization_never_exceeds_one(name):
    r = cycle_model(to_dataflow(zoo_fixed(name)))
    assert 0 < r.mac_utilization <= 1 and all(l.mac_utilization <= 1 for l in r.layers)
