"""Integer pooling: max over codes; average = exact window sum, then requant with 1/count folded in."""

from __future__ import annotations

import math
from typing import Any, Mapping

import numpy as np

from ...ir.graph import Node
from .common import extract_windows, spatial_pads

__all__ = ["max_pool", "average_pool", "global_average_pool", "global_max_pool", "pool_output_extent"]


def pool_output_extent(size: int, kernel: int, stride: int, dilation: int, pad_begin: int, pad_end: int, ceil_mode: bool) -> int:
    span = (kernel - 1) * dilation + 1
    num = size + pad_begin + pad_end - span
    out = (math.ceil(num / stride) if ceil_mode else num // stride) + 1
    if ceil_mode and (out - 1) * stride >= size + pad_begin:  # last window must start inside the input or left pad
        out -= 1
    return out


def _windows(node: Node, x: np.ndarray, pad_value: int) -> tuple[np.ndarray, int]:
    spatial = x.ndim - 2
    kernel = tuple(node.attr("kernel_shape"))
    strides = tuple(node.attr("strides", [1] * spatial))
    dilations = tuple(node.attr("dilations", [1] * spatial))
    pads = spatial_pads(node.attr("pads"), spatial)
    ceil_mode = bool(node.attr("ceil_mode", 0))
    # ceil_mode may need extra padding at the end: add it, marked with the pad value
    extra = []
    for (b, e), size, k, s, d in zip(pads, x.shape[2:], kernel, strides, dilations):
        out = pool_output_extent(size, k, s, d, b, e, ceil_mode)
        needed = (out - 1) * s + (k - 1) * d + 1 - (size + b + e)
        extra.append((b, e + max(needed, 0)))
    return extract_windows(x, kernel, strides, dilations, pad_value, extra), spatial


def max_pool(node: Node, x: np.ndarray) -> np.ndarray:
    """Maximum of the codes in each window (padding never wins: it is below every code)."""
    lowest = np.iinfo(np.int64).min
    windows, spatial = _windows(node, x.astype(np.int64), lowest)
    return windows.max(axis=tuple(range(-spatial, 0)))


def average_pool(node: Node, x: np.ndarray) -> np.ndarray:
    """``requants[count](sum(x - zx))`` per output, count = window elements that are averaged."""
    zx = int(node.attr("x_zero_point", 0))
    windows, spatial = _windows(node, x.astype(np.int64) - zx, 0)
    sums = windows.sum(axis=tuple(range(-spatial, 0)))
    counts = np.broadcast_to(window_count_map(tuple(x.shape[2:]), node.attrs), sums.shape)
    out = np.empty_like(sums)
    requants = node.attr("requants")
    for count in np.unique(counts).tolist():
        mask = counts == count
        out[mask] = requants[count].apply(sums[mask], channel_axis=0)
    return out


def window_count_map(in_spatial: tuple[int, ...], attrs: Mapping[str, Any]) -> np.ndarray:
    """Averaged elements per output position, shape (1, 1, *out_spatial).

    With ``count_include_pad`` the explicit pads count; the ceil_mode overhang never does.
    """
    spatial = len(in_spatial)
    node = Node("counts", "AveragePool", ("x",), ("y",), dict(attrs))
    ones = np.ones((1, 1) + tuple(in_spatial), np.int64)
    if bool(attrs.get("count_include_pad", 0)):
        pads = spatial_pads(attrs.get("pads"), spatial)
        ones = np.pad(ones, [(0, 0), (0, 0), *pads], constant_values=1)
        node = Node("counts", "AveragePool", ("x",), ("y",), {k: v for k, v in attrs.items() if k != "pads"})
    windows, _ = _windows(node, ones, 0)
    return windows.sum(axis=tuple(range(-spatial, 0)))


def window_counts(in_spatial: tuple[int, ...], attrs: Mapping[str, Any]) -> list[int]:
    """The distinct window element counts of an average pool (each needs its own 1/count multiplier)."""
    return sorted(set(window_count_map(in_spatial, attrs).reshape(-1).tolist()))


def global_average_pool(node: Node, x: np.ndarray) -> np.ndarray:
    zx = int(node.attr("x_zero_point", 0))
    axes = tuple(range(2, x.ndim))
    sums = (x.astype(np.int64) - zx).sum(axis=axes, keepdims=True)
    count = math.prod(x.shape[2:])
    return node.attr("requants")[count].apply(sums, channel_axis=1)


def global_max_pool(node: Node, x: np.ndarray) -> np.ndarray:
    return x.astype(np.int64).max(axis=tuple(range(2, x.ndim)), keepdims=True)
