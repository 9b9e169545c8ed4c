"""Requant unit against the golden model: hand values, random parameterisations in amaranth.sim and
in Verilator/Icarus (cocotb), each with and without random stalls, cycle counts exact."""

from __future__ import annotations

import pytest

from hwaccel.errors import CompileError
from hwaccel.units import RequantParams
from hwaccel.hw.requant import Requant
from hwaccel.sim.harness import Port, UnitCase
from hwaccel.sim.pysim import run_pysim
from hwaccel.sim.runner import SIMULATORS, run_rtl, simulator_missing
from sim.bench_requant import requant_case

PYSIM_CASES = 40  # random parameterisations in amaranth.sim
RTL_BUNDLES, RTL_PER_BUNDLE = 2, 8  # per simulator: designs built, parameterisations in each


def test_requant_hand_values():
    """M0 = 3, n = 1 (x1.5), zero point 2, clamp [-4, 9]; outputs and cycles worked out by hand (9 register stages)."""
    acc = [[1], [3], [-1], [-3], [5], [-5], [100], [-100]]  # x1.5: 1.5 4.5 -1.5 -4.5 7.5 -7.5 150 -150
    for rounding, want in (("half_even", [4, 6, 0, -2, 9, -4, 9, -4]), ("half_up", [4, 7, 1, -2, 9, -4, 9, -4])):
        params = RequantParams(8, 5, True, (3,), (1,), 2, -4, 9, rounding)
        case = UnitCase("hand", {"i": Port(8, 1, True, acc)}, {"o": Port(5, 1, True, [[w] for w in want])}, 10, 8 + 10)
        run_pysim(Requant(params), case)


def test_requant_per_channel_lanes_and_table_by_hand():
    """3 channels on 2 lanes (the 4th lane is padding: multiplier 0 gives clamp(z) = 0), then a table."""
    params = RequantParams(6, 4, False, (1, 1, 1), (0, 1, 2), 0, 0, 7, channels=3, lut=tuple(range(15, 7, -1)), lut_qmin=0, lanes=2)
    acc = [[5, 5], [5, 31]]  # channels 5, 5>>1 = 2.5 -> 2, 5>>2 = 1.25 -> 1, padding lane -> 0
    case = UnitCase("hand", {"i": Port(6, 2, True, acc)}, {"o": Port(4, 2, False, [[10, 13], [14, 15]])}, 11, 2 + 11)  # 10 stages + the table
    run_pysim(Requant(params), case)


def test_requant_params_errors():
    with pytest.raises(CompileError, match="multipliers and shifts must have 1 or 3 entries each, not 2 and 2"):
        RequantParams(8, 8, False, (1, 2), (0, 0), 0, 0, 255, channels=3)
    with pytest.raises(CompileError, match="lo must be a 8-bit unsigned code in \\[0, 255\\], not -1"):
        RequantParams(8, 8, False, (1,), (0,), 0, -1, 255)
    with pytest.raises(CompileError, match="acc_bits \\+ multiplier bits must be <= 63, not 64"):
        RequantParams(48, 8, False, (1 << 16,), (0,), 0, 0, 255)


@pytest.mark.parametrize("seed", range(PYSIM_CASES))
def test_requant_random_pysim(seed, tally):
    params, case = requant_case(seed)
    run_pysim(Requant(params), case)
    tally("Requant", "amaranth.sim")


@pytest.mark.rtl
@pytest.mark.parametrize("bundle", range(RTL_BUNDLES))
@pytest.mark.parametrize("simulator", SIMULATORS)
def test_requant_random_rtl(simulator, bundle, tally):
    reason = simulator_missing(simulator)
    if reason:
        pytest.skip(reason)
    first = 1000 * (1 + SIMULATORS.index(simulator)) + bundle * RTL_PER_BUNDLE
    pairs = [requant_case(seed) for seed in range(first, first + RTL_PER_BUNDLE)]
    run_rtl([Requant(p) for p, _ in pairs], [c for _, c in pairs], "sim.bench_requant", f"requant{bundle}", simulator)
    tally("Requant", simulator, len(pairs))
