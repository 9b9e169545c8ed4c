"""Regroup: a width converter between two stream lane counts, vector by vector, values unchanged.

It lets a unit's lanes differ from its neighbours' (a MatVec's ``simd`` from the window's lanes,
its ``pe`` from the requant's): the folding search then balances layers freely.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from math import gcd

from .base import AsicCount, Shape3, Unit
from .common import check_int, ceil_div

__all__ = ["RegroupParams"]


@dataclass(frozen=True)
class RegroupParams(Unit):
    """Regroup of vectors of ``length`` ``bits``-bit codes from ``lanes_in`` to ``lanes_out`` lanes.

    One input is one vector: ``ceil(length / lanes_in)`` input beats, lanes past ``length`` in
    the last one ignored (a MatVec's last output fold); ``ceil(length / lanes_out)`` output
    beats of the elements in order, lanes past ``length`` in the last one 0 (a MatVec's last
    input fold). No element crosses a vector boundary. In a stage it carries one vector per
    output pixel (a window of ``kh*kw*C`` codes before a MatVec, ``out_features`` after it), or
    ``vectors`` (a depthwise window's ``kh*kw`` taps of ``C`` codes each).

    Hardware (``hw/regroup.py``): a buffer of :attr:`capacity` elements with a fill count and the
    output register. ``i.ready`` is ``fill + n_in <= capacity`` (registers only; ``n_in`` the
    codes the next input beat brings); a beat that transfers is appended at the clock edge. The
    output register loads the next output beat's ``n_out`` codes from the buffer's head at an
    edge where it is free (empty or leaving) and ``fill >= n_out`` (codes that arrive in the same
    edge do not count): a beat transferring in cycle ``t`` can leave in cycle ``t + 2`` at the
    earliest. With this capacity the unit takes an input beat and gives an output beat every
    cycle whenever its neighbours allow: ``max(input beats, output beats)`` cycles per vector.
    """

    unit_kind = "regroup"

    length: int
    lanes_in: int
    lanes_out: int
    bits: int = 8
    signed: bool = False
    vectors: int = 1  # vectors per pixel of the stage output (a depthwise window's taps)

    def __post_init__(self) -> None:
        check_int(self.length, "length", 1)
        check_int(self.vectors, "vectors", 1)
        check_int(self.lanes_in, "lanes_in", 1, self.length)
        check_int(self.lanes_out, "lanes_out", 1, self.length)
        check_int(self.bits, "bits", 1, 64)

    # -- the vector's beats ----------------------------------------------------------------------

    @property
    def in_beats(self) -> int:
        """Input beats per vector."""
        return ceil_div(self.length, self.lanes_in)

    @property
    def out_beats(self) -> int:
        """Output beats per vector."""
        return ceil_div(self.length, self.lanes_out)

    @property
    def in_counts(self) -> tuple[int, ...]:
        """Codes each input beat of a vector brings."""
        return tuple(min(self.lanes_in, self.length - j * self.lanes_in) for j in range(self.in_beats))

    @property
    def out_counts(self) -> tuple[int, ...]:
        """Codes each output beat of a vector takes."""
        return tuple(min(self.lanes_out, self.length - k * self.lanes_out) for k in range(self.out_beats))

    @property
    def capacity(self) -> int:
        """Codes the buffer holds: ``lanes_in + lanes_out + min - gcd`` of the two lane counts, the
        least with which a register-only ``i.ready`` sustains a beat a cycle on both sides."""
        a, b = self.lanes_in, self.lanes_out
        return a + b + min(a, b) - gcd(a, b)

    @property
    def needs(self) -> tuple[int, ...]:
        """Per output beat of a vector, the input beat of the vector that brings its last code."""
        return tuple(ceil_div(min((k + 1) * self.lanes_out, self.length), self.lanes_in) - 1 for k in range(self.out_beats))

    # -- the Unit interface ----------------------------------------------------------------------

    @property
    def in_lanes(self) -> int:
        return self.lanes_in

    @property
    def out_lanes(self) -> int:
        return self.lanes_out

    @property
    def out_codes(self) -> tuple[int, bool]:
        return self.bits, self.signed

    def beat_ratio(self) -> Fraction:
        return Fraction(self.out_beats, self.in_beats)

    @property
    def latency(self) -> int:
        """Cycles from an input beat's transfer to the earliest output beat it completes."""
        return 2

    @property
    def first_output_cycles(self) -> int:
        return self.needs[0] + self.latency

    def total_cycles(self, n_inputs: int) -> int:
        """``n_inputs`` vectors: output beat ``k`` loads one cycle after the input beat it needs
        and after output beat ``k - 1``; input never waits for room (the capacity's guarantee)."""
        check_int(n_inputs, "n_inputs", 1)
        slack = max(need - k for k, need in enumerate(self.needs))
        extra = max(0, (n_inputs - 1) * (self.in_beats - self.out_beats))
        return n_inputs * self.out_beats + self.latency + slack + extra

    def input_cycles(self) -> int:
        return max(self.in_beats, self.out_beats)

    def inputs_per_image(self, shape: Shape3) -> int:
        h, w, _ = shape
        return h * w * self.vectors

    def memory_bits(self) -> int:
        """The buffer and the output register."""
        return (self.capacity + self.lanes_out) * self.bits

    def lut_estimate(self) -> int:
        """A multiplexer per buffer slot and bit over its shifted and written sources (about
        ``lanes_in`` write offsets and two shifts), and the output lanes' zero mask."""
        return self.capacity * self.bits * ceil_div(self.lanes_in + 2, 4) + self.lanes_out * self.bits

    def asic_counts(self, shape: Shape3, macs: int) -> list[AsicCount]:
        """The buffer loaded on every input and output beat, the output register on every output beat."""
        vectors = self.inputs_per_image(shape)
        return [AsicCount("activation_memory", "reg", (self.capacity * self.bits,), vectors * (self.in_beats + self.out_beats)),
                AsicCount("registers", "reg", (self.lanes_out * self.bits,), vectors * self.out_beats)]
