"""Requant bench: random parameterisations with corner-case stimulus and golden expectations.

Parameterisations draw output widths 2..16 (signed or not), zero points at both extremes,
clamps from the full range down to a single code (saturation both ways), both rounding modes,
affine multipliers of random widths or pow2, per-tensor or per-channel, and an activation table.
Accumulators: uniform, the extremes, exact rounding ties and their neighbours.
"""

from __future__ import annotations

from fractions import Fraction

import cocotb
import numpy as np

from hwaccel import fixedpoint as fp
from hwaccel.golden.requant import requant as golden_requant
from hwaccel.units import RequantParams, code_range

from hwaccel.sim.harness import Port, UnitCase, run_cocotb

__all__ = ["random_zero_point", "random_clamp", "random_reals", "random_requant", "tie_inputs", "requant_case"]


def random_zero_point(rng: np.random.Generator, qmin: int, qmax: int) -> int:
    return int(rng.choice([qmin, qmax, int(rng.integers(qmin, qmax + 1))]))


def random_clamp(rng: np.random.Generator, qmin: int, qmax: int, zp: int) -> tuple[int, int]:
    """Mostly the full range; else a ReLU-like lower bound at the zero point or a random sub-range."""
    kind = rng.integers(4)
    if kind <= 1:
        return qmin, qmax
    if kind == 2:
        return zp, qmax
    lo = int(rng.integers(qmin, qmax + 1))
    return lo, int(rng.integers(lo, qmax + 1))


def random_reals(rng: np.random.Generator, log2_center: float, count: int) -> np.ndarray:
    """Log-uniform multipliers +-2 octaves around ``2**log2_center``; sometimes with 3 significant bits
    (exact rounding ties become reachable)."""
    reals = 2.0 ** (log2_center + rng.uniform(-2, 2, size=count))
    if rng.random() < 0.4:
        mant, exp = np.frexp(reals)
        reals = np.ldexp(np.round(np.ldexp(mant, 3)), exp - 3)
    return reals


def random_requant(rng: np.random.Generator, reals: np.ndarray, out_bits: int, out_signed: bool) -> fp.Requant:
    """A contract Requant to ``out_bits`` codes: random zero point, clamp, scheme, width and rounding."""
    qmin, qmax = code_range(out_bits, out_signed)
    zp = random_zero_point(rng, qmin, qmax)
    lo, hi = random_clamp(rng, qmin, qmax, zp)
    scheme = "pow2" if rng.random() < 0.15 else "affine"
    mult_bits = None if rng.random() < 0.3 else int(rng.integers(1, 25))
    return fp.Requant.from_scales(reals, zp, lo, hi, scheme=scheme, mult_bits=mult_bits, rounding=str(rng.choice(fp.ROUNDING_MODES)))


def tie_inputs(rng: np.random.Generator, rq: fp.Requant, channel: int, lo: int, hi: int) -> int:
    """An input whose rescaled value is an exact rounding tie (when reachable) or within 1 of one."""
    mult, shift = int(np.resize(rq.multiplier, channel + 1)[channel]), int(np.resize(rq.shift, channel + 1)[channel])
    if mult == 0:
        return int(rng.integers(lo, hi + 1))
    k = int(rng.integers(rq.lo - rq.zero_point - 1, rq.hi - rq.zero_point + 1))  # a tie inside the clamp
    near = round(Fraction(2 * k + 1, 2) * Fraction(2) ** shift / mult)
    step = shift - 1 - ((abs(mult) & -abs(mult)).bit_length() - 1)  # odd * 2**step: acc * mult an odd multiple of 2**(shift-1)
    if rng.random() < 0.5 and step >= 0:
        value = (near >> (step + 1)) * 2 ** (step + 1) + 2**step
    else:
        value = near + int(rng.integers(-1, 2))
    return min(max(value, lo), hi)


def random_accumulators(rng: np.random.Generator, rq: fp.Requant, acc_bits: int, pixels: int, channels: int) -> np.ndarray:
    """Uniform accumulators, the extremes, and every other pixel at or next to rounding ties."""
    lo, hi = code_range(acc_bits, True)
    acc = rng.integers(lo, hi + 1, size=(pixels, channels))
    acc[0, :], acc[1 % pixels, :] = lo, hi
    for p in range(2, pixels, 2):
        acc[p] = [tie_inputs(rng, rq, c, lo, hi) for c in range(channels)]
    return acc


def requant_case(seed: int, pixels: int = 24) -> tuple[RequantParams, UnitCase]:
    """A random Requant unit and its case: ``pixels`` pixels of ``channels`` channels, ``lanes`` a beat."""
    rng = np.random.default_rng(seed)
    lanes, channels = int(rng.integers(1, 4)), int(rng.integers(1, 10))
    out_bits, out_signed, acc_bits = int(rng.integers(2, 17)), bool(rng.random() < 0.5), int(rng.integers(2, 33))
    lut, lut_qmin, code_bits, code_signed = None, 0, out_bits, out_signed
    if rng.random() < 0.2:  # requant to an intermediate code, then a table to the output code
        code_bits, code_signed = int(rng.integers(2, 9)), bool(rng.random() < 0.5)
        lut_qmin, lut_qmax = code_range(code_bits, code_signed)
        lut = rng.integers(*code_range(out_bits, out_signed), endpoint=True, size=lut_qmax - lut_qmin + 1)
    reals = random_reals(rng, code_bits - acc_bits, channels if rng.random() < 0.5 else 1)
    rq = random_requant(rng, reals, code_bits, code_signed)
    params = RequantParams.from_requant(rq, acc_bits, out_bits, out_signed, channels=channels, lut=lut, lut_qmin=lut_qmin, lanes=lanes)
    acc = random_accumulators(rng, rq, acc_bits, pixels, channels)
    # lanes past the channels (in a pixel's last beat) have multiplier 0: they give clamp(zero point)
    pad = params.groups * lanes - channels
    padded = np.pad(acc, ((0, 0), (0, pad)))
    if rq.channels > 1:
        rq = fp.Requant(np.pad(rq.multiplier, (0, pad)), np.pad(rq.shift, (0, pad)), rq.zero_point, rq.lo, rq.hi, rq.rounding)
    expected = golden_requant(padded, rq, lut, lut_qmin)
    case = UnitCase(f"requant{seed}", {"i": Port(acc_bits, lanes, True, padded.reshape(-1, lanes).tolist())},
                    {"o": Port(out_bits, lanes, out_signed, expected.reshape(-1, lanes).tolist())},
                    params.first_output_cycles, params.total_cycles(pixels))
    return params, case


@cocotb.test()
async def requant_bench(dut: object) -> None:
    """Every case of the case file, no-stall and random-stall runs."""
    await run_cocotb(dut)
