"""Depthwise: a depthwise convolution's multiply-accumulate (one channel per output, ``lanes`` a cycle).

It reads the SlidingWindow's stream as it is (per output pixel, each kernel tap's channels in
beats of ``lanes``) and multiplies every code by its own channel's weight of that tap: ``lanes``
multipliers, each busy every cycle, where a block-diagonal MatVec over the same window would
visit ``C`` times the weights (its zero tiles skipped) with lanes mostly idle.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import numpy as np

from ..errors import CompileError
from ..fixedpoint import accumulator_bits, bias_terms
from .base import AsicCount, Shape3, Unit
from .common import Operand, Product, ceil_div, check_code, check_int, int_tuple

__all__ = ["DEPTHWISE_LATENCY", "DepthwiseParams"]

# issue -> input register and ROM address, ROM read and input copy, ROM read register and input
# copy, operands, products, product copies, accumulators, output queue
DEPTHWISE_LATENCY = 8


@dataclass(frozen=True)
class DepthwiseParams(Unit):
    """Depthwise: ``acc[c] = bias[c] + sum_k (x[k][c] - x_zero_point) * w[c][k]``, raw accumulators out.

    Input: per pixel, ``taps`` kernel positions of ``channels`` codes each, in ``(tap, channel)``
    order, ``lanes`` channels a beat (``groups = ceil(channels / lanes)`` beats a tap; the SlidingWindow's
    output, or a Regroup's, whose last beat of a tap may hold fewer channels, its other lanes
    ignored). Output: the pixel's ``channels`` signed ``acc_bits`` accumulators in ``groups`` beats
    of ``lanes`` (lanes past ``channels`` in the last one 0); beat ``g`` leaves when the last tap's
    beat ``g`` is consumed. One input is one pixel: ``taps * groups`` beats, one a cycle.

    ``weights`` (``channels x taps``) are signed ``bits_w`` codes. A lane whose channels' weights
    are all zero gets no multiplier (pruning); every beat takes its cycle.
    """

    unit_kind = "depthwise"
    stored_fields = ("weights",)

    channels: int
    taps: int
    weights: tuple
    bias: Any = None  # stored as a tuple of ``channels`` int32 codes (zeros when ``None``)
    lanes: int = 1
    bits_x: int = 8
    signed_x: bool = False
    x_zero_point: int = 0
    bits_w: int = 8

    def __post_init__(self) -> None:
        check_int(self.channels, "channels", 1)
        check_int(self.taps, "taps", 1)
        check_int(self.lanes, "lanes", 1, self.channels)
        check_int(self.bits_x, "bits_x", 2, 16)
        check_int(self.bits_w, "bits_w", 2, 16)
        check_code(self.x_zero_point, "x_zero_point", self.bits_x, self.signed_x)
        weights = int_tuple(self.weights, "weights", 2)
        if np.shape(weights) != (self.channels, self.taps):
            raise CompileError(f"weights must have shape {(self.channels, self.taps)}, not {np.shape(weights)!r}")
        for row in weights:
            for w in row:
                check_code(w, "weight", self.bits_w, True)
        object.__setattr__(self, "weights", weights)
        bias = (0,) * self.channels if self.bias is None else int_tuple(self.bias, "bias")
        if len(bias) != self.channels or any(not -(1 << 31) <= b < 1 << 31 for b in bias):
            raise CompileError(f"bias must be {self.channels} int32 codes, not {self.bias!r}")
        object.__setattr__(self, "bias", bias)

    @property
    def groups(self) -> int:
        """Beats per tap: ``ceil(channels / lanes)`` (lanes past ``channels`` in the last one idle)."""
        return ceil_div(self.channels, self.lanes)

    @property
    def index_bits(self) -> int:
        """Bits of a stored weight: ``bits_w`` (the manifest's ``.mem`` files)."""
        return self.bits_w

    @property
    def acc_bits(self) -> int:
        """The contract width for ``taps`` products plus the bias (``fixedpoint.accumulator_bits``)."""
        terms = self.taps + bias_terms(np.array(self.bias, dtype=np.int64), self.bits_x, self.bits_w)
        return accumulator_bits(self.bits_x, self.bits_w, terms)

    @property
    def pixel_cycles(self) -> int:
        """Beats (cycles) per pixel: ``taps * groups``."""
        return self.taps * self.groups

    def beat_weight(self, t: int, lane: int) -> int:
        """Weight of ``lane`` in beat ``t`` of a pixel (tap ``t // groups``, channel group ``t % groups``)."""
        k, g = divmod(t, self.groups)
        channel = g * self.lanes + lane
        return self.weights[channel][k] if channel < self.channels else 0

    def channel_bias(self, channel: int) -> int:
        """The bias of ``channel``; 0 past ``channels`` (an idle lane of the last beat)."""
        return self.bias[channel] if channel < self.channels else 0

    @property
    def live_lanes(self) -> tuple[int, ...]:
        """Lanes with a non-zero weight in some beat: the multipliers built."""
        w = np.zeros((self.groups * self.lanes, self.taps), dtype=np.int64)
        w[:self.channels] = self.weights
        return tuple(int(lane) for lane in np.flatnonzero(w.reshape(self.groups, self.lanes, self.taps).any(axis=(0, 2))))

    # -- the Unit interface ----------------------------------------------------------------------

    @property
    def out_codes(self) -> tuple[int, bool]:
        """Signed ``acc_bits`` accumulators."""
        return self.acc_bits, True

    def beat_ratio(self) -> Fraction:
        return Fraction(1, self.taps)

    @property
    def latency(self) -> int:
        return DEPTHWISE_LATENCY

    @property
    def first_output_cycles(self) -> int:
        """The first pixel's beat 0 of the last tap issues in cycle ``(taps - 1) * groups``."""
        return (self.taps - 1) * self.groups + self.latency

    def total_cycles(self, n_inputs: int) -> int:
        check_int(n_inputs, "n_inputs", 1)
        return n_inputs * self.pixel_cycles + self.latency

    def input_cycles(self) -> int:
        return self.pixel_cycles

    def products(self) -> list[Product]:
        """One ``(bits_x + 1) x bits_w`` signed multiply per live lane."""
        return [(Operand(self.bits_x + 1, True), Operand(self.bits_w, True))] * self.multiplying_lanes()

    def mac_multipliers(self) -> int:
        """The live lanes; none with one tap, a per-channel scale (a BatchNormalization on codes) that
        accumulates nothing, like a requant's multiplier."""
        return len(self.live_lanes) if self.taps > 1 else 0

    def multiplying_lanes(self) -> int:
        return len(self.live_lanes)

    def weight_bits(self) -> int:
        """The weight ROM: one weight per live lane and beat of a pixel."""
        return self.pixel_cycles * len(self.live_lanes) * self.bits_w

    def memory_bits(self) -> int:
        """The weight ROM (the ``channels`` accumulators are flip-flops)."""
        return self.weight_bits()

    def lut_estimate(self) -> int:
        return len(self.live_lanes) * ((self.bits_x + 1) * self.bits_w + self.acc_bits)

    def asic_counts(self, shape: Shape3, macs: int) -> list[AsicCount]:
        """``macs`` multiplies of ``(bits_x + 1) x bits_w`` bits and additions of ``acc_bits`` bits;
        the weight ROM read once per beat; operand, product and accumulator registers every beat
        (the accumulators rotate through ``groups`` registers a lane)."""
        h, w, _ = shape
        pixels, lanes, rom = h * w, len(self.live_lanes), self.weight_bits()
        beats = pixels * self.pixel_cycles
        written = self.lanes * (self.bits_x + self.bits_w + self.acc_bits * (1 + self.groups))
        return [AsicCount("multiply", "mult", (self.bits_x + 1, self.bits_w), macs, lanes),
                AsicCount("accumulate", "add", (self.acc_bits,), macs, lanes),
                AsicCount("weight_memory", "mem", (rom,), pixels * rom),
                AsicCount("registers", "reg", (written,), beats),
                AsicCount("registers", "reg", (self.lanes * self.acc_bits,), pixels * self.groups)]
