"""PixelMap bench (DepthToSpace, Upsample): stimulus, golden expectation and cocotb entry."""

from __future__ import annotations

import cocotb
import numpy as np

from hwaccel.golden.pixel_map import pixel_map
from hwaccel.units import PixelMapParams, code_range

from hwaccel.sim.harness import Port, UnitCase, run_cocotb

__all__ = ["pixel_map_case"]


def pixel_map_case(params: PixelMapParams, n: int, rng: np.random.Generator, name: str = "pixel_map") -> UnitCase:
    """``n`` random images streamed back to back through one PixelMap."""
    p = params
    lo, hi = code_range(p.bits, p.signed)
    images = rng.integers(lo, hi + 1, size=(n, p.height, p.width, p.in_channels), dtype=np.int64)
    out = pixel_map(images, p)
    port = lambda a: Port(p.bits, p.simd, p.signed, a.reshape(-1, p.simd).tolist())  # noqa: E731
    return UnitCase(name, {"i": port(images)}, {"o": port(out)}, p.first_output_cycles, p.total_cycles(n))


@cocotb.test()
async def pixel_map_bench(dut: object) -> None:
    """Every case of the case file, no-stall and random-stall runs."""
    await run_cocotb(dut)
