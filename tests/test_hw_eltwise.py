"""Eltwise units (Add, Concat) in amaranth.sim against the golden model: hand values and random parameterisations."""

from __future__ import annotations

import pytest

from hwaccel.hw.eltwise import EltwiseAdd, EltwiseConcat
from hwaccel.hw.params import EltwiseAddParams, EltwiseConcatParams, RequantParams
from sim.bench_eltwise import add_case, concat_case
from sim.bench_requant import check_amaranth, simulate_streams

AMARANTH_CASES = 30


def test_add_hand_values():
    """uint8 a (z=128, x3) + int8 b (z=-2, x-1), >> 2 with half-up, z=0, clamp [-10, 10]."""
    rq = RequantParams(12, 8, True, (1,), (2,), 0, -10, 10, "half_up")
    params = EltwiseAddParams(8, False, 128, 3, 8, True, -2, -1, rq)
    a, b = [[130], [128], [255], [0], [129]], [[-2], [0], [-128], [127], [-3]]
    # (a-128)*3 - (b+2): 6, -2, 381+126, -384-129, 3+1 -> /4: 1.5 -0.5 126.75 -128.25 1 -> 2 0 10 -10 1
    run = simulate_streams(EltwiseAdd(params), {"a": a, "b": b}, "o", 5)
    assert run.beats["o"] == [[2], [0], [10], [-10], [1]]


def test_concat_hand_values():
    """a passes (already uint4), b (int4, z=-8) halved with half-even into uint4 z=0; 2 lanes, 2+1 beats a pixel."""
    rq_b = RequantParams(5, 4, False, (1,), (1,), 0, 0, 15, lanes=2, channels=2)
    params = EltwiseConcatParams(4, 2, 4, False, 4, True, 4, False, 0, -8, None, rq_b, lanes=2)
    a, b = [[1, 2], [3, 4], [15, 0], [5, 6]], [[-8, -7], [-5, 7]]  # b - (-8): 0 1 | 3 15 -> /2: 0 0 | 2 8
    run = simulate_streams(EltwiseConcat(params), {"a": a, "b": b}, "o", 6)
    assert run.beats["o"] == [[1, 2], [3, 4], [0, 0], [15, 0], [5, 6], [2, 8]]


@pytest.mark.parametrize("seed", range(AMARANTH_CASES))
def test_add_random_amaranth(seed):
    check_amaranth(add_case(seed), seed)


@pytest.mark.parametrize("seed", range(AMARANTH_CASES))
def test_concat_random_amaranth(seed):
    check_amaranth(concat_case(seed), seed)
