"""Depthwise: golden model by hand, params and cycle formulas, the control model, amaranth.sim and RTL
benches, and a depthwise network compiled, verified bit-exact and cycle-exact in RTL."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest

from hwaccel.errors import CompileError
from hwaccel.fixedpoint import accumulator_range
from hwaccel.golden.depthwise import depthwise
from hwaccel.hw.depthwise import Depthwise
from hwaccel.perf.control import control_for
from hwaccel.units import UNITS, DepthwiseParams, code_range, params_from_dict, params_to_dict
from hwaccel.sim.pysim import run_pysim
from hwaccel.sim.runner import SIMULATORS, run_rtl, simulator_missing
from sim.bench_depthwise import depthwise_case, random_windows

N_PYSIM = 40  # random parameterisations in amaranth.sim
N_RTL = 8  # random parameterisations per RTL build (plus the corner cases)
KERNELS = [(1, 1), (3, 3), (10, 4), (1, 3), (2, 2), (5, 1)]


def random_params(rng: np.random.Generator) -> DepthwiseParams:
    """Random channels, lanes dividing them, kernel, widths 2..8, signedness, zero point, bias, pruned lanes."""
    channels = int(rng.integers(1, 13))
    lanes = int(rng.choice([d for d in range(1, channels + 1) if channels % d == 0]))
    kh, kw = KERNELS[int(rng.integers(len(KERNELS)))]
    bits_x, bits_w = int(rng.integers(2, 9)), int(rng.integers(2, 9))
    signed_x = bool(rng.random() < 0.5)
    x_lo, x_hi = code_range(bits_x, signed_x)
    lo, hi = code_range(bits_w, True)
    weights = rng.integers(lo, hi + 1, (channels, kh * kw))
    if rng.random() < 0.3:
        weights[int(rng.integers(channels))] = 0  # a zero channel (its lane pruned when lanes == channels)
    bias = rng.integers(-(1 << int(rng.integers(1, 32))), 1 << 20, channels)
    return DepthwiseParams(channels, kh * kw, weights, np.clip(bias, -(1 << 31), (1 << 31) - 1), lanes=lanes,
                           bits_x=bits_x, signed_x=signed_x, x_zero_point=int(rng.integers(x_lo, x_hi + 1)), bits_w=bits_w)


def corner_cases() -> list[tuple[DepthwiseParams, np.ndarray]]:
    """Accumulators at both bounds, int32 bias extremes, fully pruned, one channel, DS-CNN's 10x4 kernel."""
    out = []
    w = -np.full((4, 9), 128)
    p = DepthwiseParams(4, 9, w, lanes=2, x_zero_point=255)  # (0 - 255) * -128: the largest products
    out.append((p, np.zeros((2, 9, 4), dtype=np.int64)))
    p = DepthwiseParams(4, 9, w, lanes=4)  # (255 - 0) * -128: the smallest products
    out.append((p, np.full((2, 9, 4), 255)))
    p = DepthwiseParams(3, 2, np.full((3, 2), 7), [(1 << 31) - 1, -(1 << 31), 5], lanes=1, bits_x=4, signed_x=True,
                        x_zero_point=-8, bits_w=4)
    out.append((p, np.full((2, 2, 3), 7)))  # int32 bias extremes
    p = DepthwiseParams(4, 3, np.zeros((4, 3), dtype=np.int64), [3, -4, 5, 0], lanes=4)  # no multiplier at all
    out.append((p, np.arange(24).reshape(2, 3, 4)))
    p = DepthwiseParams(1, 1, [[-2]], bits_x=2, bits_w=2)
    out.append((p, np.array([[[0]], [[3]], [[1]]])))
    rng = np.random.default_rng(7)
    p = DepthwiseParams(8, 40, rng.integers(-128, 128, (8, 40)), rng.integers(-5000, 5000, 8), lanes=4, x_zero_point=3)
    out.append((p, rng.integers(0, 256, (2, 40, 8))))
    return out


def test_golden_by_hand() -> None:
    x = np.array([[[3, 1], [5, 2], [7, 4]]])  # 3 taps of 2 channels
    w = np.array([[1, -1, 2], [0, 4, -3]])
    # channel 0: (1, 3, 5) . (1, -1, 2) = 8 + 100; channel 1: (-1, 0, 2) . (0, 4, -3) = -6 - 7
    assert depthwise(x, w, [100, -7], x_zero_point=2).tolist() == [[108, -13]]


