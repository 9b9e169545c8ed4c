"""SlidingWindow: HWC pixels in, KxK windows out (stride, dilation, zero-point padding).

A circular buffer of ``buffer_rows`` image rows (one memory, ``buffer_rows * width * groups``
words of ``simd`` codes) holds row ``r`` in slot ``r mod buffer_rows``. The unit runs the steps of
:class:`~.params.WindowParams`: in step ``i`` the writer stores the rows output row ``i`` adds
while the reader emits output row ``i - 1`` from rows stored in earlier steps. The two row sets
span at most ``extent_h + stride_h`` consecutive rows, so they never share a slot, and a step
ends (without a bubble) once both sides are done. The reader walks output column, kernel row,
kernel column, channel group; a tap outside the image reads nothing and carries ``pad_value``.
A tap takes three registers (the memory's read port, the read again in fabric flip-flops: a block
RAM's output is slow, about 5 ns on ECP5, and the padding mux and the queue follow it; then the
output). The reader issues a tap only while the :class:`~.queue.OutputQueue` at its output has
room, and its registers never stall (a stall enable from the consumer's ``ready`` reached every
reader register and the read port).
"""

from __future__ import annotations

from typing import Any, NamedTuple

from amaranth.hdl import Array, Const, Module, Mux, Signal, Value, signed
from amaranth.lib import wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from ..units.window import WindowParams
from .queue import OutputQueue
from .stream import code_shape, lanes_stream, pack_lanes, register, valid_chain

__all__ = ["SlidingWindow", "RowBuffer", "row_buffer"]


def _wrap_add(value: Value, step: int, size: int) -> Value:
    """``(value + step) mod size`` for ``value < size`` (one conditional subtract)."""
    step %= size
    total = value + step
    return Mux(total >= size, total - size, total)


class RowBuffer(NamedTuple):
    """What :func:`row_buffer` built: the read port, the output queue, the reader's issue, the
    cycle an image ends, and the buffer's words per row."""

    rport: Any
    queue: OutputQueue
    e_fire: Value
    image_end: Value
    row_words: int


def row_buffer(m: Module, unit: wiring.Component, p: Any, groups: int) -> RowBuffer:
    """The circular row buffer, its step control and writer (a SlidingWindow's, a PixelMap's):
    ``p`` has ``width``, ``buffer_rows``, ``simd``, ``bits``, ``out_height``, ``latency`` and the
    steps (``step_reads``, ``step_emits``); an input row is ``width * groups`` words."""
    row_words = p.width * groups
    depth = p.buffer_rows * row_words
    m.submodules.buffer = buf = Memory(shape=p.simd * p.bits, depth=depth, init=[])
    wport, rport = buf.write_port(), buf.read_port(domain="sync")

    # Step control: beats left to read and to emit in the current step.
    reads, emits = p.step_reads, p.step_emits
    step = Signal(range(p.out_height + 1))
    w_left = Signal(range(max(reads) + 1), init=reads[0])
    e_left = Signal(range(max(emits) + 1), init=emits[0])
    queue = OutputQueue(m, unit.o, p.latency)
    w_fire = unit.i.valid & (w_left != 0)
    e_fire = queue.room & (e_left != 0)
    m.d.comb += unit.i.ready.eq(w_left != 0)
    m.d.sync += [w_left.eq(w_left - w_fire), e_left.eq(e_left - e_fire)]
    w_done = (w_left == 0) | ((w_left == 1) & w_fire)
    e_done = (e_left == 0) | ((e_left == 1) & e_fire)
    image_end = w_done & e_done & (step == p.out_height)
    with m.If(w_done & e_done):
        nxt = Mux(step == p.out_height, 0, step + 1)
        m.d.sync += [step.eq(nxt), w_left.eq(Array(Const(r) for r in reads)[nxt]), e_left.eq(Mux(nxt == 0, 0, emits[-1]))]

    # Writer: consecutive words, wrapping over the buffer; every image starts at slot 0.
    waddr = Signal(range(depth))
    m.d.comb += [wport.en.eq(w_fire), wport.addr.eq(waddr), wport.data.eq(unit.i.payload.as_value())]
    with m.If(w_fire):
        m.d.sync += waddr.eq(Mux(waddr == depth - 1, 0, waddr + 1))
    with m.If(image_end):
        m.d.sync += waddr.eq(0)
    return RowBuffer(rport, queue, e_fire, image_end, row_words)


