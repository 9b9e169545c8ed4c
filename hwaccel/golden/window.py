"""Golden model of the SlidingWindow unit: convolution windows of an HWC image, in streaming order.

Streaming order (the hardware's and the bench's): the image goes in HWC order, pixels row-major,
each pixel as ``channels // simd`` beats of ``simd`` consecutive channels. Windows come out per
output pixel (row-major), kernel taps row-major within a window, channels within a tap, cut into
beats the same way. Padding taps hold ``pad_value`` (the input zero point, i.e. real zero).
"""

from __future__ import annotations

import numpy as np

from .fixed_ops.common import extract_windows

__all__ = ["sliding_windows", "image_beats", "window_beats"]


def sliding_windows(
    image: np.ndarray, kernel: tuple[int, int], stride: tuple[int, int] = (1, 1), dilation: tuple[int, int] = (1, 1),
    pads: tuple[int, int, int, int] = (0, 0, 0, 0), pad_value: int = 0,
) -> np.ndarray:
    """All windows of an ``(H, W, C)`` integer image.

    Parameters
    ----------
    image
        ``(H, W, C)`` codes.
    kernel, stride, dilation
        ``(h, w)`` pairs.
    pads
        ``(top, left, bottom, right)`` as in ONNX ``pads``.
    pad_value
        Code of the padding taps.

    Returns
    -------
    np.ndarray
        int64 ``(OH, OW, KH, KW, C)``.
    """
    x = np.asarray(image, dtype=np.int64).transpose(2, 0, 1)[None]
    top, left, bottom, right = pads
    win = extract_windows(x, tuple(kernel), tuple(stride), tuple(dilation), pad_value, [(top, bottom), (left, right)])
    return np.ascontiguousarray(win[0].transpose(1, 2, 3, 4, 0))


def image_beats(image: np.ndarray, simd: int) -> np.ndarray:
    """The input beats of an ``(H, W, C)`` image: ``(H*W*C/simd, simd)``."""
    return np.asarray(image, dtype=np.int64).reshape(-1, simd)


def window_beats(windows: np.ndarray, simd: int) -> np.ndarray:
    """The output beats of :func:`sliding_windows`' result: ``(OH*OW*KH*KW*C/simd, simd)``."""
    return np.asarray(windows, dtype=np.int64).reshape(-1, simd)
