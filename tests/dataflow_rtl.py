"""Cycle-by-cycle amaranth.sim driver of a compiled network (``hwaccel.hw.top.NetworkTop``).

The perf tests use it to hold the cycle model and the functional model to the real units.
"""

from __future__ import annotations

import numpy as np
from amaranth.lib import wiring
from amaranth.sim import Simulator

from hwaccel.hw.stream import pack_lanes, unpack_lanes
from hwaccel.hw.top import NetworkTop
from hwaccel.units.dataflow import Dataflow


def simulate_top(df: Dataflow, beats: np.ndarray, out_beats: int, valid=None, ready=None,
                 limit: int = 200_000, top: wiring.Component | None = None) -> tuple[list[list[int]], list[int]]:
    """Feed ``beats`` (``(count, lanes)``) from cycle 0; returns output beats and their cycles.

    ``valid(cycle)`` / ``ready(cycle)``: stall patterns of the input and output (default: none).
    ``top``: the design (default :class:`hwaccel.hw.top.NetworkTop`), with stream ports ``i`` and ``o``.
    """
    top = NetworkTop(df) if top is None else top
    enc_in = df.input.encoding
    bits_out, signed_out = top.o.payload.shape().elem_shape.width, top.o.payload.shape().elem_shape.signed
    lanes_out = top.o.payload.shape().length
    words = [pack_lanes(b, enc_in.bits) for b in beats]
    got: list[list[int]] = []
    cycles: list[int] = []

    async def bench(ctx) -> None:
        index, cycle = 0, 0
        while len(got) < out_beats and cycle < limit:
            offer = index < len(words) and (valid is None or valid(cycle))
            ctx.set(top.i.valid, offer)
            if offer:
                ctx.set(top.i.payload.as_value(), words[index])
            ctx.set(top.o.ready, ready is None or ready(cycle))
            _, _, iv, ir, ov, orr, op = await ctx.tick().sample(top.i.valid, top.i.ready, top.o.valid, top.o.ready,
                                                                   top.o.payload.as_value())
            if iv and ir:
                index += 1
            if ov and orr:
                got.append(unpack_lanes(op, bits_out, lanes_out, signed_out))
                cycles.append(cycle)
            cycle += 1

    sim = Simulator(top)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()
    return got, cycles
