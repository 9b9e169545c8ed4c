"""Recurrent unit against the golden cell: random LSTM / GRU / RNN layers (every direction, output,
GRU variant, folding) lowered from QDQ models, in amaranth.sim and in Verilator/Icarus (cocotb),
each with and without random stalls, cycles exact."""

from __future__ import annotations

import pytest

from hwaccel.errors import CompileError
from hwaccel.hw.recurrent import Recurrent
from hwaccel.passes.lower_recurrent import recurrent_params
from hwaccel.sim.pysim import run_pysim
from hwaccel.sim.runner import SIMULATORS, run_rtl, simulator_missing
from sim.bench_recurrent import cell_graph, recurrent_case

PYSIM_CASES = 24
RTL_BUNDLES, RTL_PER_BUNDLE = 1, 6


@pytest.mark.parametrize("seed", range(PYSIM_CASES))
def test_recurrent_random_pysim(seed, tally):
    params, case = recurrent_case(seed)
    run_pysim(Recurrent(params), case)
    tally("Recurrent", "amaranth.sim")


def test_recurrent_cycles_by_hand():
    """LSTM, 3 steps of 4 inputs, hidden 2, simd 2, pe 4: a step is one MatVec pass of 2 groups x
    (2 x-chunks + 1 h-chunk) + 8 = 14, then the update pass of 2 units + 7 = 9: 23 cycles; per
    sequence 6 beats in, 1 + 3 * 23 cycles of compute, 3 beats out (Y, 2 lanes)."""
    graph, node = cell_graph("LSTM", 3, 4, 2)
    p = recurrent_params(graph, node, 3, simd=2, pe=4, lanes=2)
    assert (p.step_cycles, p.compute_cycles, p.in_beats, p.out_beats) == (23, 70, 6, 3)
    assert (p.first_output_cycles, p.total_cycles(2)) == (6 + 70 + 1, 2 * (6 + 70 + 3) + 1)
    assert p.mac_multipliers() == 8 and p.weight_bits() == 2 * 3 * 4 * 2 * 8


def test_recurrent_gru_passes():
    """GRU: the z, r rows, round(r * h) (linear_before_reset 0 only), then the n rows."""
    graph, node = cell_graph("GRU", 2, 2, 3, attrs={"linear_before_reset": 0})
    p = recurrent_params(graph, node, 2, simd=1, pe=2)
    assert p.passes() == [(0, 6), (6, 3)] and p.reset_pass
    assert p.step_cycles == (3 * 5 + 8) + 3 + (2 * 5 + 8) + (3 + 7)
    graph, node = cell_graph("GRU", 2, 2, 3, attrs={"linear_before_reset": 1})
    assert not recurrent_params(graph, node, 2, simd=1, pe=2).reset_pass


def test_recurrent_params_errors():
    graph, node = cell_graph("RNN", 2, 4, 6)
    with pytest.raises(CompileError, match="simd must divide inputs=4, not 3"):
        recurrent_params(graph, node, 2, simd=3)
    with pytest.raises(CompileError, match="lanes must divide hidden=6, not 4"):
        recurrent_params(graph, node, 2, lanes=4)


@pytest.mark.rtl
@pytest.mark.parametrize("bundle", range(RTL_BUNDLES))
@pytest.mark.parametrize("simulator", SIMULATORS)
def test_recurrent_random_rtl(simulator, bundle, tally):
    reason = simulator_missing(simulator)
    if reason:
        pytest.skip(reason)
    first = 1000 * (1 + SIMULATORS.index(simulator)) + bundle * RTL_PER_BUNDLE
    pairs = [recurrent_case(seed) for seed in range(first, first + RTL_PER_BUNDLE)]
    run_rtl([Recurrent(p) for p, _ in pairs], [c for _, c in pairs], "sim.bench_recurrent", f"recurrent{bundle}", simulator)
    tally("Recurrent", simulator, len(pairs))
