"""Eltwise units on two streams: Add (each input to a common scale by its own multiplier, one
rounding) and Concat along channels (each input rescaled to the output encoding by its own
requant). Both feed :func:`~.requant.requant_pipeline`.
"""

from __future__ import annotations

from amaranth.hdl import Module, Mux, Shape, Signal, Value
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from .params import ADD_RESCALE_STAGES, EltwiseAddParams, EltwiseConcatParams
from .queue import OutputQueue
from .requant import requant_pipeline, requant_products
from .stream import code_shape, lanes_stream

__all__ = ["EltwiseAdd", "EltwiseConcat", "eltwise_products"]


def rescale_terms(p: EltwiseAddParams, a: Value, b: Value) -> list[Value]:
    """``(a - a_zero_point) * a_multiplier`` and ``(b - b_zero_point) * b_multiplier``."""
    return [(a - p.a_zero_point) * p.a_multiplier, (b - p.b_zero_point) * p.b_multiplier]


def rescaled_sum(p: EltwiseAddParams, a: Value, b: Value) -> Value:
    """The sum of :func:`rescale_terms`."""
    ta, tb = rescale_terms(p, a, b)
    return ta + tb


def concat_value(p: EltwiseConcatParams, from_b: Value, a: Value, b: Value) -> Value:
    """The offset code of the beat's side, for the requant."""
    return Mux(from_b, b - p.b_zero_point, a - p.a_zero_point)


def eltwise_products(p: EltwiseAddParams | EltwiseConcatParams) -> list[tuple[Shape, Shape | int]]:
    """The multiplies an Add or Concat builds (:func:`~.requant.requant_products` pairs)."""
    a, b = Signal(code_shape(p.a_bits, p.a_signed)), Signal(code_shape(p.b_bits, p.b_signed))
    if isinstance(p, EltwiseAddParams):
        terms: list[tuple[Shape, Shape | int]] = [((a - p.a_zero_point).shape(), p.a_multiplier),
                                                  ((b - p.b_zero_point).shape(), p.b_multiplier)]
        entries = [list(row) for row in p.requant.entries()]
        return terms * p.lanes + requant_products(rescaled_sum(p, a, b).shape(), entries)
    ra, rb = p.side("a"), p.side("b")
    entries = [list(ea) + list(eb) for ea, eb in zip(ra.entries(), rb.entries())]
    return requant_products(concat_value(p, Signal(), a, b).shape(), entries)


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
        queue = OutputQueue(m, self.o, p.latency)
        m.d.comb += [self.a.ready.eq(queue.room & self.b.valid), self.b.ready.eq(queue.room & self.a.valid)]
        issue = self.a.valid & self.b.valid & queue.room
        # ADD_RESCALE_STAGES registers before the requant: the operands (a FIFO's block RAM output
        # is slow: it drives no arithmetic), each input's product (the DSP block's output register),
        # then the products again by the adder (the route from the block).
        operands = [[Signal.like(port.p[lane], name=f"add{lane}_{side}_in") for side, port in (("a", self.a), ("b", self.b))]
                    for lane in range(p.lanes)]
        valid = Signal(name="add_valid_in")
        m.d.sync += [valid.eq(issue), *(r.eq(port.p[lane]) for lane, pair in enumerate(operands)
                                        for r, port in zip(pair, (self.a, self.b)))]
        terms = [rescale_terms(p, a, b) for a, b in operands]
        for stage in range(ADD_RESCALE_STAGES - 1):
            regs = [[Signal(Shape.cast(t.shape()), name=f"add{lane}_{side}_{stage}") for side, t in zip("ab", pair)]
                    for lane, pair in enumerate(terms)]
            delayed = Signal(name=f"add_valid_{stage}")
            m.d.sync += delayed.eq(valid)
            m.d.sync += [r.eq(t) for rs, ts in zip(regs, terms) for r, t in zip(rs, ts)]
            terms, valid = regs, delayed
        sums = [a + b for a, b in terms]
        entries = [list(row) for row in p.requant.entries()]
        valid, outs = requant_pipeline(m, valid, sums, entries, None, p.requant)
        queue.drive(issue, valid, outs)
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
        queue = OutputQueue(m, self.o, p.latency)
        beat = Signal(range(max(ga + gb, 2)))
        from_b = beat >= ga
        issue = Mux(from_b, self.b.valid, self.a.valid) & queue.room
        with m.If(issue):
            m.d.sync += beat.eq(Mux(beat == ga + gb - 1, 0, beat + 1))
        m.d.comb += [self.a.ready.eq(queue.room & ~from_b), self.b.ready.eq(queue.room & from_b)]
        values = [concat_value(p, from_b, self.a.p[lane], self.b.p[lane]) for lane in range(p.lanes)]
        entries = [list(ea) + list(eb) for ea, eb in zip(ra.entries(), rb.entries())]
        width = max(ra.product_bits, rb.product_bits)
        valid_out, outs = requant_pipeline(m, issue, values, entries, beat, ra, product_bits=width)
        queue.drive(issue, valid_out, outs)
        return m
