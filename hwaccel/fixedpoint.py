"""The numeric contract (DESIGN.md section 1) in code: every engine calls this, nothing re-derives it.

Definitions
-----------
Codes ``q`` encode reals ``r = s * (q - z)``. ``round_shift(x, n)`` is the exact ``round(x * 2**-n)``:

* ``half_even``: ties to the even integer (ONNX QuantizeLinear, ``np.rint``).
* ``half_up``: ``floor(x * 2**-n + 1/2)``, ties toward +inf, i.e. what hardware computes by adding
  ``2**(n-1)`` and shifting right arithmetically.

``n <= 0`` is the exact left shift ``x * 2**-n``.

Accumulator width. Operands are zero-point-offset codes: ``x - z_x`` with ``x`` and ``z_x`` in the
``bits_x`` code range, so ``|x - z_x| <= 2**bits_x - 1`` (same for weights, whatever the signedness
and zero points). Hence ``|acc| <= K * (2**bits_x - 1) * (2**bits_w - 1) <= 2**(B-1) - 1`` with
``B = bits_x + bits_w + ceil(log2 K) + 1``: an accumulator of ``B`` signed bits never overflows.
A bias counts as :func:`bias_terms` extra terms (one term when ``|bias|`` is at most one product's
bound); :func:`accumulator_range` gives the exact attainable range.

Requantization ``y = clamp(z + round_shift(acc * M0, n), lo, hi)``. :func:`quantize_multiplier`
gives ``r' = M0 * 2**-n`` with ``|r' - r| <= |r| * 2**-mult_bits``. What DESIGN's "differs from exact
real rescaling by at most the final rounding" can mean exactly: with ``y* = clamp(z + round(acc * r))``
(exact rational arithmetic, same rounding mode) and ``T = max(hi - z, z - lo) + 1``, for every
integer ``acc``:

1. ``y != y*`` only if ``|acc * r| < 2T`` and ``acc * r`` lies within ``|acc * r| * 2**-mult_bits`` of
   a rounding boundary ``k + 1/2`` (a near-tie);
2. if ``2**mult_bits >= 2T`` then ``|y - y*| <= 1``;
3. if ``r`` has at most ``mult_bits`` significant bits then ``r' == r`` and ``y == y*``.

Bit-exact equality with ``y*`` for *all* ``acc`` is impossible with fewer bits than ``r`` has: an
exact tie of ``acc * r`` resolves differently under any perturbation of ``r``.
:func:`multiplier_bits_for_exactness` returns the width making the near-tie window at most
``2**-tie_bits`` (16 bits for 8-bit outputs at any zero point). The ``pow2`` scheme (``M0 = 1``) has
relative multiplier error up to 1/3 and none of these guarantees. Proofs: the rounding is monotone
and constant between boundaries (1), clamping is 1-Lipschitz and for ``|acc * r| >= 2T`` both values
saturate to the same bound (2).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction
from typing import Any, Callable

import numpy as np

from .errors import QuantizationError

__all__ = [
    "CodeRange", "QuantParams", "code_range", "ROUNDING_MODES", "SCHEMES", "DEFAULT_MULT_BITS", "DEFAULT_TIE_BITS", "round_shift",
    "accumulator_bits", "accumulator_range", "signed_bits", "bias_terms", "quantize_multiplier",
    "quantize_multipliers", "pow2_multiplier", "multiplier_bits_for_exactness", "Requant",
    "activation_clamp", "quantize", "dequantize", "quantize_bias", "choose_qparams",
    "symmetric_weight_scale", "build_lut",
]

ROUNDING_MODES = ("half_even", "half_up")
SCHEMES = ("affine", "pow2")
DEFAULT_MULT_BITS = 16
DEFAULT_TIE_BITS = 7
ACTIVATIONS = ("none", "relu", "relu6", "clip")


def code_range(bits: int, signed: bool) -> tuple[int, int]:
    """``(min, max)`` code of a ``bits``-bit signed or unsigned code."""
    return (-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if signed else (0, (1 << bits) - 1)


class CodeRange:
    """``qmin``/``qmax`` of ``bits``-bit signed or unsigned codes, for classes with those two fields."""

    bits: int
    signed: bool

    @property
    def qmin(self) -> int:
        return code_range(self.bits, self.signed)[0]

    @property
    def qmax(self) -> int:
        return code_range(self.bits, self.signed)[1]


@dataclass(frozen=True, eq=False)
class QuantParams(CodeRange):
    """Fixed-point encoding of a tensor: ``real = scale * (code - zero_point)``.

    ``scale`` and ``zero_point`` are 1-D arrays: one entry (per-tensor) or one per channel
    along ``axis`` (per-channel).
    """

    scale: np.ndarray
    zero_point: np.ndarray
    bits: int = 8
    signed: bool = True
    axis: int | None = None

    @property
    def per_channel(self) -> bool:
        return self.axis is not None


def _check_rounding(rounding: str) -> None:
    if rounding not in ROUNDING_MODES:
        raise QuantizationError(f"rounding must be one of {ROUNDING_MODES}, not {rounding!r}")


def _as_int64(x: Any, name: str) -> np.ndarray:
    arr = np.asarray(x)
    if arr.dtype.kind not in "iub":
        raise QuantizationError(f"{name} must be an integer array, not {arr.dtype}")
    if arr.dtype == np.uint64 and arr.size and int(arr.max()) >= 1 << 63:
        raise QuantizationError(f"{name} must fit in int64, not {int(arr.max())!r}")
    return arr.astype(np.int64)


def _max_bits(x: np.ndarray) -> int:
    """Bit length of the largest magnitude in an int64 array (-2**63 counts as 64)."""
    if x.size == 0:
        return 0
    return max(int(x.max()).bit_length(), (-int(x.min())).bit_length())


def round_shift(x: Any, shift: Any, rounding: str = "half_even") -> np.ndarray:
    """Exact ``round(x * 2**-shift)`` of an integer array, as int64 of the broadcast shape.

    Parameters
    ----------
    x
        Integer array (converted to int64).
    shift
        Integer or integer array broadcastable to ``x``; ``shift <= 0`` shifts left (exactly; a
        result outside int64 raises :class:`QuantizationError`).
    rounding
        ``"half_even"`` or ``"half_up"`` (see the module docstring).
    """
    _check_rounding(rounding)
    x, s = np.broadcast_arrays(_as_int64(x, "x"), _as_int64(shift, "shift"))
    left = np.clip(-s, 0, 63)
    if np.any((s < 0) & ((x << left) >> left != x)) or np.any((s < -63) & (x != 0)):
        raise QuantizationError(f"x * 2**{int(-s.min())} must fit in int64, not overflow it")
    right = np.clip(s, 1, 63)
    q = x >> right  # floor(x / 2**right)
    rem = x - (q << right)  # in [0, 2**right)
    half = np.int64(1) << (right - 1)
    if rounding == "half_up":
        up = rem >= half
    else:
        up = (rem > half) | ((rem == half) & ((q & 1) == 1))
    out = np.where(s <= 0, x << left, q + up)
    return np.where(s >= 64, 0, out).astype(np.int64)  # |x| <= 2**63 so |x * 2**-s| <= 1/2: rounds to 0


# -- accumulator width -------------------------------------------------------------------------


def _check_bits(bits: int, name: str, low: int = 1, high: int = 32) -> None:
    if not isinstance(bits, (int, np.integer)) or not low <= bits <= high:
        raise QuantizationError(f"{name} must be an integer in [{low}, {high}], not {bits!r}")



def accumulator_bits(bits_x: int, bits_w: int, terms: int) -> int:
    """DESIGN's exact accumulator width ``bits_x + bits_w + ceil(log2(terms)) + 1``.

    ``terms`` counts products; add :func:`bias_terms` for a bias. Never overflows for operands
    offset by any in-range zero point (proof in the module docstring).
    """
    _check_bits(bits_x, "bits_x")
    _check_bits(bits_w, "bits_w")
    if not isinstance(terms, (int, np.integer)) or terms < 1:
        raise QuantizationError(f"terms must be a positive integer, not {terms!r}")
    return int(bits_x + bits_w + (int(terms) - 1).bit_length() + 1)


def accumulator_range(
    bits_x: int, bits_w: int, terms: int, *, signed_x: bool = True, signed_w: bool = True,
    x_zero_point: int = 0, w_zero_point: int = 0, bias: tuple[int, int] = (0, 0),
) -> tuple[int, int]:
    """Exact ``(min, max)`` of ``sum_k (x_k - x_zero_point) * (w_k - w_zero_point) + b`` over all codes.

    ``b`` ranges over the closed interval ``bias``. Both bounds are attained.
    """
    accumulator_bits(bits_x, bits_w, terms)  # validates
    xr = [c - x_zero_point for c in code_range(bits_x, signed_x)]
    wr = [c - w_zero_point for c in code_range(bits_w, signed_w)]
    corners = [a * b for a in xr for b in wr]
    return terms * min(corners) + int(bias[0]), terms * max(corners) + int(bias[1])


def signed_bits(lo: int, hi: int) -> int:
    """Smallest ``B`` with ``-2**(B-1) <= lo`` and ``hi <= 2**(B-1) - 1``."""
    return max(int(hi).bit_length(), (-int(lo) - 1).bit_length() if lo < 0 else 0) + 1


def bias_terms(bias: Any, bits_x: int, bits_w: int) -> int:
    """How many product-sized terms a bias is worth: ``ceil(max|bias| / ((2**bits_x-1)(2**bits_w-1)))``."""
    b = _as_int64(bias, "bias")
    if b.size == 0:
        return 0
    unit = ((1 << bits_x) - 1) * ((1 << bits_w) - 1)
    return -(-max(abs(int(b.max())), abs(int(b.min()))) // unit)


# -- multipliers -------------------------------------------------------------------------------


def _check_real(real: float) -> Fraction:
    if not math.isfinite(real):
        raise QuantizationError(f"real multiplier must be finite, not {real!r}")
    return Fraction(float(real))


def quantize_multiplier(real: float, mult_bits: int = DEFAULT_MULT_BITS) -> tuple[int, int]:
    """``(M0, n)`` with ``M0 * 2**-n ~= real`` and ``2**(mult_bits-1) <= |M0| < 2**mult_bits``.

    ``M0 = round_half_even(real * 2**n)`` exactly, so ``|M0 * 2**-n - real| <= |real| * 2**-mult_bits``.
    ``real = 0`` gives ``(0, 0)``; a negative ``real`` (e.g. Sub) gives a negative ``M0``.
    """
    _check_bits(mult_bits, "mult_bits", 1, 62)
    f = _check_real(real)
    if f == 0:
        return 0, 0
    n = mult_bits - math.frexp(abs(float(real)))[1]  # |real| * 2**n in [2**(mult_bits-1), 2**mult_bits)
    m0 = round(abs(f) * Fraction(2) ** n)
    if m0 == 1 << mult_bits:  # rounded up to the next power of two
        m0, n = m0 >> 1, n - 1
    return (m0 if f > 0 else -m0), n


def quantize_multipliers(reals: Any, mult_bits: int = DEFAULT_MULT_BITS, common_shift: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Vectorised :func:`quantize_multiplier`: int64 arrays ``(M0, n)``, one entry per real.

    With ``common_shift`` all entries share the shift ``n`` of the largest ``|real|`` (Eltwise Add:
    each input to a common scale by its own multiplier); every error is then at most half a step,
    ``2**-(n+1) <= max|real| * 2**(1-mult_bits)``.
    """
    values = np.atleast_1d(np.asarray(reals, dtype=np.float64)).ravel()
    pairs = [quantize_multiplier(float(r), mult_bits) for r in values]
    if common_shift and values.size:
        n = pairs[int(np.argmax(np.abs(values)))][1]
        pairs = [(round(_check_real(r) * Fraction(2) ** n), n) for r in values]
    return np.array([p[0] for p in pairs], np.int64), np.array([p[1] for p in pairs], np.int64)


