"""Eltwise units on two streams: Add (each input to a common scale by its own multiplier, one
rounding) and Concat along channels (each input rescaled to the output encoding by its own
requant). Both feed :func:`~.requant.requant_pipeline`.
"""

from __future__ import annotations

from amaranth.hdl import Const, Module, Mux, Shape, Signal, Value
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from ..units.eltwise import ADD_RESCALE_STAGES, EltwiseAddParams, EltwiseConcatParams
from ..units.requant import constant_chunks
from .queue import OutputQueue
from .requant import requant_pipeline
from .stream import code_shape, lanes_stream, register, valid_chain

__all__ = ["EltwiseAdd", "EltwiseConcat"]


def _sides(p: EltwiseAddParams) -> list[tuple[str, int, int]]:
    """``(name, zero_point, multiplier)`` of the two inputs."""
    return [("a", p.a_zero_point, p.a_multiplier), ("b", p.b_zero_point, p.b_multiplier)]


def concat_value(p: EltwiseConcatParams, from_b: Value, a: Value, b: Value) -> Value:
    """The offset code of the beat's side, for the requant."""
    return Mux(from_b, b - p.b_zero_point, a - p.a_zero_point)


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
        # ADD_RESCALE_STAGES registers before the requant, one wide operation or one route a stage:
        # 1. the operands (a FIFO's block RAM output is slow: it drives no arithmetic);
        # 2. ``x - zero_point``;
        # 3. the offset again, one copy per partial product: its DSP block's input register (a
        #    subtract in front of a block's input register was resnet's critical path);
        # 4. the partial products, the offset times each 17-bit chunk of the constant multiplier
        #    (:func:`~.requant.constant_chunks`; a DSP block each, this its output register);
        # 5. the partial products again, by the adder (the route from the blocks);
        # 6. each input rescaled: the sum of its partial products.
        valids = valid_chain(m, issue, ADD_RESCALE_STAGES, "add_valid")

        def reg(value: Value, name: str) -> Signal:
            return register(m, value, name)

        terms = []
        for lane in range(p.lanes):
            pair = []
            for port, (side, zero, mult) in zip((self.a, self.b), _sides(p)):
                operand = reg(port.p[lane], f"add{lane}_{side}_in")
                offset = reg(operand - zero, f"add{lane}_{side}_off")
                parts = [(reg(reg(reg(offset, f"add{lane}_{side}_off{k}") * chunk, f"add{lane}_{side}_part{k}"),
                              f"add{lane}_{side}_part{k}_r"), shift) for k, (chunk, shift) in enumerate(constant_chunks(mult))]
                rescaled = Signal(Shape.cast((offset * mult).shape()), name=f"add{lane}_{side}_rescaled")
                m.d.sync += rescaled.eq(sum((part << shift for part, shift in parts), Const(0)))
                pair.append(rescaled)
            terms.append(pair)
        valid = valids[ADD_RESCALE_STAGES]
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
