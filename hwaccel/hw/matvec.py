"""MatVec: ``pe`` output channels x ``simd`` inputs a cycle, raw accumulators out.

The unit walks :attr:`~.params.MatVecParams.schedule` one tile a cycle, in three register stages
that all advance on ``~o.valid | o.ready`` (a stall holds the whole pipeline):

0. issue: tile ``t``; output fold 0 takes the input beat (and stores it in the input buffer for
   the later folds), later folds read the buffer; the weight ROM is read at address ``t``.
1. operands: ``x - x_zero_point`` times each live lane's weight (codebook looked up first),
   summed per output lane by an adder tree.
2. accumulate: the fold's first tile loads ``bias + sum``, later tiles add; the last tile of a
   fold puts the accumulators on the output.

Only *live* lanes (``MatVecParams.live_lanes``: non-zero weight in some tile) get a multiplier and
a ROM field; pruned lanes are the constant 0. The accumulator is ``acc_bits`` wide (signed).
"""

from __future__ import annotations

from amaranth.hdl import Array, Const, Module, Mux, Signal, Value, signed
from amaranth.lib import wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from .params import MatVecParams
from .stream import code_shape, lanes_stream, pack_lanes

__all__ = ["MatVec"]


def _table(values: list[int], index: Value, shape: object = None) -> Value:
    """A constant, or a constant table indexed by ``index``."""
    if len(set(values)) == 1:
        return Const(values[0], shape) if shape is not None else Const(values[0])
    return Array(Const(v, shape) if shape is not None else Const(v) for v in values)[index]


def adder_tree(values: list[Value]) -> Value:
    """Balanced pairwise sum (0 for no values)."""
    if not values:
        return Const(0)
    while len(values) > 1:
        values = [values[i] + values[i + 1] for i in range(0, len(values) - 1, 2)] + values[len(values) & ~1:]
    return values[0]


class MatVec(wiring.Component):
    """Stream unit: ``simd`` input codes a beat (``i``), ``pe`` accumulators a beat (``o``)."""

    def __init__(self, params: MatVecParams) -> None:
        self.params = params
        super().__init__({
            "i": In(lanes_stream(code_shape(params.bits_x, params.signed_x), params.simd)),
            "o": Out(lanes_stream(signed(params.acc_bits), params.pe)),
        })

    def _rom_words(self) -> list[int]:
        """One word per tile: the live lanes' weights (or codebook indices), lane 0 lowest."""
        p = self.params
        return [pack_lanes([p.tile_stored(nf, sf, pe, s) for pe, s in p.live_lanes], p.index_bits) for nf, sf in p.schedule]

    def elaborate(self, platform: object) -> Module:
        p = self.params
        m = Module()
        sched = p.schedule
        lanes = p.live_lanes
        advance = ~self.o.valid | self.o.ready

        # Stage 0: issue one tile.
        t = Signal(range(len(sched)))
        nf_t = _table([nf for nf, _ in sched], t)
        sf_t = _table([sf for _, sf in sched], t)
        reads_input = nf_t == 0
        first_t = _table([int(i == 0 or sched[i - 1][0] != nf) for i, (nf, _) in enumerate(sched)], t)
        last_t = _table([int(i == len(sched) - 1 or sched[i + 1][0] != nf) for i, (nf, _) in enumerate(sched)], t)
        m.d.comb += self.i.ready.eq(advance & reads_input)
        issue = advance & (self.i.valid | ~reads_input)
        with m.If(issue):
            m.d.sync += t.eq(Mux(t == len(sched) - 1, 0, t + 1))

        x_width = p.simd * p.bits_x
        x_reg, from_input = Signal(x_width, name="x_reg"), Signal(name="from_input")
        v1, first1, last1 = Signal(name="v1"), Signal(name="first1"), Signal(name="last1")
        nf1 = Signal(range(p.output_folds))
        with m.If(advance):
            m.d.sync += [x_reg.eq(self.i.payload.as_value()), from_input.eq(reads_input),
                         v1.eq(issue), first1.eq(first_t), last1.eq(last_t), nf1.eq(nf_t)]
        if p.output_folds > 1:
            m.submodules.inbuf = inbuf = Memory(shape=x_width, depth=p.input_folds, init=[])
            wport, rport = inbuf.write_port(), inbuf.read_port(domain="sync")
            m.d.comb += [wport.en.eq(issue & reads_input), wport.addr.eq(sf_t), wport.data.eq(self.i.payload.as_value()),
                         rport.en.eq(advance), rport.addr.eq(sf_t)]
            x_bits: Value = Mux(from_input, x_reg, rport.data)
        else:
            x_bits = x_reg
        weight_fields: list[Value] = []
        if lanes:
            m.submodules.rom = rom = Memory(shape=len(lanes) * p.index_bits, depth=len(sched), init=self._rom_words())
            wrom = rom.read_port(domain="sync")
            m.d.comb += [wrom.en.eq(advance), wrom.addr.eq(t)]
            weight_fields = [wrom.data[j * p.index_bits:(j + 1) * p.index_bits] for j in range(len(lanes))]

        # Stage 1: products of the live lanes, one adder tree per output lane.
        fields = [x_bits[s * p.bits_x:(s + 1) * p.bits_x] for s in range(p.simd)]
        xs = [f.as_signed() if p.signed_x else f for f in fields]
        offset = [Signal(signed(p.bits_x + 1), name=f"xoff{s}") for s in range(p.simd)]
        m.d.comb += [offset[s].eq(xs[s] - p.x_zero_point) for s in range(p.simd)]
        products: list[list[Value]] = [[] for _ in range(p.pe)]
        book = p.stored_codebook
        for j, (pe, s) in enumerate(lanes):
            field = weight_fields[j]
            w = field.as_signed() if book is None else _table(list(book), field, signed(p.bits_w))
            prod = Signal(signed(p.bits_x + 1 + p.bits_w), name=f"prod{pe}_{s}")
            m.d.comb += prod.eq(offset[s] * w)
            products[pe].append(prod)
        sums = [Signal(signed(p.acc_bits), name=f"sum{pe}") for pe in range(p.pe)]
        v2, first2, last2 = Signal(name="v2"), Signal(name="first2"), Signal(name="last2")
        nf2 = Signal(range(p.output_folds))
        with m.If(advance):
            m.d.sync += [v2.eq(v1), first2.eq(first1), last2.eq(last1), nf2.eq(nf1)]
            m.d.sync += [sums[pe].eq(adder_tree(products[pe])) for pe in range(p.pe)]

        # Stage 2: accumulate; the fold's last tile sends the accumulators.
        with m.If(advance):
            m.d.sync += self.o.valid.eq(v2 & last2)
        for pe in range(p.pe):
            acc = Signal(signed(p.acc_bits), name=f"acc{pe}")
            bias = [p.bias[nf * p.pe + pe] if nf * p.pe + pe < p.out_features else 0 for nf in range(p.output_folds)]
            new = Signal(signed(p.acc_bits), name=f"acc{pe}_next")
            m.d.comb += new.eq(Mux(first2, _table(bias, nf2, signed(p.acc_bits)), acc) + sums[pe])
            with m.If(advance & v2):
                m.d.sync += acc.eq(new)
                with m.If(last2):
                    m.d.sync += self.o.payload[pe].eq(new)
        return m
