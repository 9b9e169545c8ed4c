"""DepthToSpace (with a crop) and nearest Upsample on HWC images: the PixelMap units' golden model."""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["pixel_map"]


def pixel_map(images: np.ndarray, p: Any) -> np.ndarray:
    """``(N, H, W, in_channels)`` -> ``(N, out_height, out_width, channels)`` as PixelMap ``p``
    (:class:`~hwaccel.units.pixel_map.PixelMapParams`, read by field) maps pixels."""
    rows, py = np.divmod(np.arange(p.out_height) + p.crop_top, p.factor_h)
    cols, px = np.divmod(np.arange(p.out_width) + p.crop_left, p.factor_w)
    x = np.asarray(images)
    if not p.phased:
        return x[:, rows][:, :, cols]
    n, h, w, _ = x.shape
    phases = x.reshape(n, h, w, p.factor_h * p.factor_w, p.channels)
    return phases[:, rows[:, None], cols[None, :], py[:, None] * p.factor_w + px[None, :]]
