"""Pool unit against the golden model: hand values, random max / average / global-average pools and
average pools whose windows average different counts (pixel classes) in amaranth.sim and in
Verilator/Icarus (cocotb), each with and without random stalls, cycles exact."""

from __future__ import annotations

from dataclasses import replace

import pytest

from hwaccel.errors import CompileError
from hwaccel.estimate.memory_map import Memory, unit_memories
from hwaccel.units import PoolParams, RequantParams
from hwaccel.hw.pool import Pool
from hwaccel.sim.harness import Port, UnitCase
from hwaccel.sim.pysim import run_pysim
from hwaccel.sim.runner import SIMULATORS, run_rtl, simulator_missing
from sim.bench_pool import pool_case, pool_classes_case

PYSIM_CASES, PYSIM_CLASS_CASES = 40, 8  # random parameterisations in amaranth.sim
RTL_BUNDLES, RTL_PER_BUNDLE, RTL_CLASS_CASES = 1, 10, 3  # per simulator: designs built, parameterisations in each

# 2 windows of 3 elements, 4 channels on 2 lanes: beats (element-major, then channel group)
WINDOWS = [[[-8, 7, 0, -1], [3, -8, 0, -2], [-1, 6, 5, -3]], [[-8, -8, -8, -8], [-8, -8, -8, -8], [-8, -8, -8, 7]]]
BEATS = [px[e][g * 2: g * 2 + 2] for px in WINDOWS for e in range(3) for g in range(2)]


def test_pool_max_by_hand():
    """Max of signed codes; first output after 2 windows elements x 2 groups + 3 (the input register,
    the result register, then the output's), one cycle per beat."""
    case = UnitCase("max", {"i": Port(4, 2, True, BEATS)}, {"o": Port(4, 2, True, [[3, 7], [5, -1], [-8, -8], [-8, 7]])}, 7, 12 + 3)
    run_pysim(Pool(PoolParams("max", 3, 4, True, channels=4, lanes=2)), case)


def test_pool_average_by_hand():
    """Sums -6 5 5 -6 | -24 -24 -24 -9 times 21845 * 2**-16 (~1/3): -2 1.67 1.67 -2 | -8 -8 -8 -3."""
    rq = RequantParams(7, 4, True, (21845,), (16,), 0, -8, 7, channels=4, lanes=2)
    want = [[-2, 2], [2, -2], [-8, -8], [-8, -3]]
    case = UnitCase("avg", {"i": Port(4, 2, True, BEATS)}, {"o": Port(4, 2, True, want)}, 4 + 11, 12 + 11)  # input register + 10 requant stages
    run_pysim(Pool(PoolParams("avg", 3, 4, True, channels=4, requant=rq, lanes=2)), case)


def test_pool_params_errors():
    rq = RequantParams(7, 4, True, (21845,), (16,), 0, -8, 7, channels=4, lanes=2)
    with pytest.raises(CompileError, match="requant must be given exactly for kind 'avg', not None"):
        PoolParams("avg", 3, 4, True, channels=4, lanes=2)
    with pytest.raises(CompileError, match="requant must have lanes=2, channels=4, acc_bits >= 8"):
        PoolParams("avg", 9, 4, True, channels=4, requant=rq, lanes=2)  # 9 * 8 needs 8 bits
    with pytest.raises(CompileError, match="lanes must divide channels=3, not 2"):
        PoolParams("max", 4, 8, False, channels=3, lanes=2)


def test_pool_pixel_classes_by_hand():
    """Windows of pixel classes 0, 1, then 0 again (the class table repeats per image): sums 8, 1, 2
    halved, kept, halved: 4, 1, 1; the cycles of one class (first output after 1 + 11)."""
    rq = RequantParams(6, 4, True, (1,), (1,), 0, -8, 7)
    params = PoolParams("avg", 2, 4, True, requant=rq, class_multipliers=((1,), (1,)), class_shifts=((1,), (0,)),
                        pixel_classes=(0, 1))
    assert [r.shifts for r in params.requants] == [(1,), (0,)] and params.memory_bits() == 2
    assert [[(e.mult, e.shift) for e in lane] for lane in params.entries()] == [[(1, 1), (1, 0)]]
    case = UnitCase("classes", {"i": Port(4, 1, True, [[3], [5], [2], [-1], [1], [1]])}, {"o": Port(4, 1, True, [[4], [1], [1]])},
                    1 + 11, 6 + 11)
    run_pysim(Pool(params), case)


def test_pool_pixel_class_params_errors():
    rq = RequantParams(7, 4, True, (21845,), (16,), 0, -8, 7, channels=4, lanes=2)
    avg = PoolParams("avg", 3, 4, True, channels=4, requant=rq, lanes=2)
    classes = dict(class_multipliers=((21845,), (32768,)), class_shifts=((16,), (16,)), pixel_classes=(0, 1, 1))
    two = replace(avg, **classes)
    assert (two.class_bits, two.memory_bits(), len(two.entries()[0])) == (1, 3, 2 * 2)  # 2 classes x 2 groups a lane
    assert two.lut_estimate() > avg.lut_estimate() and two.total_cycles(5) == avg.total_cycles(5)
    assert Memory("pixel_classes", 3, 1, rom=True) in unit_memories(two) and unit_memories(avg)[-1].name == "queue"
    with pytest.raises(CompileError, match=r"class 0's multipliers and shifts must be the requant's, not \(32768,\)"):
        replace(avg, **{**classes, "class_multipliers": ((32768,), (21845,))})
    with pytest.raises(CompileError, match=r"pixel_classes must be classes in \[0, 2\), not \(0, 2\)"):
        replace(avg, **{**classes, "pixel_classes": (0, 2)})
    with pytest.raises(CompileError, match="pixel classes must come with kind 'avg', window >= 2 and 2 or more"):
        replace(avg, **{**classes, "class_shifts": ((16,),)})


@pytest.mark.parametrize("seed", range(PYSIM_CASES))
def test_pool_random_pysim(seed, tally):
    params, case = pool_case(seed)
    run_pysim(Pool(params), case)
    tally("Pool", "amaranth.sim")


@pytest.mark.parametrize("seed", range(PYSIM_CLASS_CASES))
def test_pool_classes_random_pysim(seed, tally):
    params, case = pool_classes_case(seed)
    run_pysim(Pool(params), case)
    tally("Pool", "amaranth.sim")


@pytest.mark.rtl
@pytest.mark.parametrize("bundle", range(RTL_BUNDLES))
@pytest.mark.parametrize("simulator", SIMULATORS)
def test_pool_random_rtl(simulator, bundle, tally):
    reason = simulator_missing(simulator)
    if reason:
        pytest.skip(reason)
    first = 1000 * (1 + SIMULATORS.index(simulator)) + bundle * RTL_PER_BUNDLE
    pairs = [pool_case(seed) for seed in range(first, first + RTL_PER_BUNDLE)]
    pairs += [pool_classes_case(seed) for seed in range(first, first + RTL_CLASS_CASES)]
    run_rtl([Pool(p) for p, _ in pairs], [c for _, c in pairs], "sim.bench_pool", f"pool{bundle}", simulator)
    tally("Pool", simulator, len(pairs))