def pow2_multiplier(real: float) -> tuple[int, int]:
    """``(±1, n)`` with ``2**-n`` the power of two nearest to ``|real|`` (ties up); ``(0, 0)`` for 0.

    Relative error ``|2**-n - |real|| <= |real| / 3``.
    """
    f = _check_real(real)
    if f == 0:
        return 0, 0
    mant, exp = math.frexp(abs(float(real)))  # |real| = mant * 2**exp, mant in [0.5, 1)
    n = -exp if mant >= 0.75 else 1 - exp
    return (1 if f > 0 else -1), n


def multiplier_bits_for_exactness(lo: int, hi: int, zero_point: int, tie_bits: int = DEFAULT_TIE_BITS, acc_bits: int | None = None) -> int:
    """Smallest ``mult_bits`` with ``2**mult_bits >= 2T * 2**tie_bits``, ``T = max(hi - z, z - lo) + 1``.

    Then the requantized code is within 1 of the exactly rescaled one and differs only when
    ``acc * r`` is within ``2**-tie_bits`` of a rounding tie (module docstring). With ``acc_bits``
    also checks that ``acc * M0`` fits int64 (``acc_bits + mult_bits <= 63``).
    """
    if not lo <= hi:
        raise QuantizationError(f"lo must be <= hi, not {lo!r} > {hi!r}")
    t = max(hi - zero_point, zero_point - lo) + 1
    bits = (2 * t - 1).bit_length() + tie_bits
    if acc_bits is not None and acc_bits + bits > 63:
        raise QuantizationError(f"acc_bits + mult_bits must be <= 63, not {acc_bits} + {bits}")
    return bits


