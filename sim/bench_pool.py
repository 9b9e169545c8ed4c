"""Pool bench: random max / average / global-average pools with corner-case windows.

Windows hold uniform codes, all-minimum and all-maximum windows (saturation both ways after the
average's requant), and windows whose sum rescales to an exact rounding tie or next to one.
:func:`pool_classes_case` streams the windows of a small padded image through an average pool
whose windows average different element counts (``count_include_pad=0`` with padding, a
``ceil_mode`` overhang), checked against the golden model's ONNX-level pool.
"""

from __future__ import annotations

import math

import cocotb
import numpy as np

from hwaccel import fixedpoint as fp
from hwaccel.golden.fixed_ops import pool as onnx_pool
from hwaccel.golden.fixed_ops.common import extract_windows
from hwaccel.golden.pool import average_pool, max_pool
from hwaccel.ir.graph import Node
from hwaccel.units import PoolParams, RequantParams, code_range

from .bench_requant import random_reals, random_requant, random_zero_point, tie_inputs
from hwaccel.sim.harness import Port, UnitCase, run_cocotb

__all__ = ["pool_case", "pool_classes_case"]


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


def pool_classes_case(seed: int) -> tuple[PoolParams, UnitCase]:
    """A random average pool over a padded image (a kernel of 2 or 3 a side, stride 1 or 2, pads
    0 or 1 each side, ceil_mode or not, count_include_pad=0) whose windows average 2 or more
    counts; the windows stream with the padding as the zero point, as the SlidingWindow sends them."""
    rng = np.random.default_rng(seed)
    bits, signed = int(rng.integers(2, 9)), bool(rng.random() < 0.5)
    lanes, groups = int(rng.integers(1, 3)), int(rng.integers(1, 3))
    channels, qmin, qmax = lanes * groups, *code_range(bits, signed)
    while True:
        kernel, strides = tuple(rng.integers(2, 4, size=2).tolist()), tuple(rng.integers(1, 3, size=2).tolist())
        attrs = dict(kernel_shape=kernel, strides=strides, pads=rng.integers(0, 2, size=4).tolist(),
                     ceil_mode=int(rng.integers(2)), count_include_pad=0)
        size = tuple(rng.integers(3, 6, size=2).tolist())
        counts, classes = np.unique(onnx_pool.window_count_map(size, attrs), return_inverse=True)
        if len(counts) > 1:
            break
    zx = random_zero_point(rng, qmin, qmax)
    out_bits, out_signed = int(rng.integers(4, 9)), bool(rng.random() < 0.5)
    lo, hi = code_range(out_bits, out_signed)  # the full range and a zero point in its middle half: few saturate
    zp = int(rng.integers((3 * lo + hi) // 4, (lo + 3 * hi) // 4 + 1))
    reals = random_reals(rng, out_bits - bits - 1, 1)  # per tensor, as activations are quantized
    rounding = str(rng.choice(fp.ROUNDING_MODES))
    rqs = {int(c): fp.Requant.from_scales(reals / c, zp, lo, hi, rounding=rounding) for c in counts}
    x = rng.integers(qmin, qmax + 1, size=(1, channels) + size)
    node = Node("pool", "QAveragePool", ("x",), ("y",), dict(attrs, x_zero_point=zx, requants=rqs))
    expected = onnx_pool.average_pool(node, x)[0].transpose(1, 2, 0)  # (oh, ow, C)
    pads = onnx_pool.spatial_pads(attrs["pads"], 2)
    ends = [(o - 1) * s + k - (n + b + e) for o, s, k, n, (b, e) in zip(expected.shape, strides, kernel, size, pads)]
    windows = extract_windows(x, kernel, strides, (1, 1), zx, [(b, e + max(end, 0)) for (b, e), end in zip(pads, ends)])
    windows = windows[0].transpose(1, 2, 3, 4, 0).reshape(-1, kernel[0] * kernel[1], channels)  # (pixels, window, C)
    window = kernel[0] * kernel[1]
    sum_lo, sum_hi = fp.accumulator_range(bits, 1, window, signed_x=signed, signed_w=False, x_zero_point=zx)
    units = [RequantParams.from_requant(rqs[int(c)], fp.signed_bits(sum_lo, sum_hi), out_bits, out_signed, channels, lanes=lanes)
             for c in counts]
    params = PoolParams("avg", window, bits, signed, channels, zx, units[0], lanes, tuple(u.multipliers for u in units),
                        tuple(u.shifts for u in units), tuple(classes.reshape(-1).tolist()))
    assert (average_pool(windows, zx, [rqs[int(c)] for c in counts], params.pixel_classes) == expected.reshape(-1, channels)).all()
    beats = windows.reshape(-1, lanes).tolist()
    case = UnitCase(f"pool_classes{seed}", {"i": Port(bits, lanes, signed, beats)},
                    {"o": Port(out_bits, lanes, out_signed, expected.reshape(-1, lanes).tolist())},
                    params.first_output_cycles, params.total_cycles(len(windows)))
    return params, case


@cocotb.test()
async def pool_bench(dut: object) -> None:
    """Every case of the case file, no-stall and random-stall runs."""
    await run_cocotb(dut)
