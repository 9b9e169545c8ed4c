"""Integer Conv, ConvTranspose and MatMul: exact int64 accumulation, then requantization."""

from __future__ import annotations

import numpy as np

from ...ir.graph import Node
from ..float_ops.common import required
from .common import extract_windows, spatial_pads

__all__ = ["conv_accumulate", "conv_transpose_accumulate", "matmul_accumulate", "requant_channels"]


def _zero_points(node: Node, channels: int) -> tuple[int, np.ndarray]:
    zx = int(node.attr("x_zero_point", 0))
    zw = np.broadcast_to(np.asarray(node.attr("w_zero_point", 0), dtype=np.int64).reshape(-1), (channels,))
    return zx, zw


def _bias(inputs: list[np.ndarray | None], channels: int) -> np.ndarray:
    bias = inputs[2] if len(inputs) > 2 and inputs[2] is not None else np.zeros(channels, np.int64)
    return bias.astype(np.int64).reshape(-1)


def conv_accumulate(node: Node, inputs: list[np.ndarray | None]) -> np.ndarray:
    """``acc[n, m, *p] = bias[m] + sum (x - zx) * (w - zw)`` over the (grouped) window; int64."""
    x, w = required(node, inputs, 0).astype(np.int64), required(node, inputs, 1).astype(np.int64)
    squeeze = x.ndim == 3  # 1-D convolution: treat as 2-D with height 1
    if squeeze:
        x, w = x[:, :, None, :], w[:, :, None, :]
    spatial = x.ndim - 2
    m, group = w.shape[0], int(node.attr("group", 1))
    zx, zw = _zero_points(node, m)
    kernel = tuple(w.shape[2:])
    strides = tuple(node.attr("strides", [1] * spatial))
    dilations = tuple(node.attr("dilations", [1] * spatial))
    pads = spatial_pads(node.attr("pads"), spatial) if not squeeze else [(0, 0)] + spatial_pads(node.attr("pads"), 1)
    if squeeze:
        strides, dilations = (1, *strides), (1, *dilations)
    windows = extract_windows(x - zx, kernel, strides, dilations, 0, pads)  # (N, C, *out, *k)
    n, c = x.shape[:2]
    cg, mg = c // group, m // group
    out_spatial = windows.shape[2 : 2 + spatial]
    windows = windows.reshape((n, group, cg) + out_spatial + kernel)
    weights = (w - zw.reshape((-1,) + (1,) * (w.ndim - 1))).reshape((group, mg, cg) + kernel)
    k_axes = tuple(range(3 + spatial, 3 + 2 * spatial))
    acc = np.stack(
        [np.tensordot(windows[:, g], weights[g], axes=((1, *[a - 1 for a in k_axes]), (1, *range(2, 2 + spatial))))
         for g in range(group)],
        axis=1,
    )  # (N, group, *out, mg)
    acc = np.moveaxis(acc, -1, 2).reshape((n, m) + out_spatial)
    acc = acc + _bias(inputs, m).reshape((1, m) + (1,) * spatial)
    return acc[:, :, 0, :] if squeeze else acc


def conv_transpose_accumulate(node: Node, inputs: list[np.ndarray | None], out_shape: tuple[int, ...]) -> np.ndarray:
    """Integer ConvTranspose: each input pixel scatters ``(x - zx) * (w - zw)`` into the output."""
    x, w = required(node, inputs, 0).astype(np.int64), required(node, inputs, 1).astype(np.int64)
    spatial = x.ndim - 2
    group = int(node.attr("group", 1))
    n, c = x.shape[:2]
    cg, mg = c // group, w.shape[1]
    m = mg * group
    zx, zw = _zero_points(node, m)
    strides = tuple(node.attr("strides", [1] * spatial))
    dilations = tuple(node.attr("dilations", [1] * spatial))
    begin = [p[0] for p in spatial_pads(node.attr("pads"), spatial)]
    kernel = tuple(w.shape[2:])
    wz = w.reshape((group, cg, mg) + kernel) - zw.reshape((group, 1, mg) + (1,) * spatial)
    xs = (x - zx).reshape((n, group, cg) + x.shape[2:])
    # contributions[n, g, *in, mg, *k]
    contrib = np.stack([np.tensordot(xs[:, g], wz[g], axes=((1,), (0,))) for g in range(group)], axis=1)
    full = [(i - 1) * s + (k - 1) * d + 1 for i, s, k, d in zip(x.shape[2:], strides, kernel, dilations)]
    full = [max(f, o + b) for f, o, b in zip(full, out_shape[2:], begin)]
    acc = np.zeros((n, group, mg) + tuple(full), np.int64)
    for offset in np.ndindex(*kernel):
        target = tuple(slice(o * d, o * d + (i - 1) * s + 1, s) for o, d, i, s in zip(offset, dilations, x.shape[2:], strides))
        part = contrib[(slice(None), slice(None)) + (slice(None),) * spatial + (slice(None),) + offset]
        acc[(slice(None), slice(None), slice(None)) + target] += np.moveaxis(part, 2 + spatial, 2)
    crop = tuple(slice(b, b + o) for b, o in zip(begin, out_shape[2:]))
    acc = acc.reshape((n, m) + tuple(full))[(slice(None), slice(None)) + crop]
    return acc + _bias(inputs, m).reshape((1, m) + (1,) * spatial)


def matmul_accumulate(node: Node, inputs: list[np.ndarray | None]) -> np.ndarray:
    """``acc[..., m] = bias[m] + sum_k (x[..., k] - zx) * (w[k, m] - zw[m])``."""
    x, w = required(node, inputs, 0).astype(np.int64), required(node, inputs, 1).astype(np.int64)
    m = w.shape[-1]
    zx, zw = _zero_points(node, m)
    return np.matmul(x - zx, w - zw) + _bias(inputs, m)


def requant_channels(node: Node, acc: np.ndarray, channel_axis: int) -> np.ndarray:
    requant = node.attr("requant")
    return acc if requant is None else requant.apply(acc, channel_axis=channel_axis)
