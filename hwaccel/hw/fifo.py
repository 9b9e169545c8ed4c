"""StreamFifo: ``amaranth.lib.fifo.SyncFIFOBuffered`` (block-RAM friendly) behind stream ports."""

from __future__ import annotations

from amaranth.hdl import Module
from amaranth.lib import wiring
from amaranth.lib.fifo import SyncFIFOBuffered
from amaranth.lib.wiring import In, Out

from ..units.fifo import FifoParams
from .stream import code_shape, lanes_stream

__all__ = ["StreamFifo"]


class StreamFifo(wiring.Component):
    """Stream unit: beats of ``lanes`` codes in (``i``) and out (``o``) in order, ``depth`` buffered."""

    def __init__(self, params: FifoParams) -> None:
        self.params = params
        sig = lanes_stream(code_shape(params.bits, params.signed), params.lanes)
        super().__init__({"i": In(sig), "o": Out(sig)})

    def elaborate(self, platform: object) -> Module:
        p = self.params
        m = Module()
        m.submodules.fifo = fifo = SyncFIFOBuffered(width=p.lanes * p.bits, depth=p.depth)
        m.d.comb += [
            fifo.w_data.eq(self.i.payload.as_value()), fifo.w_en.eq(self.i.valid), self.i.ready.eq(fifo.w_rdy),
            self.o.payload.eq(fifo.r_data), self.o.valid.eq(fifo.r_rdy), fifo.r_en.eq(self.o.ready),
        ]
        return m
