"""The folding search: exact against brute force, monotone in the budget, tie-proof, and it says
why it stopped."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from dataflow_cases import zoo_fixed

from hwaccel.errors import CompileError
from hwaccel.passes.fold_lanes import FoldTarget, LaneClasses, choose_lanes
from hwaccel.passes.fold_search import INFEASIBLE, Factor, minimize
from hwaccel.passes.partition import partition
from hwaccel.passes.fold_options import matvec_folds
from hwaccel.passes.to_dataflow import lower_to_specs
from hwaccel.units.dataflow import INPUT


def _brute(sizes, factors):
    best = (INFEASIBLE, None)
    for choice in itertools.product(*[range(n) for n in sizes]):
        total = sum(int(f.table[tuple(choice[v] for v in f.scope)]) for f in factors)
        total = min(total, INFEASIBLE)
        if total < best[0]:
            best = (total, choice)
    return best


@pytest.mark.parametrize("seed", range(40))
def test_variable_elimination_matches_brute_force(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 7))
    sizes = [int(rng.integers(1, 5)) for _ in range(n)]
    factors = []
    for _ in range(int(rng.integers(0, 9))):
        k = int(rng.integers(1, min(3, n) + 1))
        scope = tuple(int(v) for v in rng.choice(n, size=k, replace=False))
        table = rng.integers(0, 20, size=[sizes[v] for v in scope]).astype(np.int64)
        table[rng.random(table.shape) < 0.2] = INFEASIBLE
        factors.append(Factor(scope, table))
    cost, choice = minimize(sizes, factors)
    expected, _ = _brute(sizes, factors)
    assert cost == expected
    if cost < INFEASIBLE:  # the assignment returned reaches the minimum
        assert sum(int(f.table[tuple(choice[v] for v in f.scope)]) for f in factors) == cost


def _specs(name: str):
    graph = zoo_fixed(name)
    source, specs, _ = lower_to_specs(graph, partition(graph))
    return source, specs


def _brute_fold(specs, source, dsp):
    """The smallest interval within ``dsp`` blocks over every assignment of the lane classes and
    every fold the stages offer there (a MatVec's ``(simd, pe)``: see test_matvec_folds_...)."""
    from hwaccel.units import MatVecParams

    classes = LaneClasses(specs, INPUT, source.shape[2])
    ports = [(classes.of(("in", i, 0)) if s.inputs else classes.of(("out", i)), classes.of(("out", i))) for i, s in enumerate(specs)]
    cache = {}

    def stage(i, lanes_in, lanes_out, fold):  # (interval, DSP blocks) of one stage
        key = (i, lanes_in, lanes_out, fold)
        if key not in cache:
            s = specs[i]
            units = s.build(lanes_in, lanes_out, fold)
            ii = max(u.image_cycles(s.shape) for u in units)
            for u in units:  # a MatVec waits for its input beats
                if isinstance(u, MatVecParams):
                    ii = max(ii, u.inputs_per_image(s.shape) * u.fed_vector_cycles(-(-u.in_features // lanes_in)))
            cache[key] = (ii, sum(u.dsp_blocks() for u in units))
        return cache[key]

    best = None
    for choice in itertools.product(*classes.options):
        options = [s.folds(choice[a]) for s, (a, _) in zip(specs, ports)]
        for folds in itertools.product(*options):
            figures = [stage(i, choice[a], choice[b], f) for i, ((a, b), f) in enumerate(zip(ports, folds))]
            ii, dsp_used = max(f[0] for f in figures), sum(f[1] for f in figures)
            if dsp_used <= dsp and (best is None or (ii, dsp_used) < best):
                best = (ii, dsp_used)
    return best


@pytest.mark.parametrize("name,dsp", [("mlp", 30), ("mlp", 80)])
def test_search_is_exact_against_brute_force(name, dsp):
    source, specs = _specs(name)
    _, _, summary = choose_lanes(specs, INPUT, source.shape[2], FoldTarget(dsp=dsp))
    ii, used = _brute_fold(specs, source, dsp)
    assert summary["interval_estimate"] == ii
    assert summary["multipliers"] <= dsp


@pytest.mark.parametrize("n,m,feed", [(64, 32, 64), (144, 16, 9), (640, 128, 40), (40, 64, 40), (7, 5, 3), (128, 8, 128)])
def test_matvec_folds_cover_every_simd_and_pe(n, m, feed):
    """Every (simd, pe) is matched or beaten -- cycles per vector, lanes, needing an input
    Regroup -- by a fold matvec_folds offers (dense weights: MatVecParams.fed_vector_cycles)."""
    folds = matvec_folds(n, m, feed)

    def figures(s, p):
        fi, fo = -(-n // s), -(-m // p)
        return max(fi, feed) + (fo - 1) * fi, s * p, int(fi != feed)

    offered = [figures(s, p) for s, p in folds]
    for s in range(1, n + 1):
        for p in range(1, m + 1):
            c, lanes, rg = figures(s, p)
            assert any(oc <= c and ol <= lanes and orr <= rg for oc, ol, orr in offered), (s, p)
    assert len(folds) < 4 * (n * m) ** 0.5 + 8


@pytest.mark.parametrize("name", ["resnet", "dscnn"])
def test_intervals_never_grow_with_the_budget(name):
    source, specs = _specs(name)
    intervals = []
    for dsp in (64, 100, 124, 200, 400, 1000):
        _, _, summary = choose_lanes(specs, INPUT, source.shape[2], FoldTarget(dsp=dsp))
        assert summary["multipliers"] <= dsp
        intervals.append(summary["interval_estimate"])
    assert intervals == sorted(intervals, reverse=True)
    assert intervals[-1] < intervals[0]


def test_tied_bottlenecks_do_not_stop_the_search():
    """dscnn's pointwise layers tie at the largest interval: the old greedy descent stopped there
    whatever the budget. More multipliers must now buy a shorter interval."""
    source, specs = _specs("dscnn")
    _, _, low = choose_lanes(specs, INPUT, source.shape[2], FoldTarget(multipliers=16))
    _, _, high = choose_lanes(specs, INPUT, source.shape[2], FoldTarget(multipliers=64))
    assert high["interval_estimate"] < low["interval_estimate"]
    assert high["mac_multipliers"] <= 64 and low["mac_multipliers"] <= 16


def test_summary_says_why_the_search_stopped():
    source, specs = _specs("cnn")
    _, _, budget = choose_lanes(specs, INPUT, source.shape[2], FoldTarget(dsp=40))
    assert budget["stopped"].startswith("the budget of 40 multipliers: the next faster interval")
    assert budget["bottleneck"]
    _, _, fastest = choose_lanes(specs, INPUT, source.shape[2], FoldTarget(dsp=100_000))
    assert fastest["stopped"].startswith("no folding is faster: ")
    with pytest.raises(CompileError, match="the multipliers target 1 cannot be met"):
        choose_lanes(specs, INPUT, source.shape[2], FoldTarget(multipliers=1))
