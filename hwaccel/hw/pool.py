"""Pool unit: max or average over windows streamed element by element (global average included).

Per channel group one accumulator per lane: the first element of a window loads it, the others
fold in (``max`` of codes, or the sum of ``x - x_zero_point``), and the last one sends the result
on: through a result register (max) or through :func:`~.requant.requant_pipeline` with ``1/window``
folded into the multiplier (average), to the :class:`~.queue.OutputQueue`. Beats that do not end
a window are accepted whenever they come; a window's last beat needs room in the queue. An
accepted beat waits one cycle in an input register, beside copies of its ``first`` and accepted
flags, one per ``COPY_GROUP_LANES`` lanes: the element counter's compare and the upstream valid
reached every accumulator's enable and mux across the die (dscnn).

With pixel classes (windows averaging different element counts) the requant's settings are
indexed by ``class * groups + group``: a pixel counter addresses a ROM holding the class of the
*next* pixel (read synchronously, ready a cycle after the counter moves: a window has at least two
beats), which loads the current class register when a window ends; the index is registered in
the input register stage beside the group, so the timing is that of one class.
"""

from __future__ import annotations

from amaranth.hdl import Module, Mux, Signal, Value, signed, unsigned
from amaranth.lib import wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from ..units.common import COPY_GROUP_LANES
from ..units.pool import PoolParams
from .queue import OutputQueue
from .requant import requant_pipeline
from .stream import code_shape, counter, lanes_stream, register

__all__ = ["Pool"]


class Pool(wiring.Component):
    """Stream unit: window elements in (``i``, ``lanes`` codes a beat), one beat per channel group out."""

    def __init__(self, params: PoolParams) -> None:
        self.params = params
        super().__init__({
            "i": In(lanes_stream(code_shape(params.bits, params.signed), params.lanes)),
            "o": Out(lanes_stream(code_shape(params.out_bits, params.out_signed), params.lanes)),
        })

    def elaborate(self, platform: object) -> Module:
        p = self.params
        m = Module()
        queue = OutputQueue(m, self.o, p.latency)
        group, group_last = counter(m, self.i.valid & self.i.ready, p.groups, "group")
        element, element_last = counter(m, self.i.valid & self.i.ready & group_last, p.window, "element")
        m.d.comb += self.i.ready.eq(queue.room | ~element_last)
        accept = self.i.valid & self.i.ready
        done = accept & element_last  # issues an output
        acc_shape = code_shape(p.bits, p.signed) if p.kind == "max" else signed(p.sum_bits)
        folded: list[Value] = []
        for lane in range(p.lanes):
            if lane % COPY_GROUP_LANES == 0:  # the input register's control, a kept copy per group of lanes
                copy = lane // COPY_GROUP_LANES
                first = register(m, element == 0, f"first_{copy}", keep=True)
                accepted = register(m, accept, f"accepted_{copy}", keep=True)
            # Groups arrive in turn, so the accumulators rotate as a shift register: the current
            # group's is always accs[0] (no read multiplexer), and the updated value goes to the back.
            # A window's last beat writes its result back too; the next beat of that group loads anew.
            accs = [Signal(acc_shape, name=f"acc{lane}_{g}") for g in range(p.groups)]
            x = register(m, self.i.p[lane], f"x{lane}")
            if p.kind == "max":
                new = Mux(first | (x > accs[0]), x, accs[0])
            else:
                new = Mux(first, 0, accs[0]) + (x - p.x_zero_point)
            value = Signal(acc_shape, name=f"new{lane}")
            m.d.comb += value.eq(new)
            with m.If(accepted):
                m.d.sync += [a.eq(b) for a, b in zip(accs, accs[1:] + [value])]
            folded.append(value)
        # the input register's copy of ``done``, and of the index of the requant's settings
        window_done = register(m, done, "window_done")
        select = register(m, _select(m, p, done & group_last, group), "select_in" if p.pixel_classes else "group_in")
        if p.requant is None:  # a result register (the compare and select), then the queue's head
            valid = register(m, window_done, "max_valid")
            outs = [register(m, v, f"max{lane}") for lane, v in enumerate(folded)]
            queue.drive(done, valid, outs)
            return m
        entries = [list(row) for row in p.entries()]
        valid, out_values = requant_pipeline(m, window_done, folded, entries, select, p.requant, p.product_bits)
        queue.drive(done, valid, out_values)
        return m


def _select(m: Module, p: PoolParams, window_end: Value, group: Value) -> Value:
    """The settings' index of the current beat: its group, plus ``class * groups`` with pixel classes."""
    if not p.pixel_classes:
        return group
    pixels = len(p.pixel_classes)
    pixel, _ = counter(m, window_end, pixels, "pixel")
    shape = unsigned(max(p.class_bits, 1))
    following = [p.pixel_classes[(k + 1) % pixels] for k in range(pixels)]
    m.submodules.pixel_classes = rom = Memory(shape=shape, depth=pixels, init=following)
    port = rom.read_port()
    m.d.comb += port.addr.eq(pixel)
    current = Signal(shape, name="pixel_class", init=p.pixel_classes[0])
    with m.If(window_end):
        m.d.sync += current.eq(port.data)
    return current * p.groups + group
