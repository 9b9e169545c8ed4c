"""Eltwise units (Add, Concat) against the golden model: hand values, random parameterisations in
amaranth.sim and in Verilator/Icarus (cocotb), each with and without random stalls, cycles exact."""

from __future__ import annotations

import pytest

from hwaccel.errors import CompileError
from hwaccel.hw.eltwise import EltwiseAdd, EltwiseConcat
from hwaccel.units import EltwiseAddParams, EltwiseConcatParams, RequantParams
from hwaccel.sim.harness import Port, UnitCase
from hwaccel.sim.pysim import run_pysim
from hwaccel.sim.runner import SIMULATORS, run_rtl, simulator_missing
from sim.bench_eltwise import add_case, concat_case

PYSIM_CASES = 30  # random parameterisations of each unit in amaranth.sim
RTL_PER_BUNDLE = 8  # per simulator and unit: parameterisations in the one design built


def test_add_by_hand():
    """uint8 a (z=128, x3) + int8 b (z=-2, x-1, i.e. Sub), >> 2 half-up, z=0, clamp [-10, 10]."""
    rq = RequantParams(12, 8, True, (1,), (2,), 0, -10, 10, "half_up")
    params = EltwiseAddParams(8, False, 128, 3, 8, True, -2, -1, rq)
    a, b = [[130], [128], [255], [0], [129]], [[-2], [0], [-128], [127], [-3]]
    # (a-128)*3 - (b+2): 6, -2, 381+126, -384-129, 3+1 -> /4: 1.5 -0.5 126.75 -128.25 1 -> 2 0 10 -10 1
    want = [[2], [0], [10], [-10], [1]]
    case = UnitCase("add", {"a": Port(8, 1, False, a), "b": Port(8, 1, True, b)}, {"o": Port(8, 1, True, want)}, 16, 5 + 16)  # 6 rescale stages + 10 requant stages
    run_pysim(EltwiseAdd(params), case)


def test_concat_by_hand():
    """a passes (already uint4); b (int4, z=-8) halved half-even into uint4 z=0; 2 lanes, 2+1 beats a pixel."""
    rq_b = RequantParams(5, 4, False, (1,), (1,), 0, 0, 15, channels=2, lanes=2)
    params = EltwiseConcatParams(4, 2, 4, False, 4, True, 4, False, 0, -8, None, rq_b, lanes=2)
    a, b = [[1, 2], [3, 4], [15, 0], [5, 6]], [[-8, -7], [-5, 7]]  # b + 8: 0 1 | 3 15 -> /2: 0 0 | 2 8
    want = [[1, 2], [3, 4], [0, 0], [15, 0], [5, 6], [2, 8]]
    case = UnitCase("concat", {"a": Port(4, 2, False, a), "b": Port(4, 2, True, b)}, {"o": Port(4, 2, False, want)}, 10, 6 + 10)  # 10 requant stages
    run_pysim(EltwiseConcat(params), case)


def test_eltwise_params_errors():
    rq = RequantParams(10, 8, True, (1,), (2,), 0, -10, 10)  # the sum spans [-513, 507]: 11 bits
    with pytest.raises(CompileError, match="requant must be per-tensor with lanes=1, channels <= lanes, acc_bits >= 11"):
        EltwiseAddParams(8, False, 128, 3, 8, True, -2, -1, rq)
    with pytest.raises(CompileError, match="a without a requant must have the output code type, not \\(8, True\\)"):
        EltwiseConcatParams(2, 2, 8, True, 8, False, 8, False)
    with pytest.raises(CompileError, match="b_zero_point must be a 4-bit signed code in \\[-8, 7\\], not 9"):
        EltwiseConcatParams(2, 2, 4, False, 4, True, 4, False, 0, 9)


@pytest.mark.parametrize("seed", range(PYSIM_CASES))
def test_add_random_pysim(seed, tally):
    params, case = add_case(seed)
    run_pysim(EltwiseAdd(params), case)
    tally("EltwiseAdd", "amaranth.sim")


@pytest.mark.parametrize("seed", range(PYSIM_CASES))
def test_concat_random_pysim(seed, tally):
    params, case = concat_case(seed)
    run_pysim(EltwiseConcat(params), case)
    tally("EltwiseConcat", "amaranth.sim")


@pytest.mark.rtl
@pytest.mark.parametrize("simulator", SIMULATORS)
def test_eltwise_random_rtl(simulator, tally):
    """Adds and Concats side by side in one design."""
    reason = simulator_missing(simulator)
    if reason:
        pytest.skip(reason)
    first = 1000 * (1 + SIMULATORS.index(simulator))
    adds = [add_case(seed) for seed in range(first, first + RTL_PER_BUNDLE)]
    concats = [concat_case(seed) for seed in range(first, first + RTL_PER_BUNDLE)]
    units = [EltwiseAdd(p) for p, _ in adds] + [EltwiseConcat(p) for p, _ in concats]
    run_rtl(units, [c for _, c in adds + concats], "sim.bench_eltwise", "eltwise", simulator)
    tally("EltwiseAdd", simulator, len(adds))
    tally("EltwiseConcat", simulator, len(concats))
