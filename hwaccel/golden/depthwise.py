"""Golden model of the Depthwise unit: each channel's own dot product over the kernel taps (int64).

``acc[..., c] = bias[c] + sum_k (x[..., k, c] - x_zero_point) * w[c, k]``.
"""

from __future__ import annotations

import numpy as np

__all__ = ["depthwise"]


def depthwise(x: np.ndarray, weights: np.ndarray, bias: np.ndarray | None = None, x_zero_point: int = 0) -> np.ndarray:
    """Accumulators of a depthwise convolution (channel multiplier 1) on its windows' codes.

    Parameters
    ----------
    x
        ``(..., K, C)`` window codes: ``K`` kernel taps of ``C`` channels.
    weights
        ``(C, K)`` signed weight codes.
    bias
        ``(C,)`` int32 bias codes (zeros when ``None``).
    x_zero_point
        Subtracted from every input code.

    Returns
    -------
    np.ndarray
        int64 ``(..., C)``.
    """
    xs = np.asarray(x, dtype=np.int64) - int(x_zero_point)
    acc = np.einsum("...kc,ck->...c", xs, np.asarray(weights, dtype=np.int64))
    if bias is not None:
        acc = acc + np.asarray(bias, dtype=np.int64)
    return acc