@dataclass(frozen=True, eq=False)
class Requant:
    """``y = clamp(zero_point + round_shift(acc * multiplier, shift, rounding), lo, hi)``.

    ``multiplier`` and ``shift`` are int64 arrays with one entry (per-tensor) or one per channel.
    """

    multiplier: np.ndarray
    shift: np.ndarray
    zero_point: int
    lo: int
    hi: int
    rounding: str = "half_even"

    def __post_init__(self) -> None:
        m = np.atleast_1d(_as_int64(self.multiplier, "multiplier")).ravel()
        s = np.atleast_1d(_as_int64(self.shift, "shift")).ravel()
        if m.size == 0 or m.shape != s.shape:
            raise QuantizationError(f"multiplier and shift must be non-empty and of equal length, not {m.size} and {s.size}")
        if not self.lo <= self.hi:
            raise QuantizationError(f"lo must be <= hi, not {self.lo!r} > {self.hi!r}")
        _check_rounding(self.rounding)
        for name, value in (("multiplier", m), ("shift", s)):
            value.setflags(write=False)
            object.__setattr__(self, name, value)
        for name in ("zero_point", "lo", "hi"):
            object.__setattr__(self, name, int(getattr(self, name)))

    @property
    def channels(self) -> int:
        return int(self.multiplier.size)

    @property
    def mult_bits(self) -> int:
        """Bit length of the largest ``|multiplier|`` (the hardware multiplier width, sign excluded)."""
        return _max_bits(self.multiplier)

    def apply(self, acc: np.ndarray, channel_axis: int = 1) -> np.ndarray:
        """Requantize integer accumulators exactly in int64 (channels along ``channel_axis``).

        Raises :class:`QuantizationError` when ``acc * multiplier`` could overflow int64 or the
        channel count does not match.
        """
        a = _as_int64(acc, "acc")
        m, s = self.multiplier, self.shift
        if m.size > 1:
            if a.ndim == 0 or a.shape[channel_axis] != m.size:
                raise QuantizationError(f"acc axis {channel_axis} must have {m.size} channels, not shape {a.shape}")
            shape = [1] * a.ndim
            shape[channel_axis] = m.size
            m, s = m.reshape(shape), s.reshape(shape)
        if _max_bits(a) + self.mult_bits > 63:
            raise QuantizationError(f"acc_bits + mult_bits must be <= 63, not {_max_bits(a)} + {self.mult_bits}")
        y = self.zero_point + round_shift(a * m, s, self.rounding)
        return np.clip(y, self.lo, self.hi).astype(np.int64)

    @classmethod
    def from_scales(
        cls, real_multipliers: Any, zero_point: int, lo: int, hi: int, scheme: str = "affine",
        mult_bits: int | None = None, rounding: str = "half_even",
    ) -> "Requant":
        """Build from real multipliers ``s_in / s_out`` (one or per channel).

        ``mult_bits=None`` uses :func:`multiplier_bits_for_exactness`; ``scheme="pow2"`` uses
        :func:`pow2_multiplier` (``M0 = 1``) and ignores ``mult_bits``.
        """
        if scheme not in SCHEMES:
            raise QuantizationError(f"scheme must be one of {SCHEMES}, not {scheme!r}")
        reals = np.atleast_1d(np.asarray(real_multipliers, dtype=np.float64)).ravel()
        if scheme == "pow2":
            pairs = [pow2_multiplier(float(r)) for r in reals]
            m, s = np.array([p[0] for p in pairs], np.int64), np.array([p[1] for p in pairs], np.int64)
        else:
            bits = multiplier_bits_for_exactness(lo, hi, zero_point) if mult_bits is None else mult_bits
            m, s = quantize_multipliers(reals, bits)
        return cls(m, s, zero_point, lo, hi, rounding)


