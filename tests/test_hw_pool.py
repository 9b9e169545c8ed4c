"""Pool unit in amaranth.sim against the golden model: hand values and random parameterisations."""

from __future__ import annotations

import pytest

from hwaccel.hw.params import PoolParams, RequantParams
from hwaccel.hw.pool import Pool
from sim.bench_pool import pool_case
from sim.bench_requant import check_amaranth, simulate_streams

AMARANTH_CASES = 40


def test_pool_hand_values():
    """2 lanes x 2 groups, window 3: max of signed codes, and average = round(sum * 1/3) with M0=21845, n=16."""
    windows = [[[-8, 7, 0, -1], [3, -8, 0, -2], [-1, 6, 5, -3]], [[-8, -8, -8, -8], [-8, -8, -8, -8], [-8, -8, -8, 7]]]
    beats = [px[e][g * 2: g * 2 + 2] for px in windows for e in range(3) for g in range(2)]
    run = simulate_streams(Pool(PoolParams("max", 3, 4, True, lanes=2, channels=4)), {"i": beats}, "o", 4)
    assert run.beats["o"] == [[3, 7], [5, -1], [-8, -8], [-8, 7]]
    rq = RequantParams(7, 4, True, (21845,), (16,), 0, -8, 7, lanes=2, channels=4)  # sums: -6 5 5 -6 | -24 -24 -24 -9
    run = simulate_streams(Pool(PoolParams("avg", 3, 4, True, channels=4, requant=rq, lanes=2)), {"i": beats}, "o", 4)
    assert run.beats["o"] == [[-2, 2], [2, -2], [-8, -8], [-8, -3]]  # /3: -2 1.67 1.67 -2 | -8 -8 -8 -3


@pytest.mark.parametrize("seed", range(AMARANTH_CASES))
def test_pool_random_amaranth(seed):
    check_amaranth(pool_case(seed), seed)