def test_params_cycles_and_costs_by_hand() -> None:
    w = np.arange(1, 37).reshape(4, 9) % 5 - 2
    p = DepthwiseParams(4, 9, w, lanes=2)
    assert (p.groups, p.pixel_cycles, p.in_lanes, p.out_lanes) == (2, 18, 2, 2)
    assert p.acc_bits == 8 + 8 + 4 + 1  # 9 products: ceil(log2(9)) = 4
    assert p.first_output_cycles == 8 * 2 + p.latency and p.total_cycles(3) == 3 * 18 + p.latency
    assert p.image_cycles((5, 7, 4)) == 35 * 18  # 100 % MAC use: K * C / lanes cycles a pixel
    assert p.mac_multipliers() == p.dsp_blocks() == 2 and p.memory_bits() == 18 * 2 * 8
    assert p.beat_ratio() == Fraction(1, 9)
    pruned = DepthwiseParams(4, 2, [[1, 2], [0, 0], [3, 4], [0, 0]], lanes=2)
    assert pruned.live_lanes == (0,) and pruned.mac_multipliers() == 1  # lane 1 holds channels 1 and 3: all zero
    assert UNITS["depthwise"] is DepthwiseParams
    assert params_from_dict(params_to_dict(p)) == p


@pytest.mark.parametrize("kwargs, message", [
    (dict(weights=[[1, 2]]), "weights must have shape (2, 3), not (1, 2)"),
    (dict(weights=[[1, 2, 3], [4, 5, 128]]), "weight must be a 8-bit signed code in [-128, 127], not 128"),
    (dict(lanes=3), "lanes must be an integer in [1, 2], not 3"),
    (dict(channels=3, weights=[[1] * 3] * 3, lanes=2), "lanes must divide channels=3, not 2"),
    (dict(x_zero_point=-1), "x_zero_point must be a 8-bit unsigned code in [0, 255], not -1"),
    (dict(bias=[1 << 31, 0]), "bias must be 2 int32 codes, not [2147483648, 0]"),
])
def test_params_errors(kwargs: dict, message: str) -> None:
    base = dict(channels=2, taps=3, weights=[[1, 0, 1], [0, 1, 2]])
    with pytest.raises(CompileError) as err:
        DepthwiseParams(**{**base, **kwargs})
    assert str(err.value) == message


def test_corners_reach_the_accumulator_bounds() -> None:
    for (p, x), side in zip(corner_cases()[:2], (1, 0)):
        acc = depthwise(x, np.array(p.weights), x_zero_point=p.x_zero_point)
        bound = accumulator_range(p.bits_x, p.bits_w, p.taps, signed_x=p.signed_x, x_zero_point=p.x_zero_point)
        assert np.all(acc == bound[side])
        assert -(1 << (p.acc_bits - 1)) <= bound[side] < 1 << (p.acc_bits - 1)


def _control_cycles(p: DepthwiseParams, pixels: int) -> tuple[int, int]:
    """(first output, total) of the control model alone, input always valid, output always ready."""
    ctl, outs, first, cycle = control_for(p), 0, -1, 0
    while outs < pixels * p.groups:
        fire = ctl.ov
        ctl.ready(True, True, False)
        ctl.tick(ctl.issue, False, fire)
        if fire:
            first = cycle if first < 0 else first
            outs += 1
        cycle += 1
    return first, cycle


def test_control_model_equals_the_formulas() -> None:
    rng = np.random.default_rng(3)
    for _ in range(30):
        p = random_params(rng)
        assert _control_cycles(p, 3) == (p.first_output_cycles, p.total_cycles(3))


def test_pysim_random(tally) -> None:
    rng = np.random.default_rng(5)
    for k in range(N_PYSIM):
        p = random_params(rng)
        run_pysim(Depthwise(p), depthwise_case(p, random_windows(p, 3, rng), f"depthwise{k}"))
    tally("Depthwise", "amaranth.sim", N_PYSIM)


@pytest.mark.parametrize("index", range(len(corner_cases())))
def test_pysim_corners(index: int) -> None:
    p, x = corner_cases()[index]
    run_pysim(Depthwise(p), depthwise_case(p, x, f"corner{index}"))


@pytest.mark.rtl
@pytest.mark.parametrize("simulator", SIMULATORS)
def test_rtl(simulator: str, tally) -> None:
    if reason := simulator_missing(simulator):
        pytest.skip(reason)
    rng = np.random.default_rng(99)
    setups = [(p, random_windows(p, 3, rng)) for p in (random_params(rng) for _ in range(N_RTL))] + corner_cases()
    cases = [depthwise_case(p, x, f"depthwise{k}") for k, (p, x) in enumerate(setups)]
    result = run_rtl([Depthwise(p) for p, _ in setups], cases, "sim.bench_depthwise", "depthwise", simulator)
    assert all(r["no_stall"]["first_and_total"] == r["no_stall"]["model"] for r in result.values())
    tally("Depthwise", simulator, len(setups))