# -- float <-> code ---------------------------------------------------------------------------


def _along(values: Any, ndim: int, axis: int | None, name: str, size: int | None) -> np.ndarray:
    """A 0-d/1-d parameter reshaped to broadcast along ``axis`` of an ``ndim`` array."""
    arr = np.asarray(values)
    if axis is None:
        if arr.size != 1:
            raise QuantizationError(f"{name} must have one entry without an axis, not {arr.size}")
        return arr.reshape(())
    arr = arr.reshape(-1)
    if arr.size not in (1, size):
        raise QuantizationError(f"{name} must have 1 or {size} entries along axis {axis}, not {arr.size}")
    shape = [1] * ndim
    shape[axis] = arr.size
    return arr.reshape(shape)


def _round_float(q: np.ndarray, rounding: str) -> np.ndarray:
    if rounding == "half_even":
        return np.rint(q)
    floor = np.floor(q)
    return floor + (q - floor >= 0.5)  # q - floor is exact in binary floating point


def quantize(
    x_real: Any, scale: Any, zero_point: Any, qmin: int, qmax: int, rounding: str = "half_even", axis: int | None = None,
) -> np.ndarray:
    """ONNX QuantizeLinear: ``clip(round(x / scale) + zero_point, qmin, qmax)`` as int64.

    ``x / scale`` is computed in NumPy's promoted float type (float32 for float32 inputs, as in
    ONNX); ``axis`` selects per-axis scales and zero points.
    """
    _check_rounding(rounding)
    x = np.asarray(x_real)
    x = x if x.dtype.kind == "f" else x.astype(np.float64)
    size = None if axis is None else x.shape[axis]
    s = _along(scale, x.ndim, axis, "scale", size)
    z = _along(_as_int64(zero_point, "zero_point"), x.ndim, axis, "zero_point", size)
    if not (np.all(np.isfinite(s)) and np.all(s > 0)):
        raise QuantizationError(f"scale must be positive and finite, not {s.ravel()[:4]!r}")
    if np.any(z < qmin) or np.any(z > qmax):
        raise QuantizationError(f"zero_point must be in [{qmin}, {qmax}], not {z.ravel()[:4]!r}")
    q = x / s
    if np.any(np.isnan(q)):
        raise QuantizationError("x_real must not contain NaN, not NaN")
    r = np.clip(_round_float(q, rounding), qmin - z - 1, qmax - z + 1).astype(np.int64)
    return np.clip(r + z, qmin, qmax)


