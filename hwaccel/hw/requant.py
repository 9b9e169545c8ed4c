"""Requant unit: ``clamp(z + round(acc * M0 * 2**-n), lo, hi)`` per lane, then an optional table.

:func:`requant_pipeline` is the datapath shared with Pool and Eltwise: stage 1 multiplies, stage 2
adds the rounding constant, shifts arithmetically, adds the zero point and clamps; a table (LUT)
stage follows when the params have one. Rounding: ``half_up`` adds ``2**(n-1)``; ``half_even`` adds
``2**(n-1) - 1 + bit_n(x)`` (ties go up exactly when the truncated quotient is odd). Every stage
register advances together on ``en``, so a stall holds the pipeline; data registers load valid
beats only.
"""

from __future__ import annotations

from amaranth.hdl import Array, Const, Module, Mux, Shape, Signal, Value, signed, unsigned
from amaranth.lib import wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from .params import RequantEntry, RequantParams
from .stream import code_shape, counter, lanes_stream

__all__ = ["Requant", "requant_pipeline"]


def _pick(values: list[int], select: Value | None, shape: Shape) -> Value:
    """A constant, or a table of constants indexed by ``select``."""
    if len(values) == 1 or select is None or len(set(values)) == 1:
        return Const(values[0], shape)
    return Array(Const(v, shape) for v in values)[select]


def _width(values: list[int]) -> Shape:
    lo, hi = min(values + [0]), max(values + [0])
    return Shape.cast(range(lo, hi + 1)) if lo < 0 else unsigned(max(hi.bit_length(), 1))


def _clamp_shape(params: RequantParams) -> Shape:
    """The clamped code: the output codes, or the table index range when a table follows."""
    if params.lut is None:
        return code_shape(params.out_bits, params.out_signed)
    return Shape.cast(range(params.lo, params.hi + 1))


def requant_pipeline(
    m: Module, en: Value, valid: Value, values: list[Value], entries: list[list[RequantEntry]], select: Value | None,
    params: RequantParams, product_bits: int | None = None,
) -> tuple[Signal, list[Value]]:
    """Build the requant stages; returns the output valid and the per-lane output codes.

    ``entries[lane][k]`` is the setting used when ``select == k``; ``params`` gives the rounding,
    output codes and optional table, ``product_bits`` (default ``params.product_bits``) the width
    of ``value * mult`` over all entries.
    """
    width = params.product_bits if product_bits is None else product_bits
    product = signed(width)
    valid_1 = Signal(name="rq_valid_1")
    valid_out = Signal(name="rq_valid_2")
    with m.If(en):
        m.d.sync += [valid_1.eq(valid), valid_out.eq(valid_1)]
    outs: list[Value] = []
    for lane, table in enumerate(entries):
        fields = {f: [getattr(e, f) for e in table] for f in ("shift", "half", "zero_point", "lo", "hi")}
        regs = {f: Signal(_width(v), name=f"rq{lane}_{f}") for f, v in fields.items()}
        mults = [e.mult for e in table]
        prod = Signal(product, name=f"rq{lane}_prod")
        with m.If(en & valid):  # data registers load valid beats only: no undefined input reaches the output
            m.d.sync += prod.eq(values[lane] * _pick(mults, select, _width(mults)))
            m.d.sync += [regs[f].eq(_pick(v, select, regs[f].shape())) for f, v in fields.items()]
        wide = Signal(signed(width + 1), name=f"rq{lane}_wide")  # bit `width` = sign
        m.d.comb += wide.eq(prod)
        shift, half = regs["shift"], regs["half"]
        if params.rounding == "half_up":
            bias: Value = half
        else:
            bias = Mux(shift == 0, 0, half - 1 + wide.bit_select(shift, 1))
        rounded = Signal(signed(width + 2), name=f"rq{lane}_rounded")
        m.d.comb += rounded.eq((wide + bias) >> shift)
        code = regs["zero_point"] + rounded
        clamped = Mux(code < regs["lo"], regs["lo"], Mux(code > regs["hi"], regs["hi"], code))
        out = Signal(_clamp_shape(params), name=f"rq{lane}_out")
        with m.If(en & valid_1):
            m.d.sync += out.eq(clamped)
        outs.append(out)
    if params.lut is None:
        return valid_out, outs
    return _lut_stage(m, en, valid_out, outs, params)


def _lut_stage(m: Module, en: Value, valid: Value, codes: list[Value], params: RequantParams) -> tuple[Signal, list[Value]]:
    assert params.lut is not None
    table = params.lut[params.lo - params.lut_qmin: params.hi - params.lut_qmin + 1]
    shape = code_shape(params.out_bits, params.out_signed)
    m.submodules.lut = mem = Memory(shape=shape, depth=len(table), init=table)
    valid_out = Signal(name="lut_valid")
    with m.If(en):
        m.d.sync += valid_out.eq(valid)
    outs: list[Value] = []
    for lane, code in enumerate(codes):  # asynchronous ROM read into a register with a defined reset value
        port = mem.read_port(domain="comb")
        out = Signal(shape, name=f"lut{lane}_out")
        m.d.comb += port.addr.eq(code - params.lo)
        with m.If(en & valid):
            m.d.sync += out.eq(port.data)
        outs.append(out)
    return valid_out, outs


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
        advance = ~self.o.valid | self.o.ready
        m.d.comb += self.i.ready.eq(advance)
        group, _ = counter(m, self.i.valid & advance, p.groups, "group")
        entries = [list(row) for row in p.entries()]
        valid, outs = requant_pipeline(m, advance, self.i.valid, [self.i.p[lane] for lane in range(p.lanes)], entries, group, p)
        m.d.comb += self.o.valid.eq(valid)
        m.d.comb += [self.o.p[lane].eq(out) for lane, out in enumerate(outs)]
        return m
