"""FIFO depths from the analytic schedule (hwaccel/perf/schedule.py): with them the network runs at
its slowest stage's own interval, checked by one cycle-model run per network (the zoo, the small
layout cases, other foldings, and the MLPerf Tiny networks in the slow tests); joins keep their
deadlock-free depth; the schedule's reads never precede its writes."""

from __future__ import annotations

import numpy as np
import pytest

from hwaccel.passes.fold_lanes import FoldTarget
from hwaccel.passes.size_fifos import join_depth, size_fifos
from hwaccel.passes.to_dataflow import to_dataflow
from hwaccel.perf.network import simulate
from hwaccel.perf.schedule import FIFO_LATENCY, _paced, _window, bottleneck, first_image, schedule, steady_interval
from hwaccel.units import WindowParams
from hwaccel.units.dataflow import Dataflow

from dataflow_cases import SMALL, ZOO_COMPILED, small_fixed, zoo_fixed


def assert_first_image_is_the_cycle_model(df: Dataflow) -> None:
    """compile's analytic report (the schedule at the sized FIFOs) equals a cycle-model run of one input."""
    first, run = first_image(df), simulate(df, 1)
    assert (first.first_output, first.cycles) == (run.first_output, run.cycles)
    assert (first.stage_first_in, first.stage_first_out) == (run.stage_first_in, run.stage_first_out)


def assert_fifos_do_not_limit(df: Dataflow) -> None:
    """One endless cycle-model run: the interval is the slowest stage's own; joins hold an image;
    and the schedule's first image is the cycle model's."""
    assert_first_image_is_the_cycle_model(df)
    run = simulate(df, None, stop_periodic=True)
    assert run.period is not None
    _, k, p = run.period
    assert steady_interval(df) >= bottleneck(df)
    assert p / k == steady_interval(df), (df.name, [e.fifo.depth for e in df.edges if e.fifo is not None])
    for e in df.edges:
        if e.fifo is not None and e.dst != "output" and df.stage(e.dst).kind in ("add", "concat"):
            assert e.fifo.depth >= join_depth(df, e)


@pytest.mark.parametrize("name", ZOO_COMPILED)
def test_zoo_runs_at_its_slowest_stage(name):
    assert_fifos_do_not_limit(to_dataflow(zoo_fixed(name)))


@pytest.mark.parametrize("case", SMALL)
def test_small_cases_run_at_their_slowest_stage(case):
    assert_fifos_do_not_limit(to_dataflow(small_fixed(case)[0]))


@pytest.mark.parametrize("name, target", [("resnet", FoldTarget(dsp=50)), ("resnet", FoldTarget(dsp=100)),
                                          ("dscnn", FoldTarget(dsp=50)), ("cnn", FoldTarget(dsp=50)),
                                          ("dbn", FoldTarget(dsp=64))])
def test_other_foldings_run_at_their_slowest_stage(name, target):
    assert_fifos_do_not_limit(to_dataflow(zoo_fixed(name), target))


def test_the_schedule_reads_each_beat_after_it_is_written_and_sizing_is_idempotent():
    df = to_dataflow(zoo_fixed("resnet"), fifos=False)
    for times in schedule(df):
        assert len(times.written) == len(times.read)
        assert (times.read >= times.written + FIFO_LATENCY).all()
        assert (np.diff(times.read) > 0).all()
    sized = size_fifos(df)
    assert [e.fifo for e in size_fifos(sized).edges] == [e.fifo for e in sized.edges]


@pytest.mark.slow
@pytest.mark.parametrize("name", ["ad08", "resnet8", "dscnn"])
def test_mlperf_tiny_runs_at_its_slowest_stage(name, tmp_path):
    pytest.importorskip("torch")
    pytest.importorskip("onnxruntime")
    from mlperf_tiny import quantized_model

    from hwaccel.api.compiler import fixed_model

    fixed, _ = fixed_model(str(quantized_model(name, tmp_path)), None)
    df = to_dataflow(fixed, FoldTarget(multipliers=256))
    # ResNet-8's image-sized join FIFOs take hundreds of images to become periodic: three suffice
    # to see images 2 and 3 leave one steady interval apart
    ends = simulate(df, 3).image_ends
    assert ends[2] - ends[1] == df.folding["steady_interval"] == steady_interval(df)
    assert steady_interval(df) >= bottleneck(df)
    assert_first_image_is_the_cycle_model(df)


