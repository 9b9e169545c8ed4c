"""MatVec: ``pe`` output channels x ``simd`` inputs a cycle, raw accumulators out.

The unit walks :attr:`~.params.MatVecParams.schedule` one tile a cycle through register stages
that load every cycle (no stall: a fold's last tile issues only with a credit of the
:class:`~.queue.OutputQueue` at the output); each stage holds at most one multiply or two adder
levels, for post-route >= 100 MHz on ECP5:

0. issue: tile ``t``; output fold 0 takes the input beat (and stores it in the input buffer for
   the later folds), later folds read the buffer. A tile issues when its input is there (fold 0)
   and, if it ends a fold, the queue has room.
1. the input beat, and the buffer word (a block RAM's read); ``t`` again;
2. both in flip-flops of their own (the block RAM's slow output drives no logic); copies of ``t``,
   one per group of ``COPY_GROUP_LANES`` live lanes, each the address of its group's slice of the
   weight ROM (one counter driving every ROM LUT across the die was the critical path);
3. the input beat or the buffer word, in one register; the ROM slices' reads (a block RAM's
   output, or a LUT ROM's register);
4. the reads again, in flip-flops (a block RAM's output is slow: it drives no DSP block); per
   group, a copy of the input fields it uses (one register driving every multiplier across the
   die was the next);
5. operands: ``x - x_zero_point`` and the weight (codebook looked up), per live lane;
6. products, one per live lane (the DSP block's output register);
7. the products again, in registers next to the adder trees (the route from a DSP block gets a cycle);
8. adder trees, one per output lane: :func:`~.params.adder_tree_stages` stages of
   ``ADDER_LEVELS_PER_STAGE`` pairwise levels;
9. accumulate: the fold's first tile loads ``bias + sum`` (the bias of its output fold registered
   in the stage before), later tiles add;
10. after a fold's last tile, the accumulator registers go to the output queue.

Only *live* lanes (``MatVecParams.live_lanes``: non-zero weight in some tile) get a multiplier and
a ROM field; pruned lanes are the constant 0. The accumulator is ``acc_bits`` wide (signed).
Latency: :attr:`~.params.MatVecParams.latency`.
"""

from __future__ import annotations

from amaranth.hdl import Array, Const, Module, Mux, Signal, Value, signed
from amaranth.lib import wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from ..units.common import COPY_GROUP_LANES
from ..units.matvec import ADDER_LEVELS_PER_STAGE, MatVecParams, adder_tree_stages
from .queue import OutputQueue
from .stream import code_shape, lanes_stream, pack_fields, pack_lanes, register

__all__ = ["MatVec"]



def _table(values: list[int], index: Value, shape: object = None) -> Value:
    """A constant, or a constant table indexed by ``index``."""
    if len(set(values)) == 1:
        return Const(values[0], shape) if shape is not None else Const(values[0])
    return Array(Const(v, shape) if shape is not None else Const(v) for v in values)[index]


def adder_tree(m: Module, values: list[Value], stages: int, width: int, name: str) -> Value:
    """Balanced pairwise sum of ``values`` (0 for none) with a register after every
    ``ADDER_LEVELS_PER_STAGE`` levels, ``stages`` registers in all (loading every cycle)."""
    values = list(values) or [Const(0)]
    for stage in range(stages):
        for _ in range(ADDER_LEVELS_PER_STAGE):
            values = [values[i] + values[i + 1] for i in range(0, len(values) - 1, 2)] + values[len(values) & ~1:]
        regs = [Signal(signed(width), name=f"{name}_s{stage}_{k}") for k in range(len(values))]
        m.d.sync += [r.eq(v) for r, v in zip(regs, values)]
        values = list(regs)
    assert len(values) == 1, "too few adder-tree stages for the terms"
    return values[0]


def _tile_registers(m: Module, tables: dict[str, list[int]], issue: Value) -> dict[str, Value]:
    """``tables[name][t]`` for the tile ``t`` in issue, per name: a constant where all tiles agree,
    else a field of a register that loads, whenever ``issue`` advances ``t``, the next tile's word
    from a ROM of the schedule (one word a tile, the varying fields packed). The ROM's read port
    holds the word of tile ``t + 1`` from the second cycle after power-up or reset on: its address
    is that of the tile after next if ``t`` advances this cycle (``t + 2``), else ``t + 1``, each
    from a counter of its own; in the first cycle (``primed`` low, the port's output unknown) the
    register loads tile 1's word, a constant. The ROM's output (a block RAM's, slow) drives only
    that register, so what stage 0 uses starts at a flip-flop."""
    out: dict[str, Value] = {name: Const(values[0]) for name, values in tables.items() if len(set(values)) == 1}
    fields = [(name, values, max(1, max(values).bit_length())) for name, values in tables.items() if name not in out]
    if not fields:
        return out
    n = len(next(iter(tables.values())))
    words = [pack_fields([(values[k], bits) for _, values, bits in fields]) for k in range(n)]
    width = sum(bits for _, _, bits in fields)
    m.submodules.schedule = rom = Memory(shape=width, depth=n, init=words)
    port = rom.read_port(domain="sync")
    now = Signal(width, init=words[0], name="tile")
    after, after_next = (Signal(range(n), init=k % n, name=f"tile_plus{k}") for k in (1, 2))
    primed = Signal(name="tile_primed")
    m.d.sync += primed.eq(1)
    with m.If(issue):
        m.d.sync += [now.eq(Mux(primed, port.data, words[1 % n])), after.eq(after_next),
                     after_next.eq(Mux(after_next == n - 1, 0, after_next + 1))]
    m.d.comb += port.addr.eq(Mux(issue, after_next, after))
    start = 0
    for name, _, bits in fields:
        out[name] = now[start:start + bits]
        start += bits
    return out


