"""MatVec: golden model by hand, params (widths, schedule, cycles), amaranth.sim and RTL benches."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest

from amaranth.back import rtlil

from hwaccel.errors import CompileError
from hwaccel.fixedpoint import accumulator_range
from hwaccel.golden.matvec import matvec
from hwaccel.hw.matvec import MatVec
from hwaccel.units import COPY_GROUP_LANES, MatVecParams, adder_tree_stages, code_range
from hwaccel.sim.pysim import run_pysim
from hwaccel.sim.runner import SIMULATORS, run_rtl, simulator_missing
from sim.bench_matvec import matvec_case, random_vectors

N_PYSIM = 90  # random parameterisations in amaranth.sim
N_RTL = 8  # random parameterisations per RTL build (plus the corner cases)


def random_params(rng: np.random.Generator) -> MatVecParams:
    """Random sizes, folding (divisors or not), widths, signedness, zero point, bias, pruning, codebook."""
    k, out = int(rng.integers(1, 21)), int(rng.integers(1, 11))
    bits_x, bits_w = int(rng.integers(2, 17)), int(rng.integers(2, 17))
    signed_x = bool(rng.random() < 0.5)
    x_lo, x_hi = code_range(bits_x, signed_x)
    lo, hi = code_range(bits_w, True)
    codebook = None
    if rng.random() < 0.25:
        codebook = tuple(int(v) for v in rng.integers(lo, hi + 1, int(rng.integers(1, 9))))
        weights = rng.integers(0, len(codebook), (out, k))
    else:
        weights = rng.integers(lo, hi + 1, (out, k)) * (rng.random((out, k)) >= rng.choice([0.0, 0.5, 0.9]))
    bias = rng.integers(-(1 << int(rng.integers(1, 32))), 1 << 20, out)
    return MatVecParams(k, out, weights, np.clip(bias, -(1 << 31), (1 << 31) - 1), pe=int(rng.integers(1, out + 1)),
                        simd=int(rng.integers(1, k + 1)), bits_x=bits_x, signed_x=signed_x,
                        x_zero_point=int(rng.integers(x_lo, x_hi + 1)), bits_w=bits_w, codebook=codebook)


def corner_cases() -> list[tuple[MatVecParams, np.ndarray]]:
    """Accumulator at both bounds, zero points at the extremes, int32 bias, fully and tile-pruned, codebook."""
    out = []
    w = -np.full((3, 13), 128)
    p = MatVecParams(13, 3, w, pe=2, simd=5, x_zero_point=255)  # (0 - 255) * -128: the largest product
    out.append((p, np.zeros((2, 13), dtype=np.int64)))
    p = MatVecParams(13, 3, w, pe=3, simd=4, x_zero_point=0)  # (255 - 0) * -128: the smallest product
    out.append((p, np.full((2, 13), 255)))
    w16 = -np.full((2, 20), 1 << 15)
    p = MatVecParams(20, 2, w16, pe=2, simd=7, bits_x=16, signed_x=True, x_zero_point=(1 << 15) - 1, bits_w=16)
    out.append((p, np.full((2, 20), -(1 << 15))))  # 16x16 bits, zero point at the max: 38-bit accumulator at its max
    p = MatVecParams(5, 4, np.full((4, 5), 7), [(1 << 31) - 1, -(1 << 31), 0, 1], pe=3, simd=2, bits_x=4,
                     signed_x=True, x_zero_point=-8, bits_w=4)
    out.append((p, np.full((2, 5), 7)))  # int32 bias extremes, zero point at the min
    p = MatVecParams(6, 5, np.zeros((5, 6), dtype=np.int64), [3, -4, 5, 0, 9], pe=2, simd=4)  # fully pruned
    out.append((p, np.arange(12).reshape(2, 6)))
    tiles = np.zeros((6, 8), dtype=np.int64)
    tiles[0:2, 0:4], tiles[4:6, 4:8] = 5, -3  # only two non-zero 2x4 tiles out of six
    p = MatVecParams(8, 6, tiles, pe=2, simd=4, bits_w=4)
    out.append((p, np.arange(24).reshape(3, 8) % 16))
    p = MatVecParams(9, 4, np.arange(36).reshape(4, 9) % 3, codebook=(0, -8, 7), pe=4, simd=9, bits_w=4)
    out.append((p, np.arange(18).reshape(2, 9)))  # codebook with a zero entry, fully parallel
    p = MatVecParams(1, 1, [[-2]], bits_x=2, bits_w=2)
    out.append((p, np.array([[0], [3], [1]])))
    return out


def test_golden_by_hand() -> None:
    x = np.array([[3, 5, 7]])
    w = np.array([[1, -1, 2], [0, 4, -3]])
    # (3-2, 5-2, 7-2) = (1, 3, 5): 1 - 3 + 10 + 100 = 108; 12 - 15 - 7 = -10
    assert matvec(x, w, [100, -7], x_zero_point=2).tolist() == [[108, -10]]
    assert matvec(x, np.array([[0, 1, 2]]), codebook=[5, -1, 2]).tolist() == [[15 - 5 + 14]]


def test_acc_bits_formula() -> None:
    for k, bx, bw in [(1, 8, 8), (13, 8, 8), (16, 4, 3), (20, 16, 16), (1000, 2, 2)]:
        p = MatVecParams(k, 1, np.zeros((1, k), dtype=np.int64), bits_x=bx, bits_w=bw)
        assert p.acc_bits == bx + bw + math.ceil(math.log2(k)) + 1
    # a bias worth 2 products adds 2 terms: ceil(log2(13 + 2)) = 4
    big = MatVecParams(13, 1, np.zeros((1, 13), dtype=np.int64), [255 * 128 * 2], bits_x=8, bits_w=8)
    assert big.acc_bits == 8 + 8 + 4 + 1


def test_schedule_and_cycles_by_hand() -> None:
    dense = MatVecParams(7, 5, np.ones((5, 7), dtype=np.int64), pe=2, simd=3)
    assert (dense.input_folds, dense.output_folds, dense.vector_cycles) == (3, 3, 9)
    # latency: issue, input and buffer read, their registers and ROM addresses, input choice and ROM read,
    # input copies and ROM read registers, operands, products, product copies, one adder stage (3 terms:
    # 2 levels), accumulate, output = 10
    assert dense.latency == 10
    assert dense.first_output_cycles == 3 - 1 + 10 and dense.total_cycles(4) == 4 * 9 + 10
    # two adder levels a stage: 1..4 terms -> 1 stage, 5..16 -> 2, 17..64 -> 3
    assert [adder_tree_stages(n) for n in (1, 2, 4, 5, 16, 17, 64, 65)] == [1, 1, 1, 2, 2, 3, 3, 4]
    w = np.zeros((6, 8), dtype=np.int64)
    w[0, 0], w[5, 7] = 1, 2  # tile (0, 0) and tile (2, 1) non-zero
    p = MatVecParams(8, 6, w, pe=2, simd=4)
    assert p.schedule == ((0, 0), (0, 1), (1, 0), (2, 1))  # fold 0 reads both beats; fold 1 is all zero
    assert p.live_lanes == ((0, 0), (1, 3))
    assert p.total_cycles(2) == 2 * 4 + 10  # simd 4: one adder stage, latency 10


@pytest.mark.parametrize("kwargs, message", [
    (dict(weights=[[1, 2]]), "weights must have shape (2, 3), not (1, 2)"),
    (dict(weights=[[1, 2, 3], [4, 5, 128]]), "weight must be a 8-bit signed code in [-128, 127], not 128"),
    (dict(pe=3), "pe must be an integer in [1, 2], not 3"),
    (dict(x_zero_point=-1), "x_zero_point must be a 8-bit unsigned code in [0, 255], not -1"),
    (dict(codebook=(1, 2)), "weight indices must be in [0, 1], not 2"),
    (dict(bias=[1 << 31, 0]), "bias must be 2 int32 codes, not [2147483648, 0]"),
])
def test_params_errors(kwargs: dict, message: str) -> None:
    base = dict(in_features=3, out_features=2, weights=[[1, 0, 1], [0, 1, 2]])
    with pytest.raises(CompileError) as err:
        MatVecParams(**{**base, **kwargs})
    assert str(err.value) == message


def test_corners_reach_the_accumulator_bounds() -> None:
    """The first three corners hit the exact bound of fixedpoint.accumulator_range (and fit acc_bits)."""
    for (p, x), side in zip(corner_cases()[:3], (1, 0, 1)):
        acc = matvec(x, np.array(p.weights), x_zero_point=p.x_zero_point)
        bound = accumulator_range(p.bits_x, p.bits_w, p.in_features, signed_x=p.signed_x, x_zero_point=p.x_zero_point)
        assert np.all(acc == bound[side])
        assert -(1 << (p.acc_bits - 1)) <= bound[side] < 1 << (p.acc_bits - 1)


def _multipliers(p: MatVecParams) -> int:
    return rtlil.convert(MatVec(p), name="m").count("cell $mul ")


def test_pruned_lanes_have_no_multiplier() -> None:
    w = np.arange(1, 33).reshape(4, 8)
    assert _multipliers(MatVecParams(8, 4, w, pe=2, simd=4)) == 8
    w[:, 3::4], w[1::2, :] = 0, 0  # lane column 3 and output lane 1 are zero in every tile
    p = MatVecParams(8, 4, w, pe=2, simd=4)
    assert p.live_lanes == ((0, 0), (0, 1), (0, 2))
    assert _multipliers(p) == 3


def test_weight_rom_slices_have_their_own_address_register() -> None:
    w = np.arange(1, 4 * 21 + 1).reshape(4, 21)  # two output folds of 2 x 21 = 42 live lanes
    p = MatVecParams(21, 4, w, pe=2, simd=21)
    text = rtlil.convert(MatVec(p), name="m")
    assert len(p.live_lanes) == 42 and COPY_GROUP_LANES == 8
    roms = re.findall(r"memory width (\d+) size (\d+) \\rom(\d+)\n", text)
    assert sorted((int(g), int(width), int(depth)) for width, depth, g in roms) == \
        [(g, 8 * 8, 2) for g in range(5)] + [(5, 2 * 8, 2)]  # 8 bits a weight, 2 tiles
    assert all(f"rom{g}_addr" in text for g in range(6))


def test_pysim_random(tally) -> None:
    rng = np.random.default_rng(5)
    for k in range(N_PYSIM):
        p = random_params(rng)
        run_pysim(MatVec(p), matvec_case(p, random_vectors(p, 3, rng), f"matvec{k}"))
    tally("MatVec", "amaranth.sim", N_PYSIM)


@pytest.mark.parametrize("index", range(len(corner_cases())))
def test_pysim_corners(index: int) -> None:
    p, x = corner_cases()[index]
    run_pysim(MatVec(p), matvec_case(p, x, f"corner{index}"))


@pytest.mark.rtl
@pytest.mark.parametrize("simulator", SIMULATORS)
def test_rtl(simulator: str, tally) -> None:
    if reason := simulator_missing(simulator):
        pytest.skip(reason)
    rng = np.random.default_rng(99)
    setups = [(p, random_vectors(p, 3, rng)) for p in (random_params(rng) for _ in range(N_RTL))] + corner_cases()
    cases = [matvec_case(p, x, f"matvec{k}") for k, (p, x) in enumerate(setups)]
    result = run_rtl([MatVec(p) for p, _ in setups], cases, "sim.bench_matvec", "matvec", simulator)
    assert all(r["no_stall"]["first_and_total"] == r["no_stall"]["model"] for r in result.values())
    tally("MatVec", simulator, len(setups))
