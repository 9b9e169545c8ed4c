"""Requant unit: ``clamp(z + round(acc * M0 * 2**-n), lo, hi)`` per lane, then an optional table.

:func:`requant_pipeline` is the datapath shared with Pool and Eltwise, ten register stages so
that no stage holds more than one wide operation or one route from a DSP block (post-route
>= 100 MHz on ECP5):

1. operands: the lane's value and its setting (multiplier, shift, ...) for the beat's ``select``;
2. the multiply's operands again, split into 17-bit chunks, one pair of registers per partial
   product: the input registers of its DSP block. They load from flip-flops only (synthesis turns
   a register loaded from a table into one with a data-dependent reset, which a DSP block cannot
   hold), and no two blocks share one;
3. partial products of ``value * mult`` (one 18x18 DSP multiplier each, this register its output
   register);
4. and 5. the partial products again, twice: the route from a DSP block to the adder gets two
   cycles (at 73 % of the ECP5-85k's blocks, a requant's block can sit far from its logic);
6. and 7. the product: the sum of the partial products, the first half of the adder tree's
   levels in stage 6 (sums of groups of partial products), the rest in stage 7;
8. arithmetic shift right by ``n`` (the floor ``q``), and the remainder ``r = x mod 2**n``
   compared with ``half = 2**(n-1)``;
9. ``zero_point + q + up``: rounding up when ``r > half``, or on a tie ``r == half`` (``n > 0``)
   always (``half_up``) or when ``q`` is odd (``half_even``); beside it, whether that code lies
   below ``lo`` or above ``hi``, from ``q`` against ``lo - zero_point - up`` (and ``hi``), so that
   the clamp is not a compare of the wide sum;
10. clamp: a choice between ``lo``, ``hi`` and the code's low bits by those two flags;

and a table (LUT) stage when the params have one. The last stage's register is the head of the
caller's :class:`~.queue.OutputQueue`: the pipeline returns what goes into it (the clamped codes,
or the table's read), with the valid of that cycle. Settings that are the same for every beat are
constants, not registers. The stages load every cycle (no clock enable): the units issue a beat
only when the queue has room for its result.
"""

from __future__ import annotations

from amaranth.hdl import Array, Const, Module, Mux, Shape, Signal, Value, signed, unsigned
from amaranth.lib import wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from ..units.common import Operand, span
from ..units.requant import REQUANT_LATENCY, RequantEntry, RequantParams, chunk_layout, constant_chunks
from .queue import OutputQueue
from .stream import code_shape, counter, lanes_stream, register, valid_chain

__all__ = ["Requant", "requant_pipeline"]


def _pick(values: list[int], select: Value | None, shape: Shape) -> Value:
    """A constant, or a table of constants indexed by ``select``."""
    if len(values) == 1 or select is None or len(set(values)) == 1:
        return Const(values[0], shape)
    return Array(Const(v, shape) for v in values)[select]


def _width(values: list[int]) -> Shape:
    """The shortest shape holding ``values`` and 0 (:func:`~hwaccel.units.common.span`)."""
    return Shape(*span(values))


def _chunks(value: Value) -> list[tuple[Value, int]]:
    """``value`` as ``sum(chunk << offset)`` (:func:`~hwaccel.units.requant.chunk_layout`)."""
    shape = value.shape()
    layout = chunk_layout(Operand(shape.width, shape.signed))
    if len(layout) == 1:
        return [(value, 0)]
    return [(value[k:k + part.width].as_signed() if part.signed else value[k:k + part.width], k) for k, part in layout]


def _clamp_shape(params: RequantParams) -> Shape:
    """The clamped code: the output codes, or the table index range when a table follows."""
    if params.lut is None:
        return code_shape(params.out_bits, params.out_signed)
    return Shape.cast(range(params.lo, params.hi + 1))


