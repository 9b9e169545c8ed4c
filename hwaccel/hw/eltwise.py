"""Eltwise units on two streams: Add (each input to a common scale by its own multiplier, one
rounding) and Concat along channels (each input rescaled to the output encoding by its own
requant). Both feed :func:`~.requant.requant_pipeline`.
"""

from __future__ import annotations

from amaranth.hdl import Module, Mux, Signal, Value
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from .params import EltwiseAddParams, EltwiseConcatParams
from .requant import requant_pipeline
from .stream import code_shape, lanes_stream

__all__ = ["EltwiseAdd", "EltwiseConcat"]


class EltwiseAdd(wiring.Component):
    """``o = requant((a - za) * Ma + (b - zb) * Mb)``; a beat of ``a`` and one of ``b`` make one output beat."""

    def __init__(self, params: EltwiseAddParams) -> None:
        self.params = params
        rq = params.requant
        super().__init__({
            "a": In(lanes_stream(code_shape(params.a_bits, params.a_signed), params.lanes)),
            "b": In(lanes_stream(code_shape(params.b_bits, params.b_signed), params.lanes)),
            "o": Out(lanes_stream(code_shape(rq.out_bits, rq.out_signed), params.lanes)),
        })

    def elaborate(self, platform: object) -> Module:
        p = self.params
        m = Module()
        advance = ~self.o.valid | self.o.ready
        m.d.comb += [self.a.ready.eq(advance & self.b.valid), self.b.ready.eq(advance & self.a.valid)]
        sums: list[Value] = [
            (self.a.p[lane] - p.a_zero_point) * p.a_multiplier + (self.b.p[lane] - p.b_zero_point) * p.b_multiplier
            for lane in range(p.lanes)
        ]
        entries = [list(row) for row in p.requant.entries()]
        valid, outs = requant_pipeline(m, advance, self.a.valid & self.b.valid, sums, entries, None, p.requant)
        m.d.comb += self.o.valid.eq(valid)
        m.d.comb += [self.o.p[lane].eq(v) for lane, v in enumerate(outs)]
        return m


class EltwiseConcat(wiring.Component):
    """Per pixel: ``a_channels / lanes`` beats from ``a``, then ``b_channels / lanes`` from ``b``, rescaled."""

    def __init__(self, params: EltwiseConcatParams) -> None:
        self.params = params
        super().__init__({
            "a": In(lanes_stream(code_shape(params.a_bits, params.a_signed), params.lanes)),
            "b": In(lanes_stream(code_shape(params.b_bits, params.b_signed), params.lanes)),
            "o": Out(lanes_stream(code_shape(params.out_bits, params.out_signed), params.lanes)),
        })

    def elaborate(self, platform: object) -> Module:
        p = self.params
        m = Module()
        ga, gb = p.groups
        ra, rb = p.side("a"), p.side("b")
        advance = ~self.o.valid | self.o.ready
        beat = Signal(range(max(ga + gb, 2)))
        from_b = beat >= ga
        valid = Mux(from_b, self.b.valid, self.a.valid)
        with m.If(valid & advance):
            m.d.sync += beat.eq(Mux(beat == ga + gb - 1, 0, beat + 1))
        m.d.comb += [self.a.ready.eq(advance & ~from_b), self.b.ready.eq(advance & from_b)]
        values: list[Value] = [
            Mux(from_b, self.b.p[lane] - p.b_zero_point, self.a.p[lane] - p.a_zero_point) for lane in range(p.lanes)
        ]
        entries = [list(ea) + list(eb) for ea, eb in zip(ra.entries(), rb.entries())]
        width = max(ra.product_bits, rb.product_bits)
        valid_out, outs = requant_pipeline(m, advance, valid, values, entries, beat, ra, product_bits=width)
        m.d.comb += self.o.valid.eq(valid_out)
        m.d.comb += [self.o.p[lane].eq(v) for lane, v in enumerate(outs)]
        return m
