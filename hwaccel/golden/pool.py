"""Golden model of the Pool unit on pre-extracted windows (channels last).

Max pooling compares codes (scales are positive, so order is kept). Average pooling sums
``x - x_zero_point`` over the window and requantizes with ``1/N`` folded into the multiplier;
global average pooling is the same with the whole feature map as one window. Windows that
average different element counts pick one requant per output pixel by its class.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from ..fixedpoint import Requant

__all__ = ["max_pool", "average_pool"]


def max_pool(windows: np.ndarray) -> np.ndarray:
    """Maximum code of each window: ``(..., window, channels) -> (..., channels)``."""
    return np.asarray(windows, dtype=np.int64).max(axis=-2)


def average_pool(windows: np.ndarray, x_zero_point: int, rq: Requant | Sequence[Requant],
                 pixel_classes: Sequence[int] = ()) -> np.ndarray:
    """``rq(sum(x - x_zero_point))`` over each window: ``(..., window, channels) -> (..., channels)``.

    With ``pixel_classes`` (one class per pixel, repeating over the windows in row-major order, as
    the unit counts them), ``rq`` is one requant per class and each window uses its class's.
    """
    sums = (np.asarray(windows, dtype=np.int64) - int(x_zero_point)).sum(axis=-2)
    if not len(pixel_classes):
        return (rq if isinstance(rq, Requant) else rq[0]).apply(sums, channel_axis=sums.ndim - 1)
    assert not isinstance(rq, Requant)
    classes = np.resize(np.asarray(pixel_classes, np.int64), sums.shape[:-1])
    out = np.empty_like(sums)
    for k in np.unique(classes).tolist():
        mask = classes == k
        out[mask] = rq[k].apply(sums[mask], channel_axis=1)
    return out
