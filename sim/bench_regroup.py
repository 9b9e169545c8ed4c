"""Regroup bench: the elements of each vector leave in order in the output's lanes, zero past the vector."""

from __future__ import annotations

import cocotb
import numpy as np

from hwaccel.units import RegroupParams, code_range

from hwaccel.sim.harness import Port, UnitCase, run_cocotb

__all__ = ["regroup_case"]


def regroup_case(params: RegroupParams, vectors: int, rng: np.random.Generator, name: str = "regroup") -> UnitCase:
    """``vectors`` random vectors; the input lanes past a vector's end carry random codes (ignored)."""
    p = params
    lo, hi = code_range(p.bits, p.signed)
    codes = rng.integers(lo, hi + 1, size=(vectors, p.length), dtype=np.int64)
    inputs = rng.integers(lo, hi + 1, size=(vectors, p.in_beats * p.lanes_in), dtype=np.int64)
    inputs[:, :p.length] = codes
    outputs = np.zeros((vectors, p.out_beats * p.lanes_out), dtype=np.int64)
    outputs[:, :p.length] = codes
    return UnitCase(name, {"i": Port(p.bits, p.lanes_in, p.signed, inputs.reshape(-1, p.lanes_in).tolist())},
                    {"o": Port(p.bits, p.lanes_out, p.signed, outputs.reshape(-1, p.lanes_out).tolist())},
                    p.first_output_cycles, p.total_cycles(vectors))


@cocotb.test()
async def regroup_bench(dut: object) -> None:
    """Every case of the case file, no-stall and random-stall runs."""
    await run_cocotb(dut)
