"""Golden model of the Eltwise units: Add with a per-input multiplier, Concat of two inputs.

Add: ``y = rq((a - za) * Ma + (b - zb) * Mb)``: each input brought to a common scale by its own
integer multiplier, one rounding for the sum. Concat (channels last): each input rescaled to
the output encoding by its own requant (``None``: it already has the output encoding).
"""

from __future__ import annotations

import numpy as np

from ..fixedpoint import Requant

__all__ = ["add", "concat"]


def add(a: np.ndarray, b: np.ndarray, a_zero_point: int, b_zero_point: int, a_multiplier: int, b_multiplier: int, rq: Requant) -> np.ndarray:
    """``rq((a - za) * Ma + (b - zb) * Mb)`` element-wise (``rq`` per-tensor)."""
    total = (np.asarray(a, np.int64) - int(a_zero_point)) * int(a_multiplier)
    total = total + (np.asarray(b, np.int64) - int(b_zero_point)) * int(b_multiplier)
    return rq.apply(total, channel_axis=0)


def concat(
    a: np.ndarray, b: np.ndarray, a_zero_point: int, b_zero_point: int, a_rq: Requant | None, b_rq: Requant | None,
) -> np.ndarray:
    """``[a_rq(a - za), b_rq(b - zb)]`` concatenated on the last axis."""
    parts = []
    for x, zx, rq in ((a, a_zero_point, a_rq), (b, b_zero_point, b_rq)):
        x = np.asarray(x, np.int64)
        parts.append(x if rq is None else rq.apply(x - int(zx), channel_axis=x.ndim - 1))
    return np.concatenate(parts, axis=-1)
