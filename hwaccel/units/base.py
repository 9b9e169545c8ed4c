"""The interface every unit's params class offers: lanes, codes, cycles, costs, ASIC counts.

A unit module (``units/<unit>.py``) defines one frozen params dataclass deriving from
:class:`Unit`; the generator (``hw/<unit>.py``), the cycle model (``perf/``), the estimates and
the compiler's passes call these methods and never test a params object's type.

Conventions every class follows:

* ``@dataclass(frozen=True)``; semantic fields first, then folding (``simd``, ``pe``, ``lanes``).
  Array-like fields are stored as tuples of ``int`` (hashable, deterministic); ``__post_init__``
  converts NumPy input with :func:`~.common.int_tuple` and validates with the ``check_*``
  helpers of :mod:`.common`.
* Streams carry ``lanes`` codes a beat; lane ``i`` occupies payload bits ``[i*w, (i+1)*w)``.
  Feature maps stream in HWC order: pixels row-major, each pixel's channels in
  ``channels // simd`` beats of ``simd`` consecutive channels.
* Cycle model, exact for a run without stalls (input valid from cycle 0 on, output always ready):
  cycle 0 is the first cycle the unit's input is offered. ``first_output_cycles`` is the index of
  the cycle in which the first output beat transfers; ``total_cycles(n_inputs)`` is the index of
  the cycle in which the last output beat of ``n_inputs`` inputs transfers, plus one. Each class
  says what one input is (an image, a vector, a pixel, a beat). The benches check both exactly.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from fractions import Fraction
from typing import ClassVar

from .common import DSP_WIDTH, Product, mul_blocks

__all__ = ["Shape3", "AsicCount", "Unit"]

Shape3 = tuple[int, int, int]  # a stage's output (H, W, C)


@dataclass(frozen=True)
class AsicCount:
    """One kind of hardware of a unit and its use per inference, for the ASIC estimate.

    ``op`` is ``"mult"`` (``size = (a_bits, b_bits)``, ``uses`` multiplies), ``"add"``
    (``size = (bits,)``, additions), ``"reg"`` (``size = (bits,)`` of a register bank, ``uses``
    loads of it) or ``"mem"`` (``size = (memory bits,)``, ``uses`` bits read or written).
    ``instances`` copies are built; ``category`` is one of :data:`hwaccel.estimate.asic.CATEGORIES`.
    """

    category: str
    op: str
    size: tuple[int, ...]
    uses: float
    instances: int = 1


class Unit:
    """Base of the params classes: the defaults of a unit without multiplies or memory."""

    unit_kind: ClassVar[str]  # the registry's name of the unit ("window", "matvec", ...)
    stored_fields: ClassVar[tuple[str, ...]] = ()  # fields the manifest may store apart (MatVec weights)

    # -- streams -------------------------------------------------------------------------------

    @property
    def in_lanes(self) -> int:
        """Codes a beat on the (first) input."""
        return getattr(self, "lanes")

    @property
    def out_lanes(self) -> int:
        """Codes a beat on the output."""
        return getattr(self, "lanes")

    @property
    def out_codes(self) -> tuple[int, bool]:
        """``(bits, signed)`` of the output lanes."""
        raise NotImplementedError

    def beat_ratio(self) -> Fraction:
        """Output beats per beat on the (first) input."""
        return Fraction(1)

    # -- cycles --------------------------------------------------------------------------------

    @property
    def latency(self) -> int:
        raise NotImplementedError

    @property
    def first_output_cycles(self) -> int:
        return self.latency

    def total_cycles(self, n_inputs: int) -> int:
        raise NotImplementedError

    def input_cycles(self) -> int:
        """Cycles per unit input in steady state (the closed form's slope)."""
        return self.total_cycles(2) - self.total_cycles(1)

    def inputs_per_image(self, shape: Shape3) -> int:
        """Unit inputs (the closed form's unit of ``n_inputs``) per image; ``shape`` is the stage output."""
        h, w, _ = shape
        return h * w

    def image_cycles(self, shape: Shape3) -> int:
        """Standalone cycles between images (input always valid, output always ready) in a stage
        with output ``shape``."""
        return self.input_cycles() * self.inputs_per_image(shape)

    # -- costs ---------------------------------------------------------------------------------

    def products(self) -> list[Product]:
        """The multiplies the unit builds: ``(a, b)`` operands, ``b`` an ``int`` when constant."""
        return []

    def dsp_blocks(self, width: int = DSP_WIDTH) -> int:
        """DSP multipliers (``width`` x ``width``) Yosys maps the unit's multiplies to: what
        ``--dsp`` budgets (:func:`~.common.mul_blocks` of :meth:`products`)."""
        return sum(n * mul_blocks(a, b, width) for (a, b), n in Counter(self.products()).items())

    def mac_multipliers(self) -> int:
        """MAC multipliers built (a MatVec's live lanes)."""
        return 0

    def multiplying_lanes(self) -> int:
        """Lanes that multiply (a MatVec's live lanes, a requant's lanes, three per Add lane)."""
        return 0

    def weight_bits(self) -> int:
        """Bits of stored weights (a MatVec's ROM), which could live off chip."""
        return 0

    def memory_bits(self) -> int:
        """On-chip memory bits: line buffers, weight ROMs and input buffers, tables, FIFO storage."""
        return 0

    def lut_estimate(self) -> int:
        """Rough LUT count of the arithmetic (soft multipliers ~ a*b, adders ~ width), used only
        to honour a ``--luts`` budget."""
        return 0

    def asic_counts(self, shape: Shape3, macs: int) -> list[AsicCount]:
        """The unit's operations and accesses per inference in a stage with output ``shape`` and
        ``macs`` multiply-accumulates per inference (a FIFO: ``shape`` is its stream's)."""
        return []
