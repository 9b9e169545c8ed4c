"""Resize (opsets 11..19: nearest / linear / cubic, every coordinate transformation, antialias,
axes, keep_aspect_ratio_policy) and the legacy Upsample.

Interpolation is separable, so the result is computed one axis at a time: each output index maps
to a source coordinate, then to a few neighbour indices (clamped to the edge) and their weights.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ...errors import ModelError
from ...ir.graph import Node
from ...ir.ops import register
from .common import Inputs, optional, required

__all__ = ["resize", "upsample"]

_TRANSFORMS = ("half_pixel", "half_pixel_symmetric", "pytorch_half_pixel", "align_corners", "asymmetric",
               "tf_half_pixel_for_nn", "tf_crop_and_resize")
_NEAREST = ("round_prefer_floor", "round_prefer_ceil", "floor", "ceil")


@dataclass(frozen=True)
class _Options:
    mode: str = "nearest"
    transform: str = "half_pixel"
    nearest_mode: str = "round_prefer_floor"
    cubic_a: float = -0.75
    exclude_outside: bool = False
    extrapolation: float = 0.0
    antialias: bool = False


def _source(opts: _Options, y: np.ndarray, scale: float, size: int, out: int, roi: tuple[float, float]) -> np.ndarray:
    """Source coordinate of every output index ``y`` along one axis.

    As in the ONNX reference, the resized length is the real ``scale * size`` (it differs from the
    integer extent ``out`` when ``floor`` rounded it).
    """
    t = opts.transform
    length = scale * size
    single = math.isclose(length, 1.0)
    if t == "half_pixel":
        return (y + 0.5) / scale - 0.5
    if t == "half_pixel_symmetric":
        offset = size / 2 * (1 - out / length)
        return offset + (y + 0.5) / scale - 0.5
    if t == "pytorch_half_pixel":
        return np.full_like(y, -0.5) if single else (y + 0.5) / scale - 0.5
    if t == "align_corners":
        return np.zeros_like(y) if single else y * (size - 1) / (length - 1)
    if t == "asymmetric":
        return y / scale
    if t == "tf_half_pixel_for_nn":
        return (y + 0.5) / scale
    start, end = roi  # tf_crop_and_resize
    if single:
        return np.full_like(y, 0.5 * (start + end) * (size - 1))
    return start * (size - 1) + y * (end - start) * (size - 1) / (length - 1)


def _nearest_index(x: np.ndarray, mode: str) -> np.ndarray:
    floor = np.floor(x)
    frac = x - floor
    if mode == "round_prefer_floor":
        return np.where(frac <= 0.5, floor, floor + 1)
    if mode == "round_prefer_ceil":
        return np.where(frac < 0.5, floor, floor + 1)
    return floor if mode == "floor" else np.ceil(x)


def _filter(opts: _Options, t: np.ndarray) -> np.ndarray:
    t = np.abs(t)
    if opts.mode == "linear":
        return np.maximum(0.0, 1.0 - t)
    a = opts.cubic_a  # Keys cubic convolution
    inner = ((a + 2) * t - (a + 3)) * t * t + 1
    outer = ((a * t - 5 * a) * t + 8 * a) * t - 4 * a
    return np.where(t <= 1, inner, np.where(t < 2, outer, 0.0))


def _resize_axis(data: np.ndarray, axis: int, scale: float, out: int, roi: tuple[float, float], opts: _Options) -> np.ndarray:
    size = data.shape[axis]
    x = _source(opts, np.arange(out, dtype=np.float64), scale, size, out, roi)
    if opts.mode == "nearest":
        index = np.clip(_nearest_index(x, opts.nearest_mode), 0, size - 1).astype(np.intp)
        result = np.take(data, index, axis=axis)
    else:
        # neighbours i_left + start .. i_left + start + n - 1 around x; antialias widens the filter when shrinking
        stretch = min(scale, 1.0) if opts.antialias else 1.0
        radius = 1 if opts.mode == "linear" else 2
        start = math.floor(-radius / stretch) + 1
        n = 2 - 2 * start
        index = (np.ceil(x) - 1).astype(np.int64)[:, None] + start + np.arange(n)
        weights = _filter(opts, (index - x[:, None]) * stretch)
        if opts.antialias:
            weights = weights / weights.sum(axis=1, keepdims=True)
        if opts.exclude_outside:
            weights = np.where((index < 0) | (index >= size), 0.0, weights)
            total = weights.sum(axis=1, keepdims=True)
            weights = weights / np.where(total == 0, 1.0, total)
        gathered = np.take(data.astype(np.float64, copy=False), np.clip(index, 0, size - 1), axis=axis)
        shape = (1,) * axis + weights.shape + (1,) * (data.ndim - axis - 1)
        result = (gathered * weights.reshape(shape)).sum(axis=axis + 1)
    if opts.transform == "tf_crop_and_resize":
        outside = ((x < 0) | (x > size - 1)).reshape((1,) * axis + (out,) + (1,) * (data.ndim - axis - 1))
        result = np.where(outside, np.asarray(opts.extrapolation, result.dtype), result)
    return result


def _interpolate(x: np.ndarray, scales: list[float], sizes: list[int], rois: list[tuple[float, float]],
                 opts: _Options) -> np.ndarray:
    result = x
    for axis, (scale, out, roi) in enumerate(zip(scales, sizes, rois)):
        if math.isclose(scale, 1.0) and out == x.shape[axis] and roi == (0.0, 1.0):
            continue
        result = _resize_axis(result, axis, scale, out, roi, opts)
    if result.dtype == x.dtype:
        return result
    if x.dtype.kind in "iu":
        info = np.iinfo(x.dtype)
        result = np.clip(np.round(result), info.min, info.max)
    return result.astype(x.dtype)


def _given(inputs: Inputs, index: int) -> np.ndarray | None:
    value = optional(inputs, index)
    return None if value is None or np.size(value) == 0 else np.asarray(value)


def _choice(node: Node, name: str, default: str, allowed: tuple[str, ...]) -> str:
    value = node.attr(name, default)
    if value not in allowed:
        raise ModelError(f"{node.name}: {name} must be one of {', '.join(allowed)}, not {value!r}")
    return value


@register("float", "Resize")
def resize(node: Node, inputs: Inputs) -> list[np.ndarray]:
    """ONNX Resize; output extents are ``floor(in * scale)`` or ``sizes`` (``keep_aspect_ratio_policy``
    rescales ``sizes`` with one common factor, rounding half up)."""
    x = required(node, inputs, 0)
    rank = x.ndim
    axes = [int(a) % rank for a in node.attr("axes", None) or range(rank)]
    opts = _Options(
        mode=_choice(node, "mode", "nearest", ("nearest", "linear", "cubic")),
        transform=_choice(node, "coordinate_transformation_mode", "half_pixel", _TRANSFORMS),
        nearest_mode=_choice(node, "nearest_mode", "round_prefer_floor", _NEAREST),
        cubic_a=float(node.attr("cubic_coeff_a", -0.75)),
        exclude_outside=bool(node.attr("exclude_outside", 0)),
        extrapolation=float(node.attr("extrapolation_value", 0.0)),
        antialias=bool(node.attr("antialias", 0)),
    )
    roi, scales_in, sizes_in = _given(inputs, 1), _given(inputs, 2), _given(inputs, 3)
    rois = [(0.0, 1.0)] * rank
    if roi is not None and opts.transform == "tf_crop_and_resize":
        for i, axis in enumerate(axes):
            rois[axis] = (float(roi[i]), float(roi[i + len(axes)]))
    scales, sizes = [1.0] * rank, list(x.shape)
    if sizes_in is not None:
        for axis, size in zip(axes, sizes_in.reshape(-1).tolist()):
            scales[axis], sizes[axis] = size / x.shape[axis], int(size)
        policy = _choice(node, "keep_aspect_ratio_policy", "stretch", ("stretch", "not_larger", "not_smaller"))
        if policy != "stretch":
            common = (min if policy == "not_larger" else max)(scales[a] for a in axes)
            for axis in axes:
                scales[axis], sizes[axis] = common, int(math.floor(common * x.shape[axis] + 0.5))
    elif scales_in is not None:
        for axis, scale in zip(axes, scales_in.astype(np.float64).reshape(-1).tolist()):
            span = rois[axis][1] - rois[axis][0]
            scales[axis], sizes[axis] = scale, int(math.floor(x.shape[axis] * span * scale))
    else:
        raise ModelError(f"{node.name}: Resize needs scales or sizes")
    if opts.mode == "nearest" and opts.antialias:
        raise ModelError(f"{node.name}: antialias must be 0 with mode 'nearest', not 1")
    return [_interpolate(x, scales, sizes, rois, opts)]


@register("float", "Upsample")
def upsample(node: Node, inputs: Inputs) -> list[np.ndarray]:
    """Legacy Upsample (scales as input 1, or attribute before opset 9): asymmetric coordinates,
    nearest rounds down."""
    x = required(node, inputs, 0)
    given = _given(inputs, 1)
    scales = [float(s) for s in (given.reshape(-1).tolist() if given is not None else node.attr("scales", []))]
    if len(scales) != x.ndim:
        raise ModelError(f"{node.name}: Upsample scales must have {x.ndim} entries, not {scales!r}")
    mode = _choice(node, "mode", "nearest", ("nearest", "linear", "bilinear"))
    opts = _Options(mode="nearest" if mode == "nearest" else "linear", transform="asymmetric", nearest_mode="floor")
    sizes = [int(math.floor(n * s)) for n, s in zip(x.shape, scales)]
    return [_interpolate(x, scales, sizes, [(0.0, 1.0)] * x.ndim, opts)]
