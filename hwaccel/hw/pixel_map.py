"""PixelMap: DepthToSpace and nearest Upsample from a row buffer (no arithmetic).

The SlidingWindow's buffer and step control (:mod:`.window`): a circular buffer of
``buffer_rows`` input rows (row ``r`` in slot ``r mod buffer_rows``); in step ``i`` the writer
stores the rows output row ``i`` adds while the reader emits output row ``i - 1``. The reader
walks output column, channel group; the address of a beat is the sum of four registers: the
row's (slot and row phase), the column's, the column phase's and the group. A beat takes the
SlidingWindow's three registers (read port, copy, output queue).
"""

from __future__ import annotations

from amaranth.hdl import Module, Mux, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from ..units.pixel_map import PixelMapParams
from .stream import code_shape, lanes_stream, register, valid_chain
from .window import row_buffer

__all__ = ["PixelMap"]


class PixelMap(wiring.Component):
    """Stream unit: input pixels in (``i``), mapped output pixels out (``o``), ``simd`` codes a beat."""

    def __init__(self, params: PixelMapParams) -> None:
        self.params = params
        shape = code_shape(params.bits, params.signed)
        super().__init__({"i": In(lanes_stream(shape, params.simd)), "o": Out(lanes_stream(shape, params.simd))})

    def elaborate(self, platform: object) -> Module:
        p = self.params
        m = Module()
        rport, queue, e_fire, image_end, row_words = row_buffer(m, self, p, p.in_groups)
        depth = p.buffer_rows * row_words

        # Reader: output column (its phase px and input column), group; the row's phase py and slot.
        phase_words = p.groups if p.phased else 0  # input words between consecutive phases
        r0, py0 = divmod(p.crop_top, p.factor_h)
        px0 = p.crop_left % p.factor_w
        slot0 = r0 % p.buffer_rows

        def row_addr(slot: int, py: int) -> int:
            return slot * row_words + py * p.factor_w * phase_words

        g = Signal(range(p.groups))
        ox = Signal(range(p.out_width))
        px = Signal(range(p.factor_w), init=px0)
        py = Signal(range(p.factor_h), init=py0)
        slot = Signal(range(p.buffer_rows), init=slot0)
        a_row = Signal(range(depth), init=row_addr(slot0, py0))
        a_col = Signal(range(row_words), init=0)
        a_px = Signal(range(p.factor_w * max(phase_words, 1)), init=px0 * phase_words)
        g_last, ox_last, px_last = g == p.groups - 1, ox == p.out_width - 1, px == p.factor_w - 1
        py_last, slot_last = py == p.factor_h - 1, slot == p.buffer_rows - 1
        with m.If(e_fire):
            m.d.sync += g.eq(Mux(g_last, 0, g + 1))
            with m.If(g_last):
                m.d.sync += [ox.eq(Mux(ox_last, 0, ox + 1)), px.eq(Mux(px_last, 0, px + 1)),
                             a_px.eq(Mux(px_last, 0, a_px + phase_words)), a_col.eq(Mux(px_last, a_col + p.in_groups, a_col))]
                with m.If(ox_last):  # the next output row
                    next_slot = Mux(slot_last, 0, slot + 1)
                    m.d.sync += [px.eq(px0), a_px.eq(px0 * phase_words), a_col.eq(0), py.eq(Mux(py_last, 0, py + 1)),
                                 a_row.eq(Mux(py_last, next_slot * row_words, a_row + p.factor_w * phase_words))]
                    with m.If(py_last):
                        m.d.sync += slot.eq(next_slot)
        with m.If(image_end):
            m.d.sync += [px.eq(px0), py.eq(py0), slot.eq(slot0), a_row.eq(row_addr(slot0, py0)), a_col.eq(0),
                         a_px.eq(px0 * phase_words)]

        addr = a_row + a_col + a_px + g
        m.d.comb += rport.addr.eq(addr[:len(rport.addr)])
        read_valid = valid_chain(m, e_fire, p.latency - 1, "read_valid")[-1]
        word = register(m, rport.data, "read")
        queue.drive(e_fire, read_valid, [word[k * p.bits:(k + 1) * p.bits] for k in range(p.simd)])
        return m
