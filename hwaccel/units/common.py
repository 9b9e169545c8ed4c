"""What every unit module shares: field checks, operand shapes of multiplies, DSP block counts.

Field checks raise :class:`~hwaccel.errors.CompileError` reading "X must be Y, not {value!r}".
An :class:`Operand` is the ``(width, signed)`` of a value in the generated hardware: the shape
Amaranth gives it, computed here by Amaranth's own rules (:func:`const`, :func:`sub`,
:func:`add`, :func:`mul`, :func:`unify`) so that nothing outside ``hw/`` imports Amaranth.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from ..errors import CompileError
from ..fixedpoint import code_range, signed_bits

__all__ = ["int_tuple", "check_int", "check_code", "ceil_div", "code_range", "signed_bits", "COPY_GROUP_LANES",
           "Operand", "Product", "const", "span", "sub", "add", "mul", "unify", "DSP_WIDTH", "mul_blocks"]

# Lanes served by one copy of a register that would otherwise fan out across the die (a MatVec's ROM
# address, input fields and accumulate control, a Pool's input control); the copies are kept apart
# in synthesis, so that place and route can put each by its lanes.
COPY_GROUP_LANES = 8


def int_tuple(values: Any, name: str, ndim: int = 1) -> tuple:
    """``values`` (sequence or NumPy array of integers) as nested tuples of ``int`` with ``ndim`` levels."""
    arr = np.asarray(values)
    if arr.ndim != ndim or (arr.size and arr.dtype.kind not in "iub"):
        raise CompileError(f"{name} must be a {ndim}-d integer array, not {values!r}")
    return tuple(arr.astype(np.int64).tolist()) if ndim == 1 else tuple(tuple(row) for row in arr.astype(np.int64).tolist())


def check_int(value: Any, name: str, low: int, high: int | None = None) -> None:
    """Raise unless ``value`` is an ``int`` (not a bool) in ``[low, high]``."""
    ok = isinstance(value, int) and not isinstance(value, bool) and value >= low and (high is None or value <= high)
    if not ok:
        bound = f">= {low}" if high is None else f"in [{low}, {high}]"
        raise CompileError(f"{name} must be an integer {bound}, not {value!r}")


def check_code(value: int, name: str, bits: int, signed: bool) -> None:
    """Raise unless ``value`` is a ``bits``-bit signed or unsigned code."""
    lo, hi = code_range(bits, signed)
    if not (isinstance(value, int) and lo <= value <= hi):
        raise CompileError(f"{name} must be a {bits}-bit {'signed' if signed else 'unsigned'} code in [{lo}, {hi}], not {value!r}")


def ceil_div(a: int, b: int) -> int:
    return -(-a // b)


class Operand(NamedTuple):
    """The ``(width, signed)`` of a value in hardware (an Amaranth ``Shape``, without Amaranth)."""

    width: int
    signed: bool


Product = tuple[Operand, "Operand | int"]  # the operands of a multiply; an ``int`` is a constant


def const(value: int) -> Operand:
    """The operand of an integer constant (Amaranth's ``Const(value).shape()``)."""
    return Operand(max(value.bit_length(), 1) if value >= 0 else (-value - 1).bit_length() + 1, value < 0)


def span(values: list[int]) -> Operand:
    """The shortest operand holding every value of ``values`` and 0 (unsigned unless one is negative)."""
    lo, hi = min(values + [0]), max(values + [0])
    return Operand(signed_bits(lo, hi), True) if lo < 0 else Operand(max(hi.bit_length(), 1), False)


def unify(*ops: Operand) -> Operand:
    """The smallest operand holding all of ``ops`` (Amaranth's ``Shape._unify``: a ``Mux``)."""
    unsigned_width = max((o.width for o in ops if not o.signed), default=0)
    if not any(o.signed for o in ops):
        return Operand(unsigned_width, False)
    return Operand(max(max(o.width for o in ops if o.signed), unsigned_width + 1), True)


def add(a: Operand, b: Operand) -> Operand:
    """The operand of ``a + b``."""
    u = unify(a, b)
    return Operand(u.width + 1, u.signed)


def sub(a: Operand, b: Operand) -> Operand:
    """The operand of ``a - b`` (always signed)."""
    return Operand(unify(a, b).width + 1, True)


def mul(a: Operand, b: Operand) -> Operand:
    """The operand of ``a * b``."""
    return Operand(a.width + b.width, a.signed or b.signed)


DSP_WIDTH = 18  # signed operand width of the DSP multipliers counted (ECP5 MULT18X18D, iCE40 is 16)


def mul_blocks(a: Operand, b: Operand | int, width: int = DSP_WIDTH) -> int:
    """DSP multipliers of ``width`` x ``width`` signed operands that Yosys maps ``a * b`` to: none
    for a constant 0 or power of two (a shift), otherwise ``ceil(a/width) * ceil(b/width)`` of the
    operand widths as signed (an unsigned operand beside a signed one gains a bit; a constant has
    its shortest width); none for a product narrower than 2 x 2 (Yosys keeps it in logic)."""
    if isinstance(b, int):
        if b == 0 or (b > 0 and b & (b - 1) == 0):
            return 0
        b = Operand(signed_bits(b, b), True) if b < 0 or a.signed else Operand(b.bit_length(), False)
    widths = [s.width + int(not s.signed and (a.signed or b.signed)) for s in (a, b)]
    if min(widths) < 2:
        return 0
    return ceil_div(widths[0], width) * ceil_div(widths[1], width)
