"""MaxPool (with the optional Indices output), AveragePool and the global pools.

Windows come from one strided view of the input padded to cover every window (explicit pads,
``auto_pad`` and the ``ceil_mode`` overhang). Padding never wins a max; an average divides by the
number of input elements in the window, plus the explicit pads with ``count_include_pad`` (the
ceil-mode overhang never counts).
"""

from __future__ import annotations

import math

import numpy as np

from ...errors import ModelError
from ...ir.graph import Node
from ...ir.ops import register
from .common import Inputs, float_compute_dtype, required
from .spatial import Pads, pool_output_size, resolve_pads, strides_dilations, windows

__all__ = ["max_pool", "average_pool", "global_average_pool", "global_max_pool"]


Geometry = tuple[list[int], list[int], list[int], Pads, list[int]]  # kernel, strides, dilations, pads, out


def _geometry(node: Node, x: np.ndarray) -> Geometry:
    if x.ndim < 3:
        raise ModelError(f"{node.name}: {node.op} input must have rank >= 3, not {x.ndim!r}")
    spatial = x.ndim - 2
    kernel = [int(k) for k in node.attr("kernel_shape", None) or []]
    if len(kernel) != spatial:
        raise ModelError(f"{node.name}: kernel_shape must have {spatial} entries, not {kernel!r}")
    strides, dilations = strides_dilations(node, spatial)
    pads = resolve_pads(node, x.shape[2:], kernel, strides, dilations)
    ceil_mode = bool(node.attr("ceil_mode", 0)) and (node.attr("auto_pad", "NOTSET") or "NOTSET") == "NOTSET"
    out = [pool_output_size(n, k, s, d, p, ceil_mode)
           for n, k, s, d, p in zip(x.shape[2:], kernel, strides, dilations, pads)]
    return kernel, strides, dilations, pads, out


def _padded_windows(x: np.ndarray, geometry: Geometry, fill: float | int, pad_fill: float | int | None = None) -> np.ndarray:
    """Windows (N, C, *out, *kernel) of ``x`` padded with ``pad_fill`` (explicit pads) and ``fill`` (overhang)."""
    kernel, strides, dilations, pads, out = geometry
    pad_fill = fill if pad_fill is None else pad_fill
    padded = np.pad(x, [(0, 0), (0, 0), *pads], constant_values=pad_fill)
    overhang = [max(0, (o - 1) * s + (k - 1) * d + 1 - n)
                for o, s, k, d, n in zip(out, strides, kernel, dilations, padded.shape[2:])]
    if any(overhang):
        padded = np.pad(padded, [(0, 0), (0, 0), *[(0, e) for e in overhang]], constant_values=fill)
    return windows(padded, kernel, strides, dilations, out)


def _flat(view: np.ndarray, spatial: int) -> np.ndarray:
    return view.reshape(view.shape[:2 + spatial] + (-1,))


@register("float", "MaxPool")
def max_pool(node: Node, inputs: Inputs) -> list[np.ndarray]:
    """Y = window maximum; Indices = flat position of the (first) maximum in the whole input tensor,
    row-major (``storage_order`` 0) or column-major within each plane (1)."""
    x = required(node, inputs, 0)
    geometry = _geometry(node, x)
    spatial = x.ndim - 2
    if len(node.outputs) < 2 or not node.outputs[1]:
        lowest = -np.inf if x.dtype.kind == "f" else np.iinfo(x.dtype).min
        return [_flat(_padded_windows(x, geometry, lowest), spatial).max(axis=-1)]
    # with Indices, padding must lose every tie: compare as floats padded with -inf
    flat = _flat(_padded_windows(x if x.dtype.kind == "f" else x.astype(np.float64), geometry, -np.inf), spatial)
    best = flat.argmax(axis=-1)
    y = np.take_along_axis(flat, best[..., None], axis=-1)[..., 0].astype(x.dtype, copy=False)
    sizes = x.shape[2:]
    flat_index = np.arange(math.prod(sizes))
    within_plane = flat_index.reshape(sizes[::-1]).T if node.attr("storage_order", 0) else flat_index.reshape(sizes)
    position = within_plane.reshape((1, 1) + tuple(sizes))
    position_windows = _flat(_padded_windows(position, geometry, -1), spatial)[0, 0]
    indices = np.take_along_axis(np.broadcast_to(position_windows, flat.shape), best[..., None], axis=-1)[..., 0]
    plane = np.arange(x.shape[0] * x.shape[1]).reshape(x.shape[:2] + (1,) * spatial) * math.prod(sizes)
    return [y, (indices + plane).astype(np.int64)]


@register("float", "AveragePool")
def average_pool(node: Node, inputs: Inputs) -> list[np.ndarray]:
    """Window sum / number of counted elements (float64 sums, cast back)."""
    x = required(node, inputs, 0)
    geometry = _geometry(node, x)
    spatial = x.ndim - 2
    dtype = float_compute_dtype(x)
    sums = _padded_windows(x.astype(dtype, copy=False), geometry, 0).sum(axis=tuple(range(-spatial, 0)))
    include_pad = 1 if node.attr("count_include_pad", 0) else 0
    ones = np.ones((1, 1) + x.shape[2:], np.int64)
    counts = _padded_windows(ones, geometry, 0, include_pad).sum(axis=tuple(range(-spatial, 0)))
    return [(sums / np.maximum(counts, 1)).astype(x.dtype, copy=False)]


@register("float", "GlobalAveragePool")
def global_average_pool(node: Node, inputs: Inputs) -> list[np.ndarray]:
    x = required(node, inputs, 0)
    axes = tuple(range(2, x.ndim))
    return [x.astype(float_compute_dtype(x), copy=False).mean(axis=axes, keepdims=True).astype(x.dtype, copy=False)]


@register("float", "GlobalMaxPool")
def global_max_pool(node: Node, inputs: Inputs) -> list[np.ndarray]:
    x = required(node, inputs, 0)
    return [x.max(axis=tuple(range(2, x.ndim)), keepdims=True)]
