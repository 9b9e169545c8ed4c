"""Regroup: vectors from ``lanes_in`` to ``lanes_out`` lanes through a small shifting buffer.

Registers: the buffer (``capacity`` codes, the oldest in slot 0), its ``fill`` count, the input
and output beat counters of the vector, and the output register (``o.valid``, ``o.payload``).
Every cycle:

- ``i.ready = fill + n_in <= capacity`` (``n_in``: the codes the vector's next input beat
  brings), flip-flops only;
- the output register is *free* when empty or leaving (``~o.valid | o.ready``); it *loads* when
  free and ``fill >= n_out`` (the next output beat's codes): slots ``0 .. n_out - 1``, lanes past
  ``n_out`` zero;
- at the edge the buffer shifts down by ``n_out`` when it loads and the input beat, when it
  transfers, lands at slot ``fill - shift``: codes that arrive cannot leave in the same edge.

:class:`hwaccel.perf.control.Regroup` mirrors these registers; the write multiplexers cover only
the slots a beat can land at (:func:`write_offsets`).
"""

from __future__ import annotations

from amaranth.hdl import Const, Module, Mux, Signal, Value
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from ..units.regroup import RegroupParams
from .stream import code_shape, counter, lanes_stream

__all__ = ["Regroup", "write_offsets"]


def write_offsets(p: RegroupParams) -> list[int]:
    """The slots an input beat can land at: ``(codes in) - (codes out)`` at beat boundaries of the
    vector (in any vector), with room left for the beat."""
    starts_in = [j * p.lanes_in for j in range(p.in_beats)]
    starts_out = [k * p.lanes_out for k in range(p.out_beats)] + [p.length]
    span, counts = p.capacity // p.length + 2, p.in_counts
    return sorted({s - e + d * p.length for j, s in enumerate(starts_in) for e in starts_out for d in range(-span, span + 1)
                   if 0 <= s - e + d * p.length <= p.capacity - counts[j]})


class Regroup(wiring.Component):
    """Stream unit: ``lanes_in`` codes a beat in (``i``), ``lanes_out`` out (``o``), values unchanged."""

    def __init__(self, params: RegroupParams) -> None:
        self.params = params
        shape = code_shape(params.bits, params.signed)
        super().__init__({"i": In(lanes_stream(shape, params.lanes_in)), "o": Out(lanes_stream(shape, params.lanes_out))})

    def elaborate(self, platform: object) -> Module:
        p, m = self.params, Module()
        cap, a, b = p.capacity, p.lanes_in, p.lanes_out
        r_in, r_out = p.in_counts[-1], p.out_counts[-1]
        shape = code_shape(p.bits, p.signed)
        buf = [Signal(shape, name=f"buf{s}") for s in range(cap)]
        fill = Signal(range(cap + 1), name="fill")
        accept = self.i.valid & self.i.ready
        _, in_last = counter(m, accept, p.in_beats, "in_beat")
        free = ~self.o.valid | self.o.ready
        load = Signal(name="load")
        _, out_last = counter(m, load, p.out_beats, "out_beat")
        n_in = Mux(in_last, r_in, a)
        n_out = Mux(out_last, r_out, b)
        m.d.comb += [self.i.ready.eq(Mux(in_last, fill <= cap - r_in, fill <= cap - a)),
                     load.eq(free & Mux(out_last, fill >= r_out, fill >= b))]
        shift = Mux(load, n_out, 0)
        base = Signal(range(-cap, cap + 1), name="base")
        m.d.comb += base.eq(fill - shift)
        m.d.sync += fill.eq(base + Mux(accept, n_in, 0))
        offsets = write_offsets(p)
        for s in range(cap):
            value: Value = buf[s]
            for v in sorted({b, r_out}):
                if s + v < cap:
                    value = Mux(load & (n_out == v), buf[s + v], value)
            for c in offsets:
                if 0 <= s - c < a:
                    value = Mux(accept & (base == c), self.i.payload[s - c], value)
            m.d.sync += buf[s].eq(value)
        with m.If(free):
            m.d.sync += self.o.valid.eq(load)
        with m.If(load):
            for lane in range(b):
                keep = buf[lane] if lane < r_out else Mux(out_last, Const(0, shape), buf[lane])
                m.d.sync += self.o.payload[lane].eq(keep)
        return m
