"""Eltwise units on two streams: Add (each input to a common scale by its own multiplier, one
rounding) and Concat along channels (each input rescaled to the output encoding by its own
requant). Both end in the requant datapath (:mod:`.requant`).
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

from ..errors import CompileError
from .base import AsicCount, Shape3, Unit
from .common import Operand, Product, add, check_code, check_int, code_range, const, mul, signed_bits, sub, unify
from .requant import REQUANT_LATENCY, RequantParams, constant_chunks, requant_products

__all__ = ["ADD_RESCALE_STAGES", "EltwiseAddParams", "EltwiseConcatParams"]

ADD_RESCALE_STAGES = 6  # EltwiseAdd: operands, offsets, DSP input copies, partial products, their copies, the rescaled inputs


def _sum_range(terms: list[tuple[int, bool, int, int]]) -> tuple[int, int]:
    """Exact range of ``sum (x - zero_point) * mult`` over codes ``x`` of ``(bits, signed, zero_point, mult)``."""
    lo = hi = 0
    for bits, signed, zp, mult in terms:
        ends = [(c - zp) * mult for c in code_range(bits, signed)]
        lo, hi = lo + min(ends), hi + max(ends)
    return lo, hi


@dataclass(frozen=True)
class EltwiseAddParams(Unit):
    """Add: ``requant((a - a_zero_point) * a_multiplier + (b - b_zero_point) * b_multiplier)``.

    Each input reaches a common scale by its own integer multiplier and the sum is rounded once
    (``requant`` per-tensor, typically multiplier 1 and the common shift; a negative
    ``b_multiplier`` is Sub). Streams ``a`` and ``b`` carry ``lanes`` codes a beat; a beat of each
    makes one output beat. One input is one beat.
    """

    unit_kind = "add"

    a_bits: int
    a_signed: bool
    a_zero_point: int
    a_multiplier: int
    b_bits: int
    b_signed: bool
    b_zero_point: int
    b_multiplier: int
    requant: RequantParams
    lanes: int = 1

    def __post_init__(self) -> None:
        for side in "ab":
            bits, signed = getattr(self, f"{side}_bits"), getattr(self, f"{side}_signed")
            check_int(bits, f"{side}_bits", 2, 16)
            check_code(getattr(self, f"{side}_zero_point"), f"{side}_zero_point", bits, signed)
            check_int(getattr(self, f"{side}_multiplier"), f"{side}_multiplier", -(1 << 32), 1 << 32)
        check_int(self.lanes, "lanes", 1)
        rq = self.requant
        if (rq.lanes, len(rq.multipliers), rq.groups, rq.acc_bits < self.sum_bits) != (self.lanes, 1, 1, False):
            raise CompileError(f"requant must be per-tensor with lanes={self.lanes}, channels <= lanes, acc_bits >= {self.sum_bits}, not {rq!r}")

    @property
    def sum_bits(self) -> int:
        """Exact signed width of the sum of the rescaled inputs."""
        return signed_bits(*_sum_range([(self.a_bits, self.a_signed, self.a_zero_point, self.a_multiplier),
                                        (self.b_bits, self.b_signed, self.b_zero_point, self.b_multiplier)]))

    def offsets(self) -> tuple[Operand, Operand]:
        """The operands of ``a - a_zero_point`` and ``b - b_zero_point`` in the generator."""
        return (sub(Operand(self.a_bits, self.a_signed), const(self.a_zero_point)),
                sub(Operand(self.b_bits, self.b_signed), const(self.b_zero_point)))

    # -- the Unit interface ----------------------------------------------------------------------

    @property
    def out_codes(self) -> tuple[int, bool]:
        return self.requant.out_bits, self.requant.out_signed

    @property
    def latency(self) -> int:
        """The rescale stages (:data:`ADD_RESCALE_STAGES`: operands, offsets, their copies at the DSP
        blocks, partial products, their copies, the rescaled inputs), then the requant."""
        return ADD_RESCALE_STAGES + self.requant.latency

    def total_cycles(self, n_inputs: int) -> int:
        check_int(n_inputs, "n_inputs", 1)
        return n_inputs + self.latency

    def inputs_per_image(self, shape: Shape3) -> int:
        """Beats per image."""
        h, w, c = shape
        return h * w * c // self.lanes

    def products(self) -> list[Product]:
        """Each offset times the chunks of its constant multiplier, per lane; then the requant of the sum."""
        oa, ob = self.offsets()
        terms: list[Product] = [(x, chunk) for x, mult in ((oa, self.a_multiplier), (ob, self.b_multiplier))
                                for chunk, _ in constant_chunks(mult)]
        total = add(mul(oa, const(self.a_multiplier)), mul(ob, const(self.b_multiplier)))
        return terms * self.lanes + self.requant.products_for(total)

    def multiplying_lanes(self) -> int:
        """Three products per lane (two rescales and the requant)."""
        return 3 * self.lanes

    def memory_bits(self) -> int:
        return self.requant.memory_bits()

    def lut_estimate(self) -> int:
        return self.requant.lut_cost(self.multiplying_lanes())

    def asic_counts(self, shape: Shape3, macs: int) -> list[AsicCount]:
        """Two input multiplies and an addition per lane and beat, then the requant."""
        beats = self.inputs_per_image(shape)
        ops = beats * self.lanes
        mults = [(self.a_bits + 1, max(abs(self.a_multiplier).bit_length() + 1, 2)),
                 (self.b_bits + 1, max(abs(self.b_multiplier).bit_length() + 1, 2))]
        return ([AsicCount("other_arithmetic", "mult", size, ops, self.lanes) for size in mults]
                + [AsicCount("other_arithmetic", "add", (self.sum_bits,), ops, self.lanes)]
                + self.requant.beat_counts(beats))


@dataclass(frozen=True)
class EltwiseConcatParams(Unit):
    """Concat along channels: per pixel ``a_channels`` codes of ``a``, then ``b_channels`` of ``b``.

    Each input reaches the output encoding by its own requant of ``x - zero_point`` (``None``: it
    has the output encoding already and passes unchanged). Streams carry ``lanes`` codes a beat;
    a pixel is ``a_channels / lanes`` beats of ``a`` then ``b_channels / lanes`` of ``b``. One
    input is one pixel.
    """

    unit_kind = "concat"

    a_channels: int
    b_channels: int
    a_bits: int
    a_signed: bool
    b_bits: int
    b_signed: bool
    out_bits: int
    out_signed: bool
    a_zero_point: int = 0
    b_zero_point: int = 0
    a_requant: RequantParams | None = None
    b_requant: RequantParams | None = None
    lanes: int = 1

    def __post_init__(self) -> None:
        check_int(self.lanes, "lanes", 1)
        check_int(self.out_bits, "out_bits", 2, 16)
        for side in "ab":
            chans, bits, signed, zp, rq = (getattr(self, f"{side}_{k}") for k in ("channels", "bits", "signed", "zero_point", "requant"))
            check_int(chans, f"{side}_channels", self.lanes)
            if chans % self.lanes:
                raise CompileError(f"lanes must divide {side}_channels={chans}, not {self.lanes!r}")
            check_int(bits, f"{side}_bits", 2, 16)
            check_code(zp, f"{side}_zero_point", bits, signed)
            if rq is None and (bits, signed) != (self.out_bits, self.out_signed):
                raise CompileError(f"{side} without a requant must have the output code type, not {(bits, signed)!r}")
            if rq is not None and (rq.lanes, rq.channels, rq.lut, rq.out_bits, rq.out_signed, rq.acc_bits <= bits) != (
                    self.lanes, chans, None, self.out_bits, self.out_signed, False):
                raise CompileError(f"{side}_requant must match the lanes, {side}_channels and output codes, without a table, not {rq!r}")
        if self.a_requant is not None and self.b_requant is not None and self.a_requant.rounding != self.b_requant.rounding:
            raise CompileError(f"b_requant.rounding must be {self.a_requant.rounding!r}, not {self.b_requant.rounding!r}")

    def side(self, name: str) -> RequantParams:
        """The requant of input ``name`` ('a' or 'b'); the identity when it has none."""
        rq = getattr(self, f"{name}_requant")
        if rq is not None:
            return rq
        other = self.b_requant if name == "a" else self.a_requant
        rounding = "half_even" if other is None else other.rounding  # moot for shift 0; one rounding for both
        lo, hi = code_range(self.out_bits, self.out_signed)
        return RequantParams(self.out_bits + 1, self.out_bits, self.out_signed, (1,), (0,), getattr(self, f"{name}_zero_point"),
                             lo, hi, rounding, getattr(self, f"{name}_channels"), lanes=self.lanes)

    @property
    def groups(self) -> tuple[int, int]:
        """Beats per pixel from ``a`` and from ``b``."""
        return self.a_channels // self.lanes, self.b_channels // self.lanes

    # -- the Unit interface ----------------------------------------------------------------------

    @property
    def out_codes(self) -> tuple[int, bool]:
        return self.out_bits, self.out_signed

    def beat_ratio(self) -> Fraction:
        return Fraction(sum(self.groups), self.groups[0])

    @property
    def latency(self) -> int:
        return REQUANT_LATENCY

    def total_cycles(self, n_inputs: int) -> int:
        check_int(n_inputs, "n_inputs", 1)
        return n_inputs * sum(self.groups) + self.latency

    def products(self) -> list[Product]:
        """One requant datapath over the offset codes of either side, each beat with its side's setting."""
        value = unify(sub(Operand(self.b_bits, self.b_signed), const(self.b_zero_point)),
                      sub(Operand(self.a_bits, self.a_signed), const(self.a_zero_point)))
        entries = [list(ea) + list(eb) for ea, eb in zip(self.side("a").entries(), self.side("b").entries())]
        return requant_products(value, entries)

    def multiplying_lanes(self) -> int:
        return self.lanes

    def asic_counts(self, shape: Shape3, macs: int) -> list[AsicCount]:
        """Each side's requant (none for a side in the output encoding already)."""
        pixels = self.inputs_per_image(shape)
        counts: list[AsicCount] = []
        for rq, groups in zip((self.a_requant, self.b_requant), self.groups):
            if rq is not None:
                counts += rq.beat_counts(pixels * groups)
        return counts
