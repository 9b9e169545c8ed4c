"""SlidingWindow: the windows of an image for a convolution or a pool (line buffer, no arithmetic)."""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

from ..errors import CompileError
from .base import AsicCount, Shape3, Unit
from .common import check_code, check_int

__all__ = ["WindowParams"]


@dataclass(frozen=True)
class WindowParams(Unit):
    """SlidingWindow: ``kernel_h x kernel_w`` windows of a ``channels x height x width`` image.

    Input: HWC stream, ``simd`` channels a beat (``groups = channels // simd`` beats a pixel).
    Output: for each output pixel (row-major), for each kernel tap ``(ky, kx)`` (row-major), the
    ``groups`` beats of that tap's pixel, i.e. window element ``(ky*kernel_w + kx)*channels + c``;
    taps outside the image carry ``pad_value`` (the input zero point). One input is one image.

    The unit works in *steps*: step 0 reads the rows output row 0 needs; step ``i`` (1..out_height)
    emits output row ``i-1`` while reading the rows output row ``i`` adds (the last step reads
    the rest of the image). A step ends when both its reads and emissions are done, so it takes
    ``max(reads, emissions)`` cycles; see :attr:`step_cycles`.
    """

    unit_kind = "window"

    channels: int
    height: int
    width: int
    kernel_h: int
    kernel_w: int
    stride_h: int = 1
    stride_w: int = 1
    dilation_h: int = 1
    dilation_w: int = 1
    pad_top: int = 0
    pad_left: int = 0
    pad_bottom: int = 0
    pad_right: int = 0
    pad_value: int = 0
    bits: int = 8
    signed: bool = False
    simd: int = 1

    def __post_init__(self) -> None:
        for name in ("channels", "height", "width", "kernel_h", "kernel_w", "stride_h", "stride_w",
                     "dilation_h", "dilation_w", "simd"):
            check_int(getattr(self, name), name, 1)
        check_int(self.bits, "bits", 2, 16)
        if self.channels % self.simd:
            raise CompileError(f"simd must divide channels={self.channels}, not {self.simd!r}")
        for name, extent in (("pad_top", self.extent_h), ("pad_bottom", self.extent_h),
                             ("pad_left", self.extent_w), ("pad_right", self.extent_w)):
            check_int(getattr(self, name), name, 0, extent - 1)
        check_code(self.pad_value, "pad_value", self.bits, self.signed)
        for name, size, pads, extent in (("height", self.height, self.pad_top + self.pad_bottom, self.extent_h),
                                         ("width", self.width, self.pad_left + self.pad_right, self.extent_w)):
            if size + pads < extent:
                raise CompileError(f"padded {name} must be >= the dilated kernel extent {extent}, not {size + pads!r}")

    @property
    def extent_h(self) -> int:
        """Rows a window spans: ``dilation_h * (kernel_h - 1) + 1``."""
        return self.dilation_h * (self.kernel_h - 1) + 1

    @property
    def extent_w(self) -> int:
        return self.dilation_w * (self.kernel_w - 1) + 1

    @property
    def out_height(self) -> int:
        return (self.height + self.pad_top + self.pad_bottom - self.extent_h) // self.stride_h + 1

    @property
    def out_width(self) -> int:
        return (self.width + self.pad_left + self.pad_right - self.extent_w) // self.stride_w + 1

    @property
    def groups(self) -> int:
        """Beats per pixel: ``channels // simd``."""
        return self.channels // self.simd

    @property
    def buffer_rows(self) -> int:
        """Image rows held on chip: the window's rows plus the rows the next output row adds."""
        return min(self.extent_h + self.stride_h, self.height)

    @property
    def window_beats(self) -> int:
        return self.kernel_h * self.kernel_w * self.groups

    @property
    def in_beats(self) -> int:
        """Input beats per image."""
        return self.height * self.width * self.groups

    @property
    def out_beats(self) -> int:
        """Output beats per image."""
        return self.out_height * self.out_width * self.window_beats

    def last_row_needed(self, out_row: int) -> int:
        """Last input row output row ``out_row`` reads (``height - 1`` past the last output row)."""
        if out_row >= self.out_height:
            return self.height - 1
        return min(self.height - 1, out_row * self.stride_h - self.pad_top + self.extent_h - 1)

    @property
    def step_reads(self) -> tuple[int, ...]:
        """Input beats read in each step ``0..out_height``."""
        ends = [self.last_row_needed(i) for i in range(self.out_height + 1)]
        rows = [ends[0] + 1] + [b - a for a, b in zip(ends, ends[1:])]
        return tuple(r * self.width * self.groups for r in rows)

    @property
    def step_emits(self) -> tuple[int, ...]:
        """Output beats emitted in each step ``0..out_height`` (none in step 0)."""
        return (0,) + (self.out_width * self.window_beats,) * self.out_height

    @property
    def step_cycles(self) -> tuple[int, ...]:
        return tuple(max(r, e) for r, e in zip(self.step_reads, self.step_emits))

    # -- the Unit interface ----------------------------------------------------------------------

    @property
    def in_lanes(self) -> int:
        return self.simd

    @property
    def out_lanes(self) -> int:
        return self.simd

    @property
    def out_codes(self) -> tuple[int, bool]:
        return self.bits, self.signed

    def beat_ratio(self) -> Fraction:
        return Fraction(self.out_beats, self.in_beats)

    @property
    def latency(self) -> int:
        """Cycles from issuing a buffer read to its beat on the output (the read port register, its
        copy in fabric flip-flops, then the output register)."""
        return 3

    @property
    def first_output_cycles(self) -> int:
        return self.step_reads[0] + self.latency

    def total_cycles(self, n_inputs: int) -> int:
        """Cycles for ``n_inputs`` images: the last step ends its emissions ``emits`` cycles after it starts."""
        check_int(n_inputs, "n_inputs", 1)
        last = self.step_cycles[-1]
        return n_inputs * sum(self.step_cycles) - last + self.step_emits[-1] + self.latency

    def inputs_per_image(self, shape: Shape3) -> int:
        return 1

    def image_cycles(self, shape: Shape3) -> int:
        """Cycles between the starts of consecutive images: ``sum(step_cycles)``."""
        return sum(self.step_cycles)

    def memory_bits(self) -> int:
        """The line buffer."""
        return self.buffer_rows * self.width * self.groups * self.simd * self.bits

    def asic_counts(self, shape: Shape3, macs: int) -> list[AsicCount]:
        """Every input code written to the line buffer once, every window code read once."""
        codes = (self.in_beats + self.out_beats) * self.simd
        return [AsicCount("activation_memory", "mem", (self.memory_bits(),), codes * self.bits),
                AsicCount("registers", "reg", (self.simd * self.bits,), self.out_beats)]
