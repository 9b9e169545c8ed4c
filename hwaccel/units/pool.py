"""Pool: max or average over windows (a global pool streams the whole feature map as one window)."""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

from ..errors import CompileError
from .base import AsicCount, Shape3, Unit
from .common import Operand, Product, check_code, check_int, code_range, signed_bits
from .requant import RequantParams

__all__ = ["PoolParams"]


@dataclass(frozen=True)
class PoolParams(Unit):
    """Pool: max or average over windows of ``window`` codes per channel.

    Input: for each output pixel, for each window element, the ``groups = channels // lanes``
    beats of that element (the SlidingWindow order; a global pool streams the whole HWC feature
    map as one window). Output: one pixel's ``groups`` beats per window. ``max`` keeps the input
    codes; ``avg`` is ``requant(sum(x - x_zero_point))`` with ``1/window`` folded into the
    requant's multiplier. One input is one window.
    """

    unit_kind = "pool"

    kind: str
    window: int
    bits: int
    signed: bool
    channels: int = 1
    x_zero_point: int = 0
    requant: RequantParams | None = None
    lanes: int = 1

    def __post_init__(self) -> None:
        if self.kind not in ("max", "avg"):
            raise CompileError(f"kind must be 'max' or 'avg', not {self.kind!r}")
        check_int(self.window, "window", 1)
        check_int(self.bits, "bits", 2, 16)
        check_int(self.lanes, "lanes", 1)
        check_int(self.channels, "channels", self.lanes)
        if self.channels % self.lanes:
            raise CompileError(f"lanes must divide channels={self.channels}, not {self.lanes!r}")
        check_code(self.x_zero_point, "x_zero_point", self.bits, self.signed)
        rq = self.requant
        if (self.kind == "max") != (rq is None):
            raise CompileError(f"requant must be given exactly for kind 'avg', not {rq!r}")
        if rq is not None and (rq.lanes, rq.channels, rq.acc_bits < self.sum_bits) != (self.lanes, self.channels, False):
            raise CompileError(f"requant must have lanes={self.lanes}, channels={self.channels}, acc_bits >= {self.sum_bits}, not {rq!r}")

    @property
    def groups(self) -> int:
        return self.channels // self.lanes

    @property
    def sum_bits(self) -> int:
        """Exact signed width of ``sum(x - x_zero_point)`` over a window."""
        lo, hi = code_range(self.bits, self.signed)
        return signed_bits(self.window * min(lo - self.x_zero_point, 0), self.window * max(hi - self.x_zero_point, 0))

    @property
    def out_bits(self) -> int:
        return self.bits if self.requant is None else self.requant.out_bits

    @property
    def out_signed(self) -> bool:
        return self.signed if self.requant is None else self.requant.out_signed

    # -- the Unit interface ----------------------------------------------------------------------

    @property
    def out_codes(self) -> tuple[int, bool]:
        return self.out_bits, self.out_signed

    def beat_ratio(self) -> Fraction:
        return Fraction(1, self.window)

    @property
    def latency(self) -> int:
        """Cycles from the transfer of a window's last beat to its output transferring: the input
        register, then (max) the result register and the output queue's, or (average) the requant's
        stages."""
        return 1 + (2 if self.requant is None else self.requant.latency)

    @property
    def first_output_cycles(self) -> int:
        return (self.window - 1) * self.groups + self.latency

    def total_cycles(self, n_inputs: int) -> int:
        check_int(n_inputs, "n_inputs", 1)
        return n_inputs * self.window * self.groups + self.latency

    def products(self) -> list[Product]:
        """The average's requant of the window sums."""
        return [] if self.requant is None else self.requant.products_for(Operand(self.sum_bits, True))

    def multiplying_lanes(self) -> int:
        return 0 if self.requant is None else self.lanes

    def memory_bits(self) -> int:
        return 0 if self.requant is None else self.requant.memory_bits()

    def lut_estimate(self) -> int:
        return 0 if self.requant is None else self.requant.lut_cost(self.multiplying_lanes())

    def asic_counts(self, shape: Shape3, macs: int) -> list[AsicCount]:
        """One comparison (max) or addition (average) per window element, the result registers,
        the average's requant."""
        windows = self.inputs_per_image(shape)
        width = self.bits if self.requant is None else self.sum_bits
        counts = [AsicCount("other_arithmetic", "add", (width,), windows * self.window * self.channels, self.lanes),
                  AsicCount("registers", "reg", (self.lanes * width,), windows * self.groups)]
        return counts if self.requant is None else counts + self.requant.beat_counts(windows * self.groups)
