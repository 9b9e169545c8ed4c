"""Shared geometry of the sliding-window ops (Conv, ConvTranspose, pools): strides, dilations,
padding (explicit or ``auto_pad``) and strided window views."""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from ...errors import ModelError
from ...ir.graph import Node

__all__ = ["Pads", "strides_dilations", "resolve_pads", "pool_output_size", "windows"]

Pads = list[tuple[int, int]]
_AUTO_PADS = ("NOTSET", "SAME_UPPER", "SAME_LOWER", "VALID")


def strides_dilations(node: Node, spatial: int) -> tuple[list[int], list[int]]:
    strides = [int(s) for s in node.attr("strides", None) or [1] * spatial]
    dilations = [int(d) for d in node.attr("dilations", None) or [1] * spatial]
    if len(strides) != spatial or len(dilations) != spatial:
        raise ModelError(f"{node.name}: strides and dilations must have {spatial} entries, not {strides!r}, {dilations!r}")
    return strides, dilations


def resolve_pads(node: Node, sizes: Sequence[int], kernel: Sequence[int], strides: Sequence[int],
                 dilations: Sequence[int]) -> Pads:
    """``(begin, end)`` padding per spatial axis from ``pads`` or ``auto_pad`` (Conv and pools).

    SAME_* pads so that ``out = ceil(in / stride)``, the odd extra element at the end (UPPER) or the
    beginning (LOWER); VALID pads nothing.
    """
    auto_pad = node.attr("auto_pad", "NOTSET") or "NOTSET"
    if auto_pad not in _AUTO_PADS:
        raise ModelError(f"{node.name}: auto_pad must be one of {', '.join(_AUTO_PADS)}, not {auto_pad!r}")
    spatial = len(sizes)
    if auto_pad == "NOTSET":
        pads = [int(p) for p in node.attr("pads", None) or [0] * (2 * spatial)]
        if len(pads) != 2 * spatial:
            raise ModelError(f"{node.name}: pads must have {2 * spatial} entries, not {pads!r}")
        return [(pads[i], pads[i + spatial]) for i in range(spatial)]
    if auto_pad == "VALID":
        return [(0, 0)] * spatial
    result = []
    for size, k, s, d in zip(sizes, kernel, strides, dilations):
        total = max(0, (math.ceil(size / s) - 1) * s + (k - 1) * d + 1 - size)
        small, large = total // 2, total - total // 2
        result.append((small, large) if auto_pad == "SAME_UPPER" else (large, small))
    return result


def pool_output_size(size: int, kernel: int, stride: int, dilation: int, pads: tuple[int, int], ceil_mode: bool) -> int:
    """Output extent of a pool; in ceil mode the last window must start inside the input or the begin pad."""
    span = (kernel - 1) * dilation + 1
    room = size + pads[0] + pads[1] - span
    out = (-(-room // stride) if ceil_mode else room // stride) + 1
    if ceil_mode and (out - 1) * stride >= size + pads[0]:
        out -= 1
    return out


def windows(padded: np.ndarray, kernel: Sequence[int], strides: Sequence[int], dilations: Sequence[int],
            out: Sequence[int] | None = None) -> np.ndarray:
    """Strided view of the windows of an (N, C, *spatial) array: shape (N, C, *out, *kernel).

    ``out`` limits the number of windows per axis (default: every window that fits).
    """
    spatial = len(kernel)
    spans = tuple((k - 1) * d + 1 for k, d in zip(kernel, dilations))
    view = sliding_window_view(padded, spans, axis=tuple(range(2, 2 + spatial)))
    index: tuple[slice, ...] = (slice(None), slice(None))
    for i, s in enumerate(strides):
        index += (slice(None, None if out is None else (out[i] - 1) * s + 1, s),)
    index += tuple(slice(None, None, d) for d in dilations)
    return view[index]