class MatVec(wiring.Component):
    """Stream unit: ``simd`` input codes a beat (``i``), ``pe`` accumulators a beat (``o``)."""

    def __init__(self, params: MatVecParams) -> None:
        self.params = params
        super().__init__({
            "i": In(lanes_stream(code_shape(params.bits_x, params.signed_x), params.simd)),
            "o": Out(lanes_stream(signed(params.acc_bits), params.pe)),
        })

    def _lane_groups(self, m: Module, t: Value, x_bits: Value) -> list[tuple[Value, Value]]:
        """Stages 1-3 per group of ``COPY_GROUP_LANES`` live lanes: a registered copy of the tile
        counter ``t`` addresses the group's slice of the weight ROM, whose read is registered again;
        a copy of the input fields the group uses (``x_bits``, stage 2's) waits beside it. ``keep``:
        synthesis must not merge the twins, so that place and route can put each copy by its
        group's DSP blocks. Returns, per live lane, its input code and its weight field (or
        codebook index) of the tile issued three cycles before."""
        p = self.params
        lanes = p.live_lanes
        stored = p.stored_tiles().tolist()
        out: list[tuple[Value, Value]] = []
        for g, start in enumerate(range(0, len(lanes), COPY_GROUP_LANES)):
            group = lanes[start:start + COPY_GROUP_LANES]
            addr = register(m, t, f"rom{g}_addr", keep=True)
            words = [pack_lanes(row[start:start + len(group)], p.index_bits) for row in stored]
            rom = Memory(shape=len(group) * p.index_bits, depth=len(p.schedule), init=words)
            m.submodules[f"rom{g}"] = rom
            port = rom.read_port(domain="sync")
            m.d.comb += port.addr.eq(addr)
            read = Signal.like(port.data, name=f"rom{g}_read")
            m.d.sync += read.eq(port.data)
            x_copy: dict[int, Value] = {}
            for s in sorted({s for _, s in group}):
                x_copy[s] = register(m, x_bits[s * p.bits_x:(s + 1) * p.bits_x], f"x{g}_{s}", code_shape(p.bits_x, p.signed_x), keep=True)
            out += [(x_copy[s], read[j * p.index_bits:(j + 1) * p.index_bits]) for j, (_, s) in enumerate(group)]
        return out

    def _delay(self, m: Module, ctl: tuple[Value, ...], suffix: str, keep: bool = False) -> tuple[Value, ...]:
        """One register stage of a tile's control ``(valid, first, last, nf)``."""
        return tuple(register(m, value, f"{name}{suffix}", keep=keep) for name, value in zip(("v", "first", "last", "nf"), ctl))

    def elaborate(self, platform: object) -> Module:
        p = self.params
        m = Module()
        sched = p.schedule
        lanes = p.live_lanes
        queue = OutputQueue(m, self.o, p.latency)

        # Stage 0: issue one tile. What the schedule says of tile ``t`` is held in registers that load
        # the next tile's values on issue: ``i.ready`` and the buffer addresses start at flip-flops,
        # not at table lookups on ``t``.
        t = Signal(range(len(sched)))
        issue = Signal()
        tables = {"nf": [nf for nf, _ in sched], "sf": [sf for _, sf in sched],
                  "reads_input": [int(nf == 0) for nf, _ in sched],
                  "first": [int(i == 0 or sched[i - 1][0] != nf) for i, (nf, _) in enumerate(sched)],
                  "last": [int(i == len(sched) - 1 or sched[i + 1][0] != nf) for i, (nf, _) in enumerate(sched)]}
        now = _tile_registers(m, tables, issue)
        nf_t, sf_t, reads_input, first_t, last_t = (now[k] for k in ("nf", "sf", "reads_input", "first", "last"))
        may_issue = queue.room | ~last_t  # only a fold's last tile delivers an output
        m.d.comb += self.i.ready.eq(may_issue & reads_input)
        m.d.comb += issue.eq(may_issue & (self.i.valid | ~reads_input))
        with m.If(issue):
            m.d.sync += t.eq(Mux(t == len(sched) - 1, 0, t + 1))

        x_width = p.simd * p.bits_x
        x_reg, from_input = Signal(x_width, name="x_reg"), Signal(name="from_input")
        v1, first1, last1 = Signal(name="v1"), Signal(name="first1"), Signal(name="last1")
        nf1 = Signal(range(p.output_folds))
        m.d.sync += [x_reg.eq(self.i.payload.as_value()), from_input.eq(reads_input),
                     v1.eq(issue), first1.eq(first_t), last1.eq(last_t), nf1.eq(nf_t)]
        if p.output_folds > 1:
            m.submodules.inbuf = inbuf = Memory(shape=x_width, depth=p.input_folds, init=[])
            wport, rport = inbuf.write_port(), inbuf.read_port(domain="sync")
            m.d.comb += [wport.en.eq(issue & reads_input), wport.addr.eq(sf_t), wport.data.eq(self.i.payload.as_value()),
                         rport.addr.eq(sf_t)]
            # stage 2: the buffer's read in flip-flops beside the input beat's copy (the block RAM's
            # output drove the multiplexer: dscnn)
            x_bits: Value = Mux(register(m, from_input, "from_input2"), register(m, x_reg, "x_reg2"),
                                register(m, rport.data, "inbuf_read"))
        else:
            x_bits = register(m, x_reg, "x_reg2")
        x_mid = register(m, x_bits, "x_mid")
        grouped = self._lane_groups(m, register(m, t, "t1"), x_mid)

        # Stage 4: operands (offset inputs, weights of the live lanes); stage 5: products. One
        # offset-input register per live lane (``keep``), the multiplier's (its DSP block's) own.
        offset = {(pe, s): Signal(signed(p.bits_x + 1), name=f"xoff{pe}_{s}", attrs={"keep": 1}) for pe, s in lanes}
        book = p.stored_codebook
        weights = [Signal(signed(p.bits_w), name=f"w{pe}_{s}") for pe, s in lanes]
        products: list[list[Value]] = [[] for _ in range(p.pe)]
        for lane, w, (x, field) in zip(lanes, weights, grouped):
            m.d.sync += offset[lane].eq(x - p.x_zero_point)
            m.d.sync += w.eq(field.as_signed() if book is None else _table(list(book), field, signed(p.bits_w)))
        for (pe, s), w in zip(lanes, weights):
            prod = Signal(signed(p.bits_x + 1 + p.bits_w), name=f"prod{pe}_{s}")
            m.d.sync += prod.eq(offset[pe, s] * w)
            products[pe].append(prod)
        # Stage 6: the products again. ``prod`` becomes the DSP block's own output register, placed at
        # the block (DSP blocks sit in rows); this copy sits by the adder tree, and the route between
        # them gets a cycle to itself.
        carried: list[list[Value]] = []
        for pe in range(p.pe):
            copies = [Signal.like(prod, name=f"{prod.name}_r") for prod in products[pe]]
            m.d.sync += [c.eq(prod) for c, prod in zip(copies, products[pe])]
            carried.append(copies)
        # Stage 7: one pipelined adder tree per output lane.
        tree_stages = adder_tree_stages(p.simd)
        sums = [adder_tree(m, carried[pe], tree_stages, p.acc_bits, f"sum{pe}") for pe in range(p.pe)]
        # The control of each tile, delayed to the accumulate stage (input register, ROM read, operands,
        # products, copies, tree). The last delay has one copy per ``COPY_GROUP_LANES`` output lanes
        # (``keep``, as in :meth:`_lane_groups`): one ``first`` drove every accumulator's mux.
        ctl: tuple[Value, ...] = (v1, first1, last1, nf1)
        for k in range(5 + tree_stages):
            ctl = self._delay(m, ctl, str(k + 2))
        n_last = 7 + tree_stages
        valid, _, last, _ = self._delay(m, ctl, str(n_last))

        # Stage 8: accumulate.
        news: list[Value] = []
        for pe in range(p.pe):
            if pe % COPY_GROUP_LANES == 0:
                valid_g, first, _, _ = self._delay(m, ctl, f"{n_last}_{pe // COPY_GROUP_LANES}", keep=True)
            acc = Signal(signed(p.acc_bits), name=f"acc{pe}")
            bias = [p.bias[nf_ * p.pe + pe] if nf_ * p.pe + pe < p.out_features else 0 for nf_ in range(p.output_folds)]
            # the fold's bias is looked up a stage early, from the tree stage's fold index (dbn: the
            # lookup, the mux and the adder were one path)
            fold_bias = _table(bias, ctl[3], signed(p.acc_bits))
            start = fold_bias if isinstance(fold_bias, Const) else register(m, fold_bias, f"bias{pe}")
            new = Signal(signed(p.acc_bits), name=f"acc{pe}_next")
            m.d.comb += new.eq(Mux(first, start, acc) + sums[pe])
            with m.If(valid_g):
                m.d.sync += acc.eq(new)
            news.append(acc)
        # Stage 9: the finished accumulators go to the queue from their registers (the adder's output
        # went on to the queue's memory: autoencoder)
        queue.drive(issue & last_t, register(m, valid & last, "deliver"), news)
        return m
