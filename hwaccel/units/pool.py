"""Pool: max or average over windows (a global pool streams the whole feature map as one window)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from fractions import Fraction

from ..errors import CompileError
from .base import AsicCount, Shape3, Unit
from .common import Operand, Product, check_code, check_int, code_range, int_tuple, signed_bits
from .requant import RequantEntry, RequantParams, requant_products

__all__ = ["PoolParams"]


@dataclass(frozen=True)
class PoolParams(Unit):
    """Pool: max or average over windows of ``window`` codes per channel.

    Input: for each output pixel, for each window element, the ``groups = channels // lanes``
    beats of that element (the SlidingWindow order; a global pool streams the whole HWC feature
    map as one window). Output: one pixel's ``groups`` beats per window. ``max`` keeps the input
    codes; ``avg`` is ``requant(sum(x - x_zero_point))`` with ``1/window`` folded into the
    requant's multiplier. One input is one window.

    Windows that average different element counts (``count_include_pad=0`` with padding, a
    ``ceil_mode`` overhang) pick their requant by output pixel: ``pixel_classes`` holds the class
    of each output pixel of an image (row-major; the unit counts windows modulo its length), and
    class ``k`` is ``requant`` with ``class_multipliers[k]`` and ``class_shifts[k]`` (class 0's are
    ``requant``'s own). All three are empty when every window averages the same count.
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
    class_multipliers: tuple = ()
    class_shifts: tuple = ()
    pixel_classes: tuple = ()

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
        self._check_classes()

    def _check_classes(self) -> None:
        for name in ("class_multipliers", "class_shifts"):
            object.__setattr__(self, name, tuple(int_tuple(row, name) for row in getattr(self, name)))
        object.__setattr__(self, "pixel_classes", int_tuple(self.pixel_classes, "pixel_classes"))
        n, rq = len(self.class_multipliers), self.requant
        if not (n or self.class_shifts or self.pixel_classes):
            return
        if rq is None or self.window < 2 or n < 2 or len(self.class_shifts) != n:
            raise CompileError(f"pixel classes must come with kind 'avg', window >= 2 and 2 or more class_multipliers "
                               f"and class_shifts, not {n} and {len(self.class_shifts)}")
        if (self.class_multipliers[0], self.class_shifts[0]) != (rq.multipliers, rq.shifts):
            raise CompileError(f"class 0's multipliers and shifts must be the requant's, not {self.class_multipliers[0]!r}")
        if not self.pixel_classes or not all(0 <= k < n for k in self.pixel_classes):
            raise CompileError(f"pixel_classes must be classes in [0, {n}), not {self.pixel_classes!r}")
        for m, s in zip(self.class_multipliers, self.class_shifts):
            replace(rq, multipliers=m, shifts=s)  # each class's requant must be valid

    @property
    def requants(self) -> tuple[RequantParams, ...]:
        """The requant of each pixel class (the one requant when all windows average one count)."""
        rq = self.requant
        if rq is None:
            return ()
        return tuple(replace(rq, multipliers=m, shifts=s) for m, s in zip(self.class_multipliers, self.class_shifts)) or (rq,)

    @property
    def class_bits(self) -> int:
        """Width of a pixel class (0 without classes)."""
        return (len(self.class_multipliers) - 1).bit_length() if self.pixel_classes else 0

    @property
    def product_bits(self) -> int:
        """Width of the requant's products over every class."""
        return max(r.product_bits for r in self.requants)

    def entries(self) -> tuple[tuple[RequantEntry, ...], ...]:
        """``entries()[lane][k * groups + g]``: the requant setting of each lane in beat ``g`` of a
        window of pixel class ``k``."""
        rows = [r.entries() for r in self.requants]
        return tuple(tuple(e for row in rows for e in row[lane]) for lane in range(self.lanes))
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
        return [] if self.requant is None else requant_products(Operand(self.sum_bits, True), [list(r) for r in self.entries()])

    def multiplying_lanes(self) -> int:
        return 0 if self.requant is None else self.lanes

    def class_table_bits(self) -> int:
        """The pixel class ROM: one class per output pixel of an image."""
        return len(self.pixel_classes) * self.class_bits

    def memory_bits(self) -> int:
        return self.class_table_bits() + (0 if self.requant is None else self.requant.memory_bits())

    def lut_estimate(self) -> int:
        """The requant's multipliers (the widest class's), and with pixel classes the pixel counter
        and the settings' index ``class * groups + group``."""
        if self.requant is None:
            return 0
        index = 0 if not self.pixel_classes else len(self.pixel_classes).bit_length() + (len(self.requants) * self.groups).bit_length()
        return max(r.lut_cost(self.multiplying_lanes()) for r in self.requants) + index

    def asic_counts(self, shape: Shape3, macs: int) -> list[AsicCount]:
        """One comparison (max) or addition (average) per window element, the result registers,
        the average's requant; with pixel classes, the class ROM read once per window."""
        windows = self.inputs_per_image(shape)
        width = self.bits if self.requant is None else self.sum_bits
        counts = [AsicCount("other_arithmetic", "add", (width,), windows * self.window * self.channels, self.lanes),
                  AsicCount("registers", "reg", (self.lanes * width,), windows * self.groups)]
        if self.requant is None:
            return counts
        widest = max(self.requants, key=lambda r: r.product_bits)
        table = [AsicCount("weight_memory", "mem", (self.class_table_bits(),), windows * self.class_bits)] if self.pixel_classes else []
        return counts + widest.beat_counts(windows * self.groups) + table