def dequantize(codes: Any, scale: Any, zero_point: Any, axis: int | None = None) -> np.ndarray:
    """ONNX DequantizeLinear ``(codes - zero_point) * scale`` in the float type of ``scale``."""
    c = _as_int64(codes, "codes")
    size = None if axis is None else c.shape[axis]
    s = _along(scale, c.ndim, axis, "scale", size)
    z = _along(_as_int64(zero_point, "zero_point"), c.ndim, axis, "zero_point", size)
    dtype = s.dtype if s.dtype.kind == "f" else np.dtype(np.float64)
    # a difference of < 2**29 times a float32 is exact in float64: one rounding, as in float32
    return ((c - z) * s.astype(np.float64)).astype(dtype)


def quantize_bias(bias: Any, x_scale: Any, w_scale: Any) -> np.ndarray:
    """Bias codes ``round_half_even(b / (x_scale * w_scale[c]))`` (int64 values in the int32 range)."""
    q = np.rint(np.asarray(bias) / (np.asarray(x_scale) * np.asarray(w_scale)))
    if not np.all(np.abs(q) < 2**31):
        raise QuantizationError(f"bias codes must fit int32, not {q[np.abs(q) >= 2**31][:4]!r}")
    return q.astype(np.int64)


def choose_qparams(min_val: float, max_val: float, bits: int, signed: bool, symmetric: bool = False) -> tuple[float, int]:
    """Scale and zero point covering ``[min(min_val, 0), max(max_val, 0)]`` as onnxruntime does.

    Symmetric signed uses the narrow range ``±(2**(bits-1) - 1)`` with zero point 0. The scale is
    rounded to float32 (how ONNX stores it); a zero range gives ``(1.0, 0)``.
    """
    _check_bits(bits, "bits", 2, 16)
    if not (math.isfinite(min_val) and math.isfinite(max_val) and min_val <= max_val):
        raise QuantizationError(f"[min_val, max_val] must be a finite range, not {[min_val, max_val]!r}")
    qmin, qmax = code_range(bits, signed)
    rmin, rmax = min(float(min_val), 0.0), max(float(max_val), 0.0)
    if symmetric:
        rmax = max(-rmin, rmax)
        rmin = -rmax
        qmin = -qmax if signed else qmin
    scale = (rmax - rmin) / (qmax - qmin)
    if scale < np.finfo(np.float32).tiny:
        return 1.0, 0
    zp = round((qmin + qmax) / 2) if symmetric else round(qmin - rmin / scale)
    return float(np.float32(scale)), int(min(max(zp, qmin), qmax))