def requant_pipeline(
    m: Module, valid: Value, values: list[Value], entries: list[list[RequantEntry]], select: Value | None,
    params: RequantParams, product_bits: int | None = None,
) -> tuple[Signal, list[Value]]:
    """Build the requant stages; returns the valid and the per-lane codes that load the last
    stage's register (the output queue's head).

    ``entries[lane][k]`` is the setting used when ``select == k``; ``params`` gives the rounding,
    output codes and optional table, ``product_bits`` (default ``params.product_bits``) the width
    of ``value * mult`` over all entries.
    """
    width = params.product_bits if product_bits is None else product_bits
    valids = valid_chain(m, valid, REQUANT_LATENCY, "rq_valid")  # the last one only with a table

    def reg(stage: int, value: Value, shape: Shape, name: str) -> Value:
        """A data register of stage ``stage`` (1-based) loading ``value``."""
        return register(m, value, name, shape)

    outs: list[Value] = []
    for lane, table in enumerate(entries):
        fields = {f: [getattr(e, f) for e in table] for f in ("mult", "shift", "half", "zero_point", "lo", "hi")}
        fields["mask"] = [2 * e.half - 1 if e.half else 0 for e in table]  # 2**n - 1
        # the clamp's bounds on q, for up = 0 and up = 1
        for up in (0, 1):
            fields[f"q_lo{up}"] = [e.lo - e.zero_point - up for e in table]
            fields[f"q_hi{up}"] = [e.hi - e.zero_point - up for e in table]
        # a setting that varies with ``select`` is registered in stage 1 and carried down to where it is used
        setting: dict[str, list[Value]] = {}
        for f, v in fields.items():
            shape = _width(v)
            if select is None or len(set(v)) == 1:
                setting[f] = [Const(v[0], shape)] * (REQUANT_LATENCY + 1)
                continue
            chain = [reg(1, _pick(v, select, shape), shape, f"rq{lane}_{f}_1")]
            for k in range(2, REQUANT_LATENCY):
                chain.append(reg(k, chain[-1], shape, f"rq{lane}_{f}_{k}"))
            setting[f] = [Const(0, shape)] + chain
        x = reg(1, values[lane], Shape.cast(values[lane].shape()), f"rq{lane}_x")
        mult = setting["mult"][1]
        # a constant multiplier stays a constant (Yosys folds zero and power-of-two chunks)
        m_chunks = [(Const(c), k) for c, k in constant_chunks(mult.value)] if isinstance(mult, Const) else _chunks(mult)
        copies = []
        for i, (a, oa) in enumerate(_chunks(x)):
            for j, (b, ob) in enumerate(m_chunks):
                a2 = reg(2, a, Shape.cast(a.shape()), f"rq{lane}_x{i}_{j}")
                b2 = b if isinstance(b, Const) else reg(2, b, Shape.cast(b.shape()), f"rq{lane}_m{i}_{j}")
                shape = Shape.cast((a2 * b2).shape())
                part = reg(3, a2 * b2, shape, f"rq{lane}_part{i}_{j}")
                copy = reg(5, reg(4, part, shape, f"rq{lane}_part{i}_{j}_r"), shape, f"rq{lane}_part{i}_{j}_rr")
                copies.append((copy, oa + ob))
        group = 1 << -(-(len(copies) - 1).bit_length() // 2)  # the first half of the adder tree's levels
        sums = [reg(6, sum((part << offset for part, offset in copies[k:k + group]), Const(0)), signed(width),
                    f"rq{lane}_sum{k // group}") for k in range(0, len(copies), group)]
        prod = reg(7, sum(sums, Const(0)), signed(width), f"rq{lane}_prod")
        shift, half, mask = setting["shift"][7], setting["half"][7], setting["mask"][7]
        floor = reg(8, prod >> shift, signed(width), f"rq{lane}_floor")
        remainder = Signal(unsigned(width), name=f"rq{lane}_rem")
        m.d.comb += remainder.eq(prod.as_unsigned() & mask)
        above = reg(8, remainder > half, unsigned(1), f"rq{lane}_above")
        tie = reg(8, (remainder == half) & (half != 0), unsigned(1), f"rq{lane}_tie")
        up = above | (tie & (1 if params.rounding == "half_up" else floor[0]))
        # only the code's low bits are kept: they are the code whenever it lies in [lo, hi];
        # code < lo  <=>  q < lo - zero_point - up, and likewise for hi
        shape = _clamp_shape(params)
        code = reg(9, (setting["zero_point"][8] + floor + up)[:shape.width], unsigned(shape.width), f"rq{lane}_code")
        below = Mux(up, floor < setting["q_lo1"][8], floor < setting["q_lo0"][8])
        above_hi = Mux(up, floor > setting["q_hi1"][8], floor > setting["q_hi0"][8])
        under = reg(9, below, unsigned(1), f"rq{lane}_under")
        over = reg(9, above_hi, unsigned(1), f"rq{lane}_over")
        lo, hi = setting["lo"][9], setting["hi"][9]
        outs.append(Mux(under, lo, Mux(over, hi, code.as_signed() if shape.signed else code)))
    if params.lut is None:
        return valids[REQUANT_LATENCY - 1], outs
    clamped_regs = [reg(10, c, _clamp_shape(params), f"rq{lane}_out") for lane, c in enumerate(outs)]
    return valids[REQUANT_LATENCY], _lut_reads(m, clamped_regs, params)


def _lut_reads(m: Module, codes: list[Value], params: RequantParams) -> list[Value]:
    """The table's entry for each code (asynchronous ROM reads, into the queue's head register)."""
    assert params.lut is not None
    table = params.lut[params.lo - params.lut_qmin: params.hi - params.lut_qmin + 1]
    m.submodules.lut = mem = Memory(shape=code_shape(params.out_bits, params.out_signed), depth=len(table), init=table)
    outs: list[Value] = []
    for code in codes:
        port = mem.read_port(domain="comb")
        m.d.comb += port.addr.eq(code - params.lo)
        outs.append(port.data)
    return outs


class Requant(wiring.Component):
    """Stream unit: ``lanes`` accumulators in (``i``), ``lanes`` codes out (``o``), latency ``params.latency``."""

    def __init__(self, params: RequantParams) -> None:
        self.params = params
        super().__init__({
            "i": In(lanes_stream(signed(params.acc_bits), params.lanes)),
            "o": Out(lanes_stream(code_shape(params.out_bits, params.out_signed), params.lanes)),
        })

    def elaborate(self, platform: object) -> Module:
        p = self.params
        m = Module()
        queue = OutputQueue(m, self.o, p.latency)
        issue = self.i.valid & queue.room
        m.d.comb += self.i.ready.eq(queue.room)
        group, _ = counter(m, issue, p.groups, "group")
        entries = [list(row) for row in p.entries()]
        valid, outs = requant_pipeline(m, issue, [self.i.p[lane] for lane in range(p.lanes)], entries, group, p)
        queue.drive(issue, valid, outs)
        return m
