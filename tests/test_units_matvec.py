"""The NumPy figures of a MatVec (schedule, fold lengths, live lanes) against their definitions
written as per-lane Python loops over ``tile_weight``, on random sparse and codebook weights and on
every zoo layer."""

from __future__ import annotations

import pickle
import random

import numpy as np
import pytest

from hwaccel.passes.to_dataflow import to_dataflow
from hwaccel.units.matvec import MatVecParams, fold_lengths, live_lane_count, tile_map

from dataflow_cases import ZOO_COMPILED, zoo_fixed


def random_matvecs(rng: random.Random, count: int) -> list[MatVecParams]:
    out = []
    for _ in range(count):
        k, n = rng.randint(1, 24), rng.randint(1, 24)
        pe, simd = rng.randint(1, n), rng.randint(1, k)
        density = rng.choice([0.0, 0.05, 0.3, 1.0])
        w = np.array([[rng.choice([-2, 1, 3]) if rng.random() < density else 0 for _ in range(k)] for _ in range(n)])
        if rng.random() < 0.3:  # whole output folds of zeros: one placeholder tile each
            w[pe:2 * pe] = 0
        if rng.random() < 0.4:  # weight sharing: indices into a codebook, with or without a 0 entry
            book = rng.choice([(0, -3, 5), (-1, 2), (4,)])
            idx = np.array([[rng.randrange(len(book)) for _ in range(k)] for _ in range(n)])
            out.append(MatVecParams(k, n, idx, pe=pe, simd=simd, codebook=book))
        else:
            out.append(MatVecParams(k, n, w, pe=pe, simd=simd))
    return out


def _tile_nonzero(p: MatVecParams, nf: int, sf: int) -> bool:
    return any(p.tile_weight(nf, sf, pe, s) for pe in range(p.pe) for s in range(p.simd))


def brute_schedule(p: MatVecParams) -> tuple[tuple[int, int], ...]:
    """Every input fold of output fold 0, then each later fold's non-zero tiles (at least one)."""
    steps = [(0, sf) for sf in range(p.input_folds)]
    for nf in range(1, p.output_folds):
        steps += [(nf, sf) for sf in range(p.input_folds) if _tile_nonzero(p, nf, sf)] or [(nf, 0)]
    return tuple(steps)


def brute_live_lanes(p: MatVecParams) -> tuple[tuple[int, int], ...]:
    return tuple((pe, s) for pe in range(p.pe) for s in range(p.simd)
                 if any(p.tile_weight(nf, sf, pe, s) for nf, sf in brute_schedule(p)))


def _check(p: MatVecParams) -> None:
    assert p.schedule == brute_schedule(p) and p.live_lanes == brute_live_lanes(p), p
    assert p.stored_tiles().tolist() == [[p.tile_stored(nf, sf, pe, s) for pe, s in p.live_lanes] for nf, sf in p.schedule]
    folds = fold_lengths(p)
    per_fold = [sum(nf == f for nf, _ in p.schedule) for f in range(p.output_folds)]
    assert list(folds) == per_fold and sum(folds) == p.vector_cycles, p
    assert live_lane_count(p) == len(p.live_lanes) == p.dsp_blocks() == p.mac_multipliers()
    assert p.weight_bits() == len(p.schedule) * len(p.live_lanes) * p.index_bits
    assert p.memory_bits() == len(p.schedule) * len(p.live_lanes) * p.index_bits + (
        p.input_folds * p.simd * p.bits_x if p.output_folds > 1 else 0)


def test_random_matvecs_match_the_params_definitions():
    for p in random_matvecs(random.Random(5), 120):
        _check(p)


@pytest.mark.parametrize("name", ZOO_COMPILED)
def test_zoo_matvecs_match_the_params_definitions(name):
    df = to_dataflow(zoo_fixed(name))
    for s in df.stages:
        for u in s.units:
            if isinstance(u, MatVecParams):
                _check(u)
                h, w, _ = s.shape
                assert u.image_cycles(s.shape) == (u.total_cycles(2) - u.total_cycles(1)) * h * w


def test_the_tile_map_is_kept_on_the_params_shared_by_refolds_and_not_pickled():
    p = random_matvecs(random.Random(1), 1)[0]
    assert tile_map(p) is tile_map(p) and fold_lengths(p) is fold_lengths(p)
    q = p.refold(1, 1)
    assert q.__dict__["_tile_maps"] is p.__dict__["_tile_maps"]  # one cache for every folding of the weights
    assert tile_map(q) is not tile_map(p) or (q.pe, q.simd) == (p.pe, p.simd)
    copy = pickle.loads(pickle.dumps(q))
    assert copy == q and "_tile_maps" not in copy.__dict__ and fold_lengths(copy) == fold_lengths(q)