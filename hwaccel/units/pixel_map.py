"""PixelMap: output pixels read from a row buffer of input pixels (DepthToSpace, nearest Upsample).

The base of :class:`~.depth_to_space.DepthToSpaceParams` and :class:`~.upsample.UpsampleParams`:
output pixel ``(oy, ox)`` is input pixel ``((oy + crop_top) // factor_h, (ox + crop_left) //
factor_w)``, all of its channels (an upsample) or the channel group of its phase
``((oy + crop_top) % factor_h, (ox + crop_left) % factor_w)`` (a DepthToSpace). No arithmetic:
a line buffer and a reader, with the SlidingWindow's steps and cycle model.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import ClassVar

from ..errors import CompileError
from .base import AsicCount, Shape3, Unit
from .common import check_int

__all__ = ["PixelMapParams"]


@dataclass(frozen=True)
class PixelMapParams(Unit):
    """Output ``out_height x out_width`` pixels of ``channels`` codes from an input of ``height x
    width`` pixels of :attr:`in_channels` codes (HWC streams, ``simd`` codes a beat).

    ``phased`` (a class attribute) says the input holds ``factor_h * factor_w`` phases of
    ``channels`` codes each, phase ``py * factor_w + px`` first (DepthToSpace); else every output
    pixel copies all of its input pixel's channels (nearest Upsample). One input is one image.

    Steps as in :class:`~.window.WindowParams`: step 0 reads the rows output row 0 needs; step
    ``i`` (1..out_height) emits output row ``i-1`` while reading the rows output row ``i`` adds
    (the last step reads the rest of the image); a step takes ``max(reads, emits)`` cycles.
    """

    phased: ClassVar[bool] = False

    channels: int
    height: int
    width: int
    factor_h: int
    factor_w: int
    out_height: int
    out_width: int
    crop_top: int = 0
    crop_left: int = 0
    bits: int = 8
    signed: bool = False
    simd: int = 1

    def __post_init__(self) -> None:
        for name in ("channels", "height", "width", "factor_h", "factor_w", "out_height", "out_width", "simd"):
            check_int(getattr(self, name), name, 1)
        check_int(self.bits, "bits", 2, 16)
        check_int(self.crop_top, "crop_top", 0, self.factor_h - 1)
        check_int(self.crop_left, "crop_left", 0, self.factor_w - 1)
        check_int(self.out_height, "out_height", 1, self.height * self.factor_h - self.crop_top)
        check_int(self.out_width, "out_width", 1, self.width * self.factor_w - self.crop_left)
        if self.channels % self.simd:
            raise CompileError(f"simd must divide channels={self.channels}, not {self.simd!r}")

    # -- geometry --------------------------------------------------------------------------------

    @property
    def phases(self) -> int:
        """Channel groups of ``channels`` per input pixel: ``factor_h * factor_w`` or 1."""
        return self.factor_h * self.factor_w if self.phased else 1

    @property
    def in_channels(self) -> int:
        return self.channels * self.phases

    @property
    def groups(self) -> int:
        """Output beats per pixel."""
        return self.channels // self.simd

    @property
    def in_groups(self) -> int:
        """Input beats per pixel."""
        return self.in_channels // self.simd

    def source(self, oy: int, ox: int) -> tuple[int, int, int]:
        """``(row, column, first input beat of the pixel's codes)`` of output pixel ``(oy, ox)``."""
        (r, py), (c, px) = divmod(oy + self.crop_top, self.factor_h), divmod(ox + self.crop_left, self.factor_w)
        phase = py * self.factor_w + px if self.phased else 0
        return r, c, phase * self.groups

    def last_row_needed(self, out_row: int) -> int:
        """Last input row output row ``out_row`` reads (``height - 1`` past the last output row)."""
        return self.height - 1 if out_row >= self.out_height else (out_row + self.crop_top) // self.factor_h

    @property
    def step_reads(self) -> tuple[int, ...]:
        """Input beats read in each step ``0..out_height``."""
        ends = [self.last_row_needed(i) for i in range(self.out_height + 1)]
        rows = [ends[0] + 1] + [b - a for a, b in zip(ends, ends[1:])]
        return tuple(r * self.width * self.in_groups for r in rows)

    @property
    def step_emits(self) -> tuple[int, ...]:
        """Output beats emitted in each step ``0..out_height`` (none in step 0)."""
        return (0,) + (self.out_width * self.groups,) * self.out_height

    @property
    def step_cycles(self) -> tuple[int, ...]:
        return tuple(max(r, e) for r, e in zip(self.step_reads, self.step_emits))

    @property
    def buffer_rows(self) -> int:
        """Rows held: in step ``i`` the row output row ``i - 1`` reads and every row read after it."""
        span = max(self.last_row_needed(i) - self.last_row_needed(i - 1) + 1 for i in range(1, self.out_height + 1))
        return min(span, self.height)

    @property
    def in_beats(self) -> int:
        return self.height * self.width * self.in_groups

    @property
    def out_beats(self) -> int:
        return self.out_height * self.out_width * self.groups

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
        """The SlidingWindow's three registers: the read port, its copy, the output."""
        return 3

    @property
    def first_output_cycles(self) -> int:
        return self.step_reads[0] + self.latency

    def total_cycles(self, n_inputs: int) -> int:
        """Cycles for ``n_inputs`` images: the last step ends its emissions ``emits`` cycles after it starts."""
        check_int(n_inputs, "n_inputs", 1)
        return n_inputs * sum(self.step_cycles) - self.step_cycles[-1] + self.step_emits[-1] + self.latency

    def inputs_per_image(self, shape: Shape3) -> int:
        return 1

    def image_cycles(self, shape: Shape3) -> int:
        return sum(self.step_cycles)

    def memory_bits(self) -> int:
        """The line buffer."""
        return self.buffer_rows * self.width * self.in_groups * self.simd * self.bits

    def lut_estimate(self) -> int:
        """The read address adders (row, column, phase, group)."""
        return 4 * max(1, (self.buffer_rows * self.width * self.in_groups).bit_length())

    def asic_counts(self, shape: Shape3, macs: int) -> list[AsicCount]:
        """Every input code written to the line buffer once, every output code read once."""
        codes = (self.in_beats + self.out_beats) * self.simd
        return [AsicCount("activation_memory", "mem", (self.memory_bits(),), codes * self.bits),
                AsicCount("registers", "reg", (self.simd * self.bits,), self.out_beats)]
