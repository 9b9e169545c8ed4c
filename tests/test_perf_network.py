"""The endless run the cycle model reads every batch from: image N leaves it in the cycle it leaves a
run of exactly N inputs, for every N (the extrapolation past ``n0 + k`` included), on the zoo, the
small layout cases and variants with random FIFO depths (half-rate depths 1 and 2 included).

The reference is :func:`simulate` with a finite batch, a separate run that stops offering input
after N images; the unit control models themselves are held to the RTL in test_perf_model.py
(amaranth.sim) and test_commands_verify.py (Verilator)."""

from __future__ import annotations

import random
from dataclasses import replace

import pytest

from hwaccel.units.dataflow import Dataflow
from hwaccel.passes.fold_lanes import FoldTarget
from hwaccel.passes.size_fifos import join_depth
from hwaccel.passes.to_dataflow import to_dataflow
from hwaccel.perf.model import periodic_run, total_cycles
from hwaccel.perf.network import simulate

from dataflow_cases import ZOO_COMPILED, requant_fixed, small_fixed, zoo_fixed

GRAPHS = {**{name: (lambda name=name: zoo_fixed(name)) for name in ZOO_COMPILED},
          **{case: (lambda case=case: small_fixed(case)[0]) for case in ("pools", "concat_transpose", "pad_grouped", "conv1d")},
          "requant": lambda: requant_fixed()[0]}


def random_depths(df: Dataflow, seed: int) -> Dataflow:
    """``df`` with every FIFO off a join at a random depth in 1..5 (joins keep their deadlock-free depth)."""
    rng = random.Random(seed)
    joins = {s.name for s in df.stages if s.kind in ("add", "concat")}
    edges = tuple(e if e.fifo is None or e.dst in joins else replace(e, fifo=replace(e.fifo, depth=rng.randint(1, 5)))
                  for e in df.edges)
    edges = tuple(replace(e, fifo=replace(e.fifo, depth=max(e.fifo.depth, join_depth(df, e))))
                  if e.fifo is not None and e.dst in joins else e for e in edges)
    return df.replace(edges=edges)


def check_every_batch(df: Dataflow, extra: tuple[int, ...] = ()) -> None:
    run = periodic_run(df)
    n0, k, p = run.period
    one = simulate(df, 1)
    assert (run.first_output, run.stage_first_in, run.stage_first_out) == (one.first_output, one.stage_first_in,
                                                                              one.stage_first_out)
    for n in list(range(1, n0 + 2 * k + 3)) + list(extra):
        assert total_cycles(df, n, run)[0] == simulate(df, n).cycles, (df.name, run.period, n)


@pytest.mark.parametrize("name", list(GRAPHS))
def test_every_batch_equals_a_run_of_that_batch(name):
    df = to_dataflow(GRAPHS[name]())
    n0, k, _ = periodic_run(df).period
    check_every_batch(df, (n0 + 5 * k + 1, 2 * (n0 + k) + 3))


@pytest.mark.parametrize("name, seed", [("cnn", 1), ("resnet", 2), ("dbn", 3), ("concat_transpose", 4), ("pools", 5),
                                        ("mlp", 6), ("pad_grouped", 7), ("dscnn", 8)])
def test_every_batch_with_random_fifo_depths(name, seed):
    for variant in range(2):
        check_every_batch(random_depths(to_dataflow(GRAPHS[name](), fifos=False), 10 * seed + variant))


@pytest.mark.parametrize("name, target", [("resnet", FoldTarget(dsp=50)), ("resnet", FoldTarget(dsp=100)),
                                          ("dbn", FoldTarget(dsp=64)), ("dscnn", FoldTarget(luts=20_000)),
                                          ("autoencoder", FoldTarget(fps=20_000))])
def test_every_batch_under_other_foldings(name, target):
    check_every_batch(to_dataflow(GRAPHS[name](), target))


def test_the_run_records_each_image_once_and_the_period_it_stopped_at():
    df = to_dataflow(zoo_fixed("cnn"))
    run = periodic_run(df)
    n0, k, p = run.period
    known = len(run.image_ends)
    assert known >= k and run.image_ends == sorted(run.image_ends)
    finite = simulate(df, known + n0 + k + 1)
    assert finite.image_ends[:known] == run.image_ends and len(finite.image_ends) == known + n0 + k + 1
    assert finite.image_ends[n0 + k] - finite.image_ends[n0] == p  # one period later, the same image of the cycle


@pytest.mark.parametrize("batch", [0, -3, 2.0, True])
def test_batch_must_be_a_positive_integer(batch):
    from hwaccel.errors import SimulationError

    with pytest.raises(SimulationError, match=f"batch must be a positive integer, not {batch!r}"):
        total_cycles(to_dataflow(zoo_fixed("mlp")), batch)


def test_extrapolation_over_a_period_of_several_images():
    """Periodic from image 3 (index 2) with 2 images every 30 cycles: image N >= 5 leaves 30 cycles
    after image N - 2 (no zoo build has k > 1, so the run here is written by hand)."""
    from hwaccel.perf.network import Run

    run = Run(4, 46, 5, 40, [], {}, {}, {}, {}, period=(2, 2, 30), image_ends=[10, 20, 35, 45])
    df = to_dataflow(zoo_fixed("mlp"))
    assert [total_cycles(df, n, run)[0] for n in range(1, 9)] == [11, 21, 36, 46, 66, 76, 96, 106]
