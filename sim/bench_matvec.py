"""MatVec bench: stimulus, golden expectation (:mod:`hwaccel.golden.matvec`) and cocotb entry."""

from __future__ import annotations

import cocotb
import numpy as np

from hwaccel.golden.matvec import matvec
from hwaccel.units import MatVecParams, code_range

from hwaccel.sim.harness import Port, UnitCase, run_cocotb

__all__ = ["matvec_case", "random_vectors"]


def random_vectors(params: MatVecParams, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` random input vectors over the full code range."""
    lo, hi = code_range(params.bits_x, params.signed_x)
    return rng.integers(lo, hi + 1, size=(n, params.in_features))


def _fold(rows: np.ndarray, lanes: int) -> list[list[int]]:
    """Cut each row into beats of ``lanes``, the last one padded with zeros."""
    n, width = rows.shape
    padded = np.zeros((n, -(-width // lanes) * lanes), dtype=np.int64)
    padded[:, :width] = rows
    return padded.reshape(-1, lanes).tolist()


def matvec_case(params: MatVecParams, vectors: np.ndarray, name: str = "matvec") -> UnitCase:
    """The case of ``vectors`` (``(n, in_features)``) through one MatVec; padding output lanes expect 0."""
    p = params
    acc = matvec(vectors, np.array(p.weights), np.array(p.bias), p.x_zero_point,
                 None if p.codebook is None else np.array(p.codebook))
    return UnitCase(
        name,
        {"i": Port(p.bits_x, p.simd, p.signed_x, _fold(np.asarray(vectors), p.simd))},
        {"o": Port(p.acc_bits, p.pe, True, _fold(acc, p.pe))},
        p.first_output_cycles, p.total_cycles(len(vectors)),
    )


@cocotb.test()
async def matvec_bench(dut: object) -> None:
    """Every case of the case file, no-stall and random-stall runs."""
    await run_cocotb(dut)
