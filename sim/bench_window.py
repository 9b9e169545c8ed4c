"""SlidingWindow bench: stimulus, golden expectation (:mod:`hwaccel.golden.window`) and cocotb entry."""

from __future__ import annotations

import cocotb
import numpy as np

from hwaccel.golden.window import image_beats, sliding_windows, window_beats
from hwaccel.units import WindowParams

from hwaccel.sim.harness import Port, UnitCase, run_cocotb

__all__ = ["window_case", "random_images"]


def random_images(params: WindowParams, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` random ``(H, W, C)`` images over the full code range."""
    lo, hi = (-(1 << (params.bits - 1)), (1 << (params.bits - 1)) - 1) if params.signed else (0, (1 << params.bits) - 1)
    return rng.integers(lo, hi + 1, size=(n, params.height, params.width, params.channels))


def window_case(params: WindowParams, images: np.ndarray, name: str = "window") -> UnitCase:
    """The case of ``images`` (``(n, H, W, C)``) streamed back to back through one SlidingWindow."""
    p = params
    ins, outs = [], []
    for image in images:
        ins.append(image_beats(image, p.simd))
        win = sliding_windows(image, (p.kernel_h, p.kernel_w), (p.stride_h, p.stride_w), (p.dilation_h, p.dilation_w),
                              (p.pad_top, p.pad_left, p.pad_bottom, p.pad_right), p.pad_value)
        outs.append(window_beats(win, p.simd))
    port = lambda beats: Port(p.bits, p.simd, p.signed, np.concatenate(beats).tolist())  # noqa: E731
    return UnitCase(name, {"i": port(ins)}, {"o": port(outs)}, p.first_output_cycles, p.total_cycles(len(images)))


@cocotb.test()
async def window_bench(dut: object) -> None:
    """Every case of the case file, no-stall and random-stall runs."""
    await run_cocotb(dut)
