"""Depthwise bench: stimulus, golden expectation (:mod:`hwaccel.golden.depthwise`) and cocotb entry."""

from __future__ import annotations

import cocotb
import numpy as np

from hwaccel.golden.depthwise import depthwise
from hwaccel.units import DepthwiseParams, code_range

from hwaccel.sim.harness import Port, UnitCase, run_cocotb

__all__ = ["depthwise_case", "random_windows"]


def random_windows(params: DepthwiseParams, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` random ``(taps, channels)`` windows over the full code range."""
    lo, hi = code_range(params.bits_x, params.signed_x)
    return rng.integers(lo, hi + 1, size=(n, params.taps, params.channels))


def depthwise_case(params: DepthwiseParams, windows: np.ndarray, name: str = "depthwise",
                   rng: np.random.Generator | None = None) -> UnitCase:
    """The case of ``windows`` (``(n, taps, channels)``, one pixel each) through one Depthwise unit.
    Where ``lanes`` does not divide ``channels``, each tap's last beat carries codes from ``rng`` (or
    zeros) in its lanes past ``channels``, which the unit must ignore; its output has 0 there."""
    p = params
    acc = depthwise(windows, np.array(p.weights), np.array(p.bias), p.x_zero_point)
    n, spare = len(windows), p.groups * p.lanes - p.channels
    lo, hi = code_range(p.bits_x, p.signed_x)
    filler = np.zeros((n, p.taps, spare), np.int64) if rng is None else rng.integers(lo, hi + 1, (n, p.taps, spare))
    beats_in = np.concatenate([np.asarray(windows, np.int64), filler], axis=2).reshape(-1, p.lanes)
    beats_out = np.concatenate([acc, np.zeros((n, spare), np.int64)], axis=1).reshape(-1, p.lanes)
    return UnitCase(
        name,
        {"i": Port(p.bits_x, p.lanes, p.signed_x, beats_in.tolist())},
        {"o": Port(p.acc_bits, p.lanes, True, beats_out.tolist())},
        p.first_output_cycles, p.total_cycles(n),
    )


@cocotb.test()
async def depthwise_bench(dut: object) -> None:
    """Every case of the case file, no-stall and random-stall runs."""
    await run_cocotb(dut)