def symmetric_weight_scale(w: np.ndarray, bits: int, axis: int | None = 0) -> np.ndarray:
    """Symmetric scales ``max|w| / (2**(bits-1) - 1)`` as float32 (1.0 for all-zero).

    One per index along ``axis`` (output channels), or a single entry for ``axis=None``.
    """
    _check_bits(bits, "bits", 2, 16)
    w = np.asarray(w, dtype=np.float64)
    if axis is None:
        absmax = np.abs(w).max(initial=0.0).reshape(1)
    else:
        others = tuple(i for i in range(w.ndim) if i != axis % w.ndim)
        absmax = np.max(np.abs(w), axis=others) if others else np.abs(w)
    scale = absmax / ((1 << (bits - 1)) - 1)
    return np.where(scale < np.finfo(np.float32).tiny, 1.0, scale).astype(np.float32)


def activation_clamp(
    kind: str, out_scale: float, out_zp: int, qmin: int, qmax: int, clip_min: float | None = None,
    clip_max: float | None = None, rounding: str = "half_even",
) -> tuple[int, int]:
    """``(lo, hi)`` so that ``clamp`` fuses ReLU/ReLU6/Clip: exactly ``quantize(act(x))``.

    Rounding is monotone, so ``round(min(x, c) / s) = min(round(x / s), round(c / s))``; each bound is
    the quantized clip value (``kind`` is ``"none"``, ``"relu"``, ``"relu6"`` or ``"clip"``).
    """
    if kind not in ACTIVATIONS:
        raise QuantizationError(f"kind must be one of {ACTIVATIONS}, not {kind!r}")
    low, high = {"none": (None, None), "relu": (0.0, None), "relu6": (0.0, 6.0), "clip": (clip_min, clip_max)}[kind]
    if low is not None and high is not None and low > high:
        raise QuantizationError(f"clip_min must be <= clip_max, not {low!r} > {high!r}")
    scale = np.asarray(out_scale)
    dtype = scale.dtype if scale.dtype.kind == "f" else np.dtype(np.float64)

    def bound(value: float | None, default: int) -> int:
        if value is None:
            return default
        return int(quantize(np.asarray(value, dtype), scale, out_zp, qmin, qmax, rounding))

    return bound(low, qmin), bound(high, qmax)


def build_lut(fn: Callable[[np.ndarray], np.ndarray], in_q: QuantParams, out_q: QuantParams, rounding: str = "half_even") -> np.ndarray:
    """Output code for every input code (index ``code - in_q.qmin``): ``quantize(fn(dequantize(code)))``.

    Computed in the float type of the scales (float32 for ONNX models), as onnxruntime does.
    """
    if in_q.per_channel or out_q.per_channel or in_q.scale.size != 1 or out_q.scale.size != 1:
        raise QuantizationError("build_lut quantization must be per-tensor, not per-channel")
    codes = np.arange(in_q.qmin, in_q.qmax + 1, dtype=np.int64)
    reals = dequantize(codes, in_q.scale, in_q.zero_point)
    return quantize(np.asarray(fn(reals)), out_q.scale, out_q.zero_point, out_q.qmin, out_q.qmax, rounding)
