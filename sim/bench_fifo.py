"""StreamFifo bench: a FIFO's golden model is the identity on its beat sequence."""

from __future__ import annotations

import cocotb
import numpy as np

from hwaccel.units import FifoParams, code_range

from hwaccel.sim.harness import Port, UnitCase, run_cocotb

__all__ = ["fifo_case"]


def fifo_case(params: FifoParams, n_beats: int, rng: np.random.Generator, name: str = "fifo") -> UnitCase:
    """``n_beats`` random beats that must leave in order and unchanged."""
    lo, hi = code_range(params.bits, params.signed)
    beats = rng.integers(lo, hi + 1, size=(n_beats, params.lanes), dtype=np.int64).tolist()
    port = Port(params.bits, params.lanes, params.signed, beats)
    return UnitCase(name, {"i": port}, {"o": port}, params.first_output_cycles, params.total_cycles(n_beats))


@cocotb.test()
async def fifo_bench(dut: object) -> None:
    """Every case of the case file, no-stall and random-stall runs."""
    await run_cocotb(dut)
