"""Test-only assembly of a Dataflow from the hardware units, exactly as ``hwaccel.ir.dataflow`` prescribes.

It checks the cycle model and the functional model against the real units in amaranth.sim before
the top level (``hw/top.py``) exists: stage units joined directly, FIFO edges through
``StreamFifo``, lockstep forks (``src.ready = AND ready_k``, ``valid_k = src.valid & AND_{j!=k}
ready_j``). Not the product's top level: a minimal wiring for the tests.
"""

from __future__ import annotations

import numpy as np
from amaranth.hdl import Module
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out
from amaranth.sim import Simulator

from hwaccel.hw.eltwise import EltwiseAdd, EltwiseConcat
from hwaccel.hw.fifo import StreamFifo
from hwaccel.hw.matvec import MatVec
from hwaccel.hw.params import (EltwiseAddParams, EltwiseConcatParams, MatVecParams, PoolParams, RequantParams,
                               WindowParams)
from hwaccel.hw.pool import Pool
from hwaccel.hw.requant import Requant
from hwaccel.hw.stream import code_shape, lanes_stream, pack_lanes, unpack_lanes
from hwaccel.hw.window import SlidingWindow
from hwaccel.ir.dataflow import INPUT, OUTPUT, Dataflow, unit_codes

UNIT = {WindowParams: SlidingWindow, MatVecParams: MatVec, RequantParams: Requant, PoolParams: Pool,
        EltwiseAddParams: EltwiseAdd, EltwiseConcatParams: EltwiseConcat}


class TestTop(wiring.Component):
    """The dataflow's network with top-level stream ports ``i`` and ``o``."""

    def __init__(self, df: Dataflow) -> None:
        self.df = df
        enc_in = df.input.encoding
        last = df.stage(next(e.src for e in df.edges if e.dst == OUTPUT))
        bits, signed = unit_codes(last.units[-1])
        super().__init__({"i": In(lanes_stream(code_shape(enc_in.bits, enc_in.signed), df.input.lanes)),
                          "o": Out(lanes_stream(code_shape(bits, signed), last.lanes))})

    def elaborate(self, platform: object) -> Module:
        m = Module()
        df = self.df
        units: dict[str, list] = {}
        for s in df.stages:
            units[s.name] = [UNIT[type(p)](p) for p in s.units]
            for k, u in enumerate(units[s.name]):
                m.submodules[f"{s.name}_{k}"] = u
            for a, b in zip(units[s.name], units[s.name][1:]):
                wiring.connect(m, a.o, b.i)
        sinks: dict[str, list] = {}
        for idx, e in enumerate(df.edges):
            if e.dst == OUTPUT:
                dst = self.o
            else:
                first = units[e.dst][0]
                dst = getattr(first, ("a", "b")[e.port]) if hasattr(first, "a") else first.i
            if e.fifo is not None:
                m.submodules[f"fifo{idx}"] = fifo = StreamFifo(e.fifo)
                m.d.comb += [dst.valid.eq(fifo.o.valid), dst.payload.eq(fifo.o.payload), fifo.o.ready.eq(dst.ready)]
                dst = fifo.i
            sinks.setdefault(e.src, []).append(dst)
        for src_name, dsts in sinks.items():
            src = self.i if src_name == INPUT else units[src_name][-1].o
            for k, d in enumerate(dsts):
                others = [o.ready for j, o in enumerate(dsts) if j != k]
                gate = src.valid
                for r in others:
                    gate = gate & r
                m.d.comb += [d.valid.eq(gate), d.payload.eq(src.payload)]
            ready = dsts[0].ready
            for d in dsts[1:]:
                ready = ready & d.ready
            m.d.comb += src.ready.eq(ready)
        return m


def simulate_top(df: Dataflow, beats: np.ndarray, out_beats: int, valid=None, ready=None,
                 limit: int = 200_000, top: wiring.Component | None = None) -> tuple[list[list[int]], list[int]]:
    """Feed ``beats`` (``(count, lanes)``) from cycle 0; returns output beats and their cycles.

    ``valid(cycle)`` / ``ready(cycle)``: stall patterns of the input and output (default: none).
    ``top``: the design (default :class:`TestTop`), with stream ports ``i`` and ``o``.
    """
    top = TestTop(df) if top is None else top
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
