"""Requant: the contract's requantization (:class:`hwaccel.fixedpoint.Requant`) in hardware.

Also the datapath inside Pool (average) and the Eltwise units: :func:`requant_products` and
:meth:`RequantParams.beat_counts` are what those units count for theirs. A multiply by a wide
operand is split into 17-bit chunks (:func:`chunk_layout`), one 18x18 DSP multiplier each.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Any

from ..errors import CompileError
from .base import AsicCount, Shape3, Unit
from .common import Operand, Product, ceil_div, check_code, check_int, code_range, int_tuple, signed_bits, span

__all__ = ["REQUANT_LATENCY", "CHUNK_BITS", "RequantEntry", "RequantParams", "chunk_layout", "constant_chunks",
           "requant_products"]

REQUANT_LATENCY = 10  # operands, multiplier inputs, partial products, two copies, two adder stages, shift, rounding, clamp (+1 for a table)
CHUNK_BITS = 17  # unsigned low chunks of a split multiply; with the signed top chunk each fits 18x18


def chunk_layout(shape: Operand) -> list[tuple[int, Operand]]:
    """``(offset, operand)`` of the chunks of a value of ``shape``: unsigned ``CHUNK_BITS``-bit low
    chunks, a signed (or unsigned) top chunk; one chunk when the value fits an 18x18 multiplier as it is."""
    if shape.width <= CHUNK_BITS + int(shape.signed):
        return [(0, Operand(shape.width, shape.signed))]
    low = [(k, Operand(CHUNK_BITS, False)) for k in range(0, shape.width - CHUNK_BITS, CHUNK_BITS)]
    top = len(low) * CHUNK_BITS
    return low + [(top, Operand(shape.width - top, shape.signed))]


def constant_chunks(value: int) -> list[tuple[int, int]]:
    """The constant ``value`` as ``sum(chunk << offset)``: ``(chunk, offset)`` pairs over the
    :func:`chunk_layout` of its shortest width (each chunk fits one 18x18 multiplier)."""
    chunks = []
    for offset, shape in chunk_layout(span([value])):
        bits = (value >> offset) & ((1 << shape.width) - 1)  # two's complement
        chunks.append((bits - (bits >> (shape.width - 1) << shape.width) if shape.signed else bits, offset))
    return chunks


@dataclass(frozen=True)
class RequantEntry:
    """One hardware setting: ``clamp(zero_point + ((x * mult + bias) >> shift), lo, hi)``.

    ``shift`` lies in ``[0, product_bits]``: a left shift is folded into ``mult`` and a longer right
    shift gives 0 like ``product_bits`` does. ``half = 2**(shift-1)`` (0 for shift 0).
    """

    mult: int
    shift: int
    half: int
    zero_point: int
    lo: int
    hi: int


def requant_products(x_shape: Operand, entries: list[list[RequantEntry]]) -> list[Product]:
    """The multiplies the requant datapath builds for values of ``x_shape``: one ``(x chunk,
    multiplier chunk)`` pair per partial product of each lane, the multiplier chunk a constant
    (``int``) when the lane has one setting."""
    products: list[Product] = []
    for table in entries:
        mults = [e.mult for e in table]
        for _, x_chunk in chunk_layout(x_shape):
            if len(set(mults)) > 1:
                products += [(x_chunk, m_chunk) for _, m_chunk in chunk_layout(span(mults))]
            else:
                products += [(x_chunk, chunk) for chunk, _ in constant_chunks(mults[0])]
    return products


@dataclass(frozen=True)
class RequantParams(Unit):
    """Requant: ``clamp(zero_point + round(acc * M0 * 2**-n), lo, hi)``, then an optional table.

    Input: signed ``acc_bits`` accumulators, ``lanes`` a beat, a pixel's ``channels`` in
    ``groups = ceil(channels / lanes)`` beats (lane ``l`` of beat ``g`` is channel ``g*lanes + l``;
    lanes past ``channels`` use multiplier 0 and give ``clamp(zero_point)``). ``multipliers`` and
    ``shifts`` hold one entry or one per channel, rounding ``half_even`` or ``half_up``, as in
    :class:`hwaccel.fixedpoint.Requant`. ``lut`` maps a clamped code ``y`` to ``lut[y - lut_qmin]``
    (activation functions); ``out_bits``/``out_signed`` describe the codes out. One input is one
    pixel; one beat a cycle.
    """

    unit_kind = "requant"

    acc_bits: int
    out_bits: int
    out_signed: bool
    multipliers: tuple
    shifts: tuple
    zero_point: int
    lo: int
    hi: int
    rounding: str = "half_even"
    channels: int = 1
    lut: tuple | None = None
    lut_qmin: int = 0
    lanes: int = 1

    def __post_init__(self) -> None:
        check_int(self.acc_bits, "acc_bits", 2, 48)
        check_int(self.out_bits, "out_bits", 2, 16)
        check_int(self.channels, "channels", 1)
        check_int(self.lanes, "lanes", 1)
        for name in ("multipliers", "shifts"):
            object.__setattr__(self, name, int_tuple(getattr(self, name), name))
        if len(self.multipliers) not in (1, self.channels) or len(self.shifts) != len(self.multipliers):
            raise CompileError(f"multipliers and shifts must have 1 or {self.channels} entries each, not {len(self.multipliers)} and {len(self.shifts)}")
        if self.rounding not in ("half_even", "half_up"):
            raise CompileError(f"rounding must be 'half_even' or 'half_up', not {self.rounding!r}")
        check_int(self.lo, "lo", -(1 << 31))
        check_int(self.hi, "hi", self.lo)
        if self.lut is None:
            check_code(self.lo, "lo", self.out_bits, self.out_signed)
            check_code(self.hi, "hi", self.out_bits, self.out_signed)
        else:
            object.__setattr__(self, "lut", int_tuple(self.lut, "lut"))
            if not (self.lut_qmin <= self.lo and self.hi - self.lut_qmin < len(self.lut)):
                raise CompileError(f"lut must cover [lo, hi] = [{self.lo}, {self.hi}], not {len(self.lut)} entries from {self.lut_qmin!r}")
            for code in self.lut:
                check_code(code, "lut entry", self.out_bits, self.out_signed)
        if self.product_bits > 63:
            raise CompileError(f"acc_bits + multiplier bits must be <= 63, not {self.product_bits!r}")

    @classmethod
    def from_requant(cls, rq: Any, acc_bits: int, out_bits: int, out_signed: bool, channels: int | None = None,
                     lut: Any = None, lut_qmin: int = 0, lanes: int = 1) -> "RequantParams":
        """The unit for a :class:`hwaccel.fixedpoint.Requant` (its semantic fields) and the widths."""
        return cls(acc_bits, out_bits, out_signed, rq.multiplier, rq.shift, rq.zero_point, rq.lo, rq.hi, rq.rounding,
                   rq.channels if channels is None else channels, lut, lut_qmin, lanes)

    @property
    def groups(self) -> int:
        """Beats per pixel."""
        return ceil_div(self.channels, self.lanes)

    @cached_property
    def product_bits(self) -> int:
        """Exact signed width of ``acc * mult`` over all entries (left shifts folded in; computed once)."""
        lo, hi = code_range(self.acc_bits, True)
        mults = [m << max(-n, 0) for m, n in zip(self.multipliers, self.shifts)] + [0]
        corners = [a * m for a in (lo, hi) for m in (min(mults), max(mults))]
        return signed_bits(min(corners), max(corners))

    def entry(self, channel: int) -> RequantEntry:
        """The setting of ``channel`` (multiplier 0 past ``channels``)."""
        if channel >= self.channels:
            mult, shift = 0, 0
        else:
            k = 0 if len(self.multipliers) == 1 else channel
            mult, shift = self.multipliers[k] << max(-self.shifts[k], 0), min(max(self.shifts[k], 0), self.product_bits)
        return RequantEntry(mult, shift, (1 << shift) >> 1, self.zero_point, self.lo, self.hi)

    def entries(self) -> tuple[tuple[RequantEntry, ...], ...]:
        """``entries()[lane][g]``: the setting of each lane in beat ``g`` of a pixel."""
        return tuple(tuple(self.entry(g * self.lanes + lane) for g in range(self.groups)) for lane in range(self.lanes))

    def products_for(self, x_shape: Operand) -> list[Product]:
        """The multiplies of this requant applied to values of ``x_shape``."""
        return requant_products(x_shape, [list(row) for row in self.entries()])

    def lut_cost(self, lanes: int) -> int:
        """Rough LUTs of ``lanes`` soft multipliers by the widest multiplier, and their adders."""
        mult = max(max(abs(m) for m in self.multipliers).bit_length(), 1)
        return lanes * (self.acc_bits * mult // 2 + self.acc_bits)

    def beat_counts(self, beats: float) -> list[AsicCount]:
        """``beats`` beats through the requant: one ``acc_bits x mult_bits`` multiply and two
        additions per lane and beat, the product and output registers, the table read per code."""
        mult_bits = max(self.product_bits - self.acc_bits + 1, 2)
        ops = beats * self.lanes
        counts = [AsicCount("other_arithmetic", "mult", (self.acc_bits, mult_bits), ops, self.lanes),
                  AsicCount("other_arithmetic", "add", (self.product_bits,), ops, self.lanes),
                  AsicCount("other_arithmetic", "add", (self.out_bits,), ops, self.lanes),
                  AsicCount("registers", "reg", (self.lanes * (self.product_bits + self.out_bits),), beats)]
        if self.lut is not None:
            counts.append(AsicCount("weight_memory", "mem", (self.memory_bits(),), ops * self.out_bits))
        return counts

    # -- the Unit interface ----------------------------------------------------------------------

    @property
    def out_codes(self) -> tuple[int, bool]:
        return self.out_bits, self.out_signed

    @property
    def latency(self) -> int:
        return REQUANT_LATENCY + (self.lut is not None)

    def total_cycles(self, n_inputs: int) -> int:
        check_int(n_inputs, "n_inputs", 1)
        return n_inputs * self.groups + self.latency

    def products(self) -> list[Product]:
        return self.products_for(Operand(self.acc_bits, True))

    def multiplying_lanes(self) -> int:
        return self.lanes

    def memory_bits(self) -> int:
        """The activation table, when there is one."""
        return (self.hi - self.lo + 1) * self.out_bits if self.lut is not None else 0

    def lut_estimate(self) -> int:
        return self.lut_cost(self.multiplying_lanes())

    def asic_counts(self, shape: Shape3, macs: int) -> list[AsicCount]:
        return self.beat_counts(self.inputs_per_image(shape) * self.groups)