class SlidingWindow(wiring.Component):
    """Stream unit: pixels in (``i``, ``simd`` codes a beat), window taps out (``o``)."""

    def __init__(self, params: WindowParams) -> None:
        self.params = params
        shape = code_shape(params.bits, params.signed)
        super().__init__({"i": In(lanes_stream(shape, params.simd)), "o": Out(lanes_stream(shape, params.simd))})

    def elaborate(self, platform: object) -> Module:
        p = self.params
        m = Module()
        rport, queue, e_fire, image_end, row_words = row_buffer(m, self, p, p.groups)

        # Reader: loop counters and the image coordinates of the current tap.
        g = Signal(range(p.groups))
        kx = Signal(range(p.kernel_w))
        ky = Signal(range(p.kernel_h))
        ox = Signal(range(p.out_width))
        reach = max(p.height + p.pad_bottom + p.extent_h + p.stride_h, p.width + p.pad_right + p.extent_w + p.stride_w)
        coord = signed(max(reach, p.pad_top, p.pad_left).bit_length() + 1)  # holds every row/column reached
        row_base, row = Signal(coord, init=-p.pad_top, name="row_base"), Signal(coord, init=-p.pad_top, name="row")
        col_base, col = Signal(coord, init=-p.pad_left, name="col_base"), Signal(coord, init=-p.pad_left, name="col")
        slot0 = -p.pad_top % p.buffer_rows
        slot_base = Signal(range(p.buffer_rows), init=slot0, name="slot_base")
        slot = Signal(range(p.buffer_rows), init=slot0, name="slot")
        g_last, kx_last = g == p.groups - 1, kx == p.kernel_w - 1
        ky_last, ox_last = ky == p.kernel_h - 1, ox == p.out_width - 1
        with m.If(e_fire):
            m.d.sync += g.eq(Mux(g_last, 0, g + 1))
            with m.If(g_last):
                m.d.sync += [kx.eq(Mux(kx_last, 0, kx + 1)), col.eq(col + p.dilation_w)]
                with m.If(kx_last):
                    m.d.sync += [ky.eq(Mux(ky_last, 0, ky + 1)), col.eq(col_base),
                                 row.eq(row + p.dilation_h), slot.eq(_wrap_add(slot, p.dilation_h, p.buffer_rows))]
                    with m.If(ky_last):
                        m.d.sync += [ox.eq(Mux(ox_last, 0, ox + 1)), row.eq(row_base), slot.eq(slot_base),
                                     col_base.eq(col_base + p.stride_w), col.eq(col_base + p.stride_w)]
                        with m.If(ox_last):
                            next_slot = _wrap_add(slot_base, p.stride_h, p.buffer_rows)
                            m.d.sync += [col_base.eq(-p.pad_left), col.eq(-p.pad_left), row_base.eq(row_base + p.stride_h),
                                         row.eq(row_base + p.stride_h), slot_base.eq(next_slot), slot.eq(next_slot)]
        with m.If(image_end):
            m.d.sync += [row_base.eq(-p.pad_top), row.eq(-p.pad_top), slot_base.eq(slot0), slot.eq(slot0)]

        pad = (row < 0) | (row >= p.height) | (col < 0) | (col >= p.width)
        addr = slot * row_words + col * p.groups + g
        # Three registers: the read port's, a copy of the read, then the queue's head.
        m.d.comb += rport.addr.eq(addr[:len(rport.addr)])
        read_valid = valid_chain(m, e_fire, p.latency - 1, "read_valid")[-1]
        pad_reg = register(m, register(m, pad, "pad_reg"), "pad_reg2")
        word = Mux(pad_reg, pack_lanes([p.pad_value] * p.simd, p.bits), register(m, rport.data, "read"))
        queue.drive(e_fire, read_valid, [word[k * p.bits:(k + 1) * p.bits] for k in range(p.simd)])
        return m
