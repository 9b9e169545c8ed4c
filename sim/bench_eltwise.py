"""Eltwise bench: random Add (and Sub) with per-input multipliers, and random Concat.

Inputs: uniform codes, all-minimum and all-maximum pixels, random zero points at the extremes,
both rounding modes, affine multipliers of random widths or pow2, clamps that saturate.
"""

from __future__ import annotations

import cocotb
import numpy as np

from hwaccel import fixedpoint as fp
from hwaccel.golden.eltwise import add, concat
from hwaccel.units import EltwiseAddParams, EltwiseConcatParams, RequantParams, code_range

from .bench_requant import random_clamp, random_reals, random_requant, random_zero_point
from hwaccel.sim.harness import Port, UnitCase, run_cocotb

__all__ = ["add_case", "concat_case"]


def _codes(rng: np.random.Generator, bits: int, signed: bool, shape: tuple[int, int]) -> np.ndarray:
    qmin, qmax = code_range(bits, signed)
    x = rng.integers(qmin, qmax + 1, size=shape)
    x[0], x[1 % shape[0]] = qmin, qmax
    return x


def _add_multipliers(rng: np.random.Generator, reals: np.ndarray, mult_bits: int) -> tuple[list[int], int]:
    """Per-input multipliers with one common shift: affine (random width) or pow2."""
    if rng.random() < 0.15:
        pairs = [fp.pow2_multiplier(float(r)) for r in reals]
        shift = max(n for _, n in pairs)
        return [m << (shift - n) for m, n in pairs], shift
    m, n = fp.quantize_multipliers(reals, mult_bits, common_shift=True)
    return [int(v) for v in m], int(n[0])


def add_case(seed: int, pixels: int = 32) -> tuple[EltwiseAddParams, UnitCase]:
    """A random Add (or Sub) unit and its case: ``pixels`` beats on each input."""
    rng = np.random.default_rng(seed)
    lanes = int(rng.integers(1, 4))
    (a_bits, b_bits, out_bits), (a_signed, b_signed, out_signed) = rng.integers(2, 17, 3).tolist(), (rng.random(3) < 0.5).tolist()
    za = random_zero_point(rng, *code_range(a_bits, a_signed))
    zb = random_zero_point(rng, *code_range(b_bits, b_signed))
    reals = np.array([random_reals(rng, out_bits - a_bits, 1)[0], random_reals(rng, out_bits - b_bits, 1)[0]])
    if rng.random() < 0.3:
        reals[1] = -reals[1]  # Sub
    qmin, qmax = code_range(out_bits, out_signed)
    zy = random_zero_point(rng, qmin, qmax)
    lo, hi = random_clamp(rng, qmin, qmax, zy)
    mult_bits = int(rng.integers(2, 25)) if rng.random() < 0.7 else fp.multiplier_bits_for_exactness(lo, hi, zy)
    (ma, mb), shift = _add_multipliers(rng, reals, mult_bits)
    rq = fp.Requant(np.array([1]), np.array([shift]), zy, lo, hi, str(rng.choice(fp.ROUNDING_MODES)))
    ends = [[(c - z) * m for c in code_range(bits, s)] for bits, s, z, m in ((a_bits, a_signed, za, ma), (b_bits, b_signed, zb, mb))]
    sum_bits = fp.signed_bits(sum(min(e) for e in ends), sum(max(e) for e in ends))
    requant = RequantParams.from_requant(rq, sum_bits, out_bits, out_signed, lanes=lanes, channels=lanes)
    params = EltwiseAddParams(a_bits, a_signed, za, ma, b_bits, b_signed, zb, mb, requant, lanes)
    a, b = _codes(rng, a_bits, a_signed, (pixels, lanes)), _codes(rng, b_bits, b_signed, (pixels, lanes))
    expected = add(a, b, za, zb, ma, mb, rq)
    out = Port(out_bits, lanes, out_signed, expected.tolist())
    case = UnitCase(f"add{seed}", {"a": Port(a_bits, lanes, a_signed, a.tolist()), "b": Port(b_bits, lanes, b_signed, b.tolist())},
                    {"o": out}, params.first_output_cycles, params.total_cycles(pixels))
    return params, case


def concat_case(seed: int, pixels: int = 16) -> tuple[EltwiseConcatParams, UnitCase]:
    """A random Concat unit and its case: ``pixels`` pixels of ``a_channels + b_channels`` channels."""
    rng = np.random.default_rng(seed)
    lanes = int(rng.integers(1, 4))
    out_bits, out_signed = int(rng.integers(2, 17)), bool(rng.random() < 0.5)
    rounding = str(rng.choice(fp.ROUNDING_MODES))
    sides = {}
    for name in "ab":
        chans = lanes * int(rng.integers(1, 4))
        if rng.random() < 0.3:  # already in the output encoding
            bits, signed, rq, zx = out_bits, out_signed, None, random_zero_point(rng, *code_range(out_bits, out_signed))
        else:
            bits, signed = int(rng.integers(2, 17)), bool(rng.random() < 0.5)
            zx = random_zero_point(rng, *code_range(bits, signed))
            rq = random_requant(rng, random_reals(rng, out_bits - bits, 1), out_bits, out_signed)
            rq = fp.Requant(rq.multiplier, rq.shift, rq.zero_point, rq.lo, rq.hi, rounding)
        sides[name] = (chans, bits, signed, zx, rq, _codes(rng, bits, signed, (pixels, chans)))
    (ca, a_bits, a_signed, za, rqa, a), (cb, b_bits, b_signed, zb, rqb, b) = sides["a"], sides["b"]
    side_params = [None if rq is None else RequantParams.from_requant(rq, bits + 1, out_bits, out_signed, lanes=lanes, channels=ch)
                   for ch, bits, _, _, rq, _ in (sides["a"], sides["b"])]
    params = EltwiseConcatParams(ca, cb, a_bits, a_signed, b_bits, b_signed, out_bits, out_signed, za, zb, *side_params, lanes=lanes)
    expected = concat(a, b, za, zb, rqa, rqb)
    inputs = {"a": Port(a_bits, lanes, a_signed, a.reshape(-1, lanes).tolist()), "b": Port(b_bits, lanes, b_signed, b.reshape(-1, lanes).tolist())}
    out = Port(out_bits, lanes, out_signed, expected.reshape(-1, lanes).tolist())
    return params, UnitCase(f"concat{seed}", inputs, {"o": out}, params.first_output_cycles, params.total_cycles(pixels))


@cocotb.test()
async def eltwise_bench(dut: object) -> None:
    """Every case of the case file, no-stall and random-stall runs."""
    await run_cocotb(dut)