def _window_walk(p: WindowParams, a: np.ndarray, lb: np.ndarray, images: int) -> tuple[np.ndarray, np.ndarray]:
    """The window's schedule step by step: each step starts the cycle after the previous one's last
    read or emit, its reads and emits paced from its start (the reference for the closed form)."""
    reads, emits = np.empty(len(a), np.int64), np.empty(len(lb), np.int64)
    start = ri = ei = 0
    for nr, ne in list(zip(p.step_reads, p.step_emits)) * images:
        end = start
        if nr:
            reads[ri:ri + nr] = t = _paced(np.maximum(a[ri:ri + nr], start + np.arange(nr)))
            end, ri = max(end, int(t[-1])), ri + nr
        if ne:
            emits[ei:ei + ne] = t = _paced(np.maximum(lb[ei:ei + ne], start + np.arange(ne)))
            end, ei = max(end, int(t[-1])), ei + ne
        start = end + 1
    return reads, emits + p.latency


def test_window_schedule_equals_its_step_by_step_walk():
    rng = np.random.default_rng(11)
    checked = 0
    while checked < 150:
        h, w = (int(v) for v in rng.integers(1, 8, 2))
        kh, kw = int(rng.integers(1, h + 1)), int(rng.integers(1, w + 1))
        c = int(rng.integers(1, 5))
        pads = {k: int(rng.integers(0, 2)) * (kh if k in ("pad_top", "pad_bottom") else kw) // 2
                for k in ("pad_top", "pad_left", "pad_bottom", "pad_right")}  # a pad smaller than the kernel
        p = WindowParams(channels=c, height=h, width=w, kernel_h=kh, kernel_w=kw, stride_h=int(rng.integers(1, 3)),
                         stride_w=int(rng.integers(1, 3)), simd=int(rng.choice([d for d in range(1, c + 1) if c % d == 0])),
                         **pads)
        images = int(rng.integers(1, 4))
        a = np.sort(rng.integers(0, 40 * images * p.in_beats, images * p.in_beats))
        lb = np.sort(rng.integers(-50, 40 * images * p.out_beats, images * p.out_beats))
        if rng.random() < 0.3:
            lb[:] = -(1 << 40)  # no bound
        (reads,), emits = _window(p, a, lb, images)
        want_reads, want_emits = _window_walk(p, a, lb, images)
        assert np.array_equal(reads, want_reads) and np.array_equal(emits, want_emits), p
        checked += 1


@pytest.mark.parametrize("name", ZOO_COMPILED)
def test_starting_from_the_first_image_settles_where_the_plain_iteration_does(name, monkeypatch):
    """The forward schedule starts each stage from its first image's settled bounds, shifted for the
    later images (a start at or below the answer): every beat as the iteration from no bounds has it."""
    from hwaccel.perf import schedule as sched
    for target in (FoldTarget(), FoldTarget(dsp=400)):
        df = to_dataflow(zoo_fixed(name), target, fifos=False)
        fast = sched._forward_schedule(df, 3, bottleneck(df))
        with monkeypatch.context() as m:
            m.setattr(sched, "_later_images_shifted", lambda *args: None)
            plain = sched._forward_schedule(df, 3, bottleneck(df))
        for k in plain.produced:
            np.testing.assert_array_equal(fast.produced[k], plain.produced[k])
        for k in plain.reads:
            np.testing.assert_array_equal(fast.reads[k], plain.reads[k])
        for k in plain.bounds:
            for a, b in zip(fast.bounds[k], plain.bounds[k]):
                assert (a is None and b is None) or np.array_equal(a, b)


@pytest.mark.parametrize("name", ZOO_COMPILED)
def test_one_image_is_the_first_image_of_three_and_sized_dataflows_share_the_schedules(name):
    from hwaccel.errors import CompileError
    from hwaccel.perf import schedule as sched
    df = to_dataflow(zoo_fixed(name), fifos=False)
    one, three = sched._forward_schedule(df, 1, 0), sched._forward_schedule(df, 3, bottleneck(df))
    cut = sched._first_of(three, 3)
    for k in one.produced:
        np.testing.assert_array_equal(cut.produced[k], one.produced[k])
    for k in one.reads:
        np.testing.assert_array_equal(cut.reads[k], one.reads[k])
    for k in one.bounds:
        assert all((a is None and b is None) or np.array_equal(a, b) for a, b in zip(cut.bounds[k], one.bounds[k]))
    sized = size_fifos(df)
    assert sched._FORWARDS[sized] is sched._FORWARDS[df]
    with pytest.raises(CompileError, match="FIFO depths only"):
        sched.share_forwards(df, to_dataflow(zoo_fixed("cnn" if name == "mlp" else "mlp"), fifos=False))
