"""Exact requantization of integer-valued float arrays, per feature: the CPU engine's epilogue.

:class:`FeatureRequant` maps inputs ``x_i`` (float arrays of shape (rows, F) holding integers) to::

    y - offset,   y = clamp(zp + round_shift(acc * M0[f], n[f]), lo, hi),   acc = sum_i k_i[f] * x_i + b[f]

which is :meth:`hwaccel.fixedpoint.Requant.apply` with one multiplier per feature, written as float32
codes minus ``offset`` (the zero point the consumers subtract).

Float64 proof. With ``e = max(n, 1)`` and ``c = M0 * 2**-n`` the float path evaluates
``v = sum_i x_i * (k_i * c) + (b * c [+ 1/2 for half_up])``, then ``rint`` (half to even) or
``floor`` (half up), clamps to ``[lo - zp, hi - zp]`` and adds ``zp - offset`` (after the rounding:
half-to-even rounding does not commute with adding an odd integer). Every operand and partial sum
is an integer multiple of ``2**-e`` of magnitude at most ``S * 2**-e`` units, where::

    S = (sum_i X_i * |k_i| + |b|) * |M0| * 2**(e - n) [+ 2**(e - 1) for half_up],   X_i >= |x_i|

If ``S <= 2**53`` every intermediate is representable, so each float operation is exact and ``v``
is the real ``acc * M0 * 2**-n [+ 1/2]``; ``rint``/``floor`` then round it exactly as
:func:`~hwaccel.fixedpoint.round_shift` does (for ``n >= 64`` both give 0, as ``|acc * M0| < 2**63``).
A *dead* feature, ``|acc * M0| < 2**(n - 1)`` for every accumulator in bounds (a near-dead channel
with a huge shift), rounds to 0 in both modes: it gets scale 0 and needs no bound. Live features
failing the bound make the whole requantization run in int64 through
:class:`~hwaccel.fixedpoint.Requant` itself.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..fixedpoint import Requant

__all__ = ["FeatureRequant", "FLOAT64_EXACT"]

FLOAT64_EXACT = float(2**53)  # every integer multiple of 2**-e below 2**53 units is a float64


class FeatureRequant:
    """Requantize ``acc = sum_i coefficients[i] * x_i + bias`` per feature, exactly (module docstring).

    Parameters
    ----------
    requant
        The golden requantization; its multiplier and shift are per tensor or per ``channels`` entry.
    channels
        The channel of each of the ``F`` features (indexes ``requant``'s per-channel arrays).
    coefficients
        ``k_i``: one integer per input, or one per feature.
    bias
        ``b``: integer per feature (or scalar).
    bounds
        ``X_i``: a bound on ``|x_i|`` for each input (or per feature).
    offset
        Subtracted from the output codes.
    multiplier, shift
        Optional per-feature ``M0`` and ``n`` replacing ``requant``'s (average pools: one per window size).
    """

    def __init__(self, requant: Requant, channels: np.ndarray, coefficients: Sequence[np.ndarray | int],
                 bias: np.ndarray | int, bounds: Sequence[np.ndarray | float], offset: int,
                 multiplier: np.ndarray | None = None, shift: np.ndarray | None = None) -> None:
        features = len(channels)
        per_channel = requant.multiplier.size > 1
        m0 = multiplier if multiplier is not None else requant.multiplier[channels] if per_channel else requant.multiplier
        n = shift if shift is not None else requant.shift[channels] if per_channel else requant.shift
        self.m0 = np.broadcast_to(np.asarray(m0, np.int64), (features,))
        self.n = np.broadcast_to(np.asarray(n, np.int64), (features,))
        self.ks = [np.broadcast_to(np.asarray(k, np.int64), (features,)) for k in coefficients]
        self.bias = np.broadcast_to(np.asarray(bias, np.int64), (features,))
        self.zero_point, self.offset, self.rounding = requant.zero_point, int(offset), requant.rounding
        self.lo, self.hi = requant.lo - requant.zero_point, requant.hi - requant.zero_point  # around zp
        reach = sum(np.abs(k) * np.asarray(x, np.float64) for k, x in zip(self.ks, bounds)) + np.abs(self.bias)
        self.reach = np.asarray(reach, np.float64)  # max |acc| per feature
        reach_m0 = self.reach * np.abs(self.m0)
        dead = reach_m0 * (1 + 2.0**-40) < np.ldexp(1.0, self.n - 1)  # |acc * M0 * 2**-n| < 1/2: always rounds to 0
        e = np.maximum(self.n, 1)
        half = np.ldexp(1.0, e - 1) if self.rounding == "half_up" else 0.0
        units = reach_m0 * np.ldexp(1.0, e - self.n) + half
        scale_ok = all(np.all(np.abs(k * self.m0.astype(np.float64)) < FLOAT64_EXACT) for k in self.ks)
        self.exact_float = bool(np.all(dead | (units <= FLOAT64_EXACT)) and scale_ok)
        c = np.where(dead, 0.0, np.ldexp(self.m0.astype(np.float64), -self.n))  # exact: |M0| < 2**53
        self.scales = [k * c for k in self.ks]  # exact: |k * M0| < 2**53 (checked)
        self.constant = self.bias * c + (0.5 if self.rounding == "half_up" else 0.0)
        self.golden = Requant(self.m0, self.n, requant.zero_point, requant.lo, requant.hi, self.rounding)

    def may_overflow(self, golden_mult_bits: int) -> bool:
        """Whether golden's int64 guard (``acc_bits + mult_bits > 63``) could fire for accumulators in bounds."""
        return int(self.reach.max(initial=0.0)).bit_length() + golden_mult_bits > 63

    def __call__(self, xs: Sequence[np.ndarray]) -> np.ndarray:
        """Requantized codes minus ``offset``: float32 (rows, F) from inputs of shape (rows, *features)."""
        if not self.exact_float:
            return self._int64(xs)
        shape = xs[0].shape[1:]  # the features, in C order (the inputs may be transposed views)
        t = np.multiply(xs[0], self.scales[0].reshape(shape), dtype=np.float64)
        for x, scale in zip(xs[1:], self.scales[1:]):
            t += np.multiply(x, scale.reshape(shape), dtype=np.float64)
        t += self.constant.reshape(shape)
        (np.floor if self.rounding == "half_up" else np.rint)(t, out=t)
        out = t.astype(np.float32, order="C")  # monotone: clamping after the cast gives the same codes
        np.clip(out, self.lo, self.hi, out=out)
        if self.zero_point != self.offset:
            out += np.float32(self.zero_point - self.offset)
        return out.reshape(len(out), len(self.m0))

    def _int64(self, xs: Sequence[np.ndarray]) -> np.ndarray:
        acc = self.bias + sum(k * np.asarray(x, np.int64).reshape(len(x), len(self.m0)) for k, x in zip(self.ks, xs))
        return (self.golden.apply(acc, channel_axis=1) - self.offset).astype(np.float32)
