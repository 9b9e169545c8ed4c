"""Pool bench: random max / average / global-average pools with corner-case windows.

Windows hold uniform codes, all-minimum and all-maximum windows (saturation both ways after the
average's requant), and windows whose sum rescales to an exact rounding tie or next to one.
"""

from __future__ import annotations

import math

import cocotb
import numpy as np

from hwaccel import fixedpoint as fp
from hwaccel.golden.pool import average_pool, max_pool
from hwaccel.units import PoolParams, RequantParams, code_range

from .bench_requant import random_reals, random_requant, random_zero_point, tie_inputs
from hwaccel.sim.harness import Port, UnitCase, run_cocotb

__all__ = ["pool_case"]


def _split(total: int, window: int) -> list[int]:
    """``window`` integers summing to ``total``, as equal as possible."""
    base, extra = divmod(total, window)
    return [base + (k < extra) for k in range(window)]


def pool_case(seed: int, outputs: int = 8) -> tuple[PoolParams, UnitCase]:
    """A random Pool unit and its case: ``outputs`` windows of ``lanes * groups`` channels."""
    rng = np.random.default_rng(seed)
    kind = str(rng.choice(["max", "avg", "global"]))
    bits, signed = int(rng.integers(2, 17)), bool(rng.random() < 0.5)
    lanes, groups = int(rng.integers(1, 4)), int(rng.integers(1, 4))
    channels = lanes * groups
    window = int(rng.integers(4, 50)) if kind == "global" else int(rng.integers(1, 4)) ** 2
    qmin, qmax = code_range(bits, signed)
    windows = rng.integers(qmin, qmax + 1, size=(outputs, window, channels))
    windows[0], windows[1 % outputs] = qmin, qmax
    if kind == "max":
        params = PoolParams("max", window, bits, signed, channels, lanes=lanes)
        expected = max_pool(windows)
    else:
        zx = random_zero_point(rng, qmin, qmax)
        sum_lo, sum_hi = fp.accumulator_range(bits, 1, window, signed_x=signed, signed_w=False, x_zero_point=zx)
        out_bits, out_signed = int(rng.integers(2, 17)), bool(rng.random() < 0.5)
        rq = random_requant(rng, random_reals(rng, out_bits - bits - math.log2(window), 1), out_bits, out_signed)
        for o in range(2, outputs, 2):  # window sums at or next to rounding ties
            for c in range(channels):
                windows[o, :, c] = [zx + v for v in _split(tie_inputs(rng, rq, c, sum_lo, sum_hi), window)]
        requant = RequantParams.from_requant(rq, fp.signed_bits(sum_lo, sum_hi), out_bits, out_signed, lanes=lanes, channels=channels)
        params = PoolParams("avg", window, bits, signed, channels, zx, requant, lanes)
        expected = average_pool(windows, zx, rq)
    beats = windows.reshape(outputs, window, groups, lanes).reshape(-1, lanes).tolist()
    case = UnitCase(f"pool{seed}", {"i": Port(bits, lanes, signed, beats)},
                    {"o": Port(params.out_bits, lanes, params.out_signed, expected.reshape(-1, lanes).tolist())},
                    params.first_output_cycles, params.total_cycles(outputs))
    return params, case


@cocotb.test()
async def pool_bench(dut: object) -> None:
    """Every case of the case file, no-stall and random-stall runs."""
    await run_cocotb(dut)
