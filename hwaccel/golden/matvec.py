"""Golden model of the MatVec unit: exact integer dot products (int64), raw accumulators out.

``acc[..., o] = bias[o] + sum_k (x[..., k] - x_zero_point) * w[o, k]`` where ``w`` is the weight
code matrix, or ``codebook[w]`` when the weights are codebook indices (weight sharing).
"""

from __future__ import annotations

import numpy as np

__all__ = ["matvec"]


def matvec(
    x: np.ndarray, weights: np.ndarray, bias: np.ndarray | None = None, x_zero_point: int = 0,
    codebook: np.ndarray | None = None,
) -> np.ndarray:
    """Accumulators of a fully connected layer on integer codes.

    Parameters
    ----------
    x
        ``(..., K)`` input codes.
    weights
        ``(O, K)`` signed weight codes, or indices into ``codebook``.
    bias
        ``(O,)`` int32 bias codes (zeros when ``None``).
    x_zero_point
        Subtracted from every input code.
    codebook
        Weight values the indices select.

    Returns
    -------
    np.ndarray
        int64 ``(..., O)``.
    """
    w = np.asarray(weights, dtype=np.int64)
    if codebook is not None:
        w = np.asarray(codebook, dtype=np.int64)[w]
    xs = np.asarray(x, dtype=np.int64) - int(x_zero_point)
    acc = np.einsum("...k,ok->...o", xs, w)
    if bias is not None:
        acc = acc + np.asarray(bias, dtype=np.int64)
    return acc
