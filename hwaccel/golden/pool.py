"""Golden model of the Pool unit on pre-extracted windows (channels last).

Max pooling compares codes (scales are positive, so order is kept). Average pooling sums
``x - x_zero_point`` over the window and requantizes with ``1/N`` folded into the multiplier;
global average pooling is the same with the whole feature map as one window.
"""

from __future__ import annotations

import numpy as np

from ..fixedpoint import Requant

__all__ = ["max_pool", "average_pool"]


def max_pool(windows: np.ndarray) -> np.ndarray:
    """Maximum code of each window: ``(..., window, channels) -> (..., channels)``."""
    return np.asarray(windows, dtype=np.int64).max(axis=-2)


def average_pool(windows: np.ndarray, x_zero_point: int, rq: Requant) -> np.ndarray:
    """``rq(sum(x - x_zero_point))`` over each window: ``(..., window, channels) -> (..., channels)``."""
    sums = (np.asarray(windows, dtype=np.int64) - int(x_zero_point)).sum(axis=-2)
    return rq.apply(sums, channel_axis=sums.ndim - 1)
