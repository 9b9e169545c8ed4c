"""Conv and ConvTranspose (any number of spatial axes, groups, strides, dilations, padding).

Conv is im2col + one batched matrix product per group; ConvTranspose is the transposed product
followed by a col2im scatter-add with one vectorised step per kernel position.
"""

from __future__ import annotations

import itertools
import math

import numpy as np

from ...errors import ModelError
from ...ir.graph import Node
from ...ir.ops import register
from .common import Inputs, float_compute_dtype, optional, required
from .spatial import resolve_pads, strides_dilations, windows

__all__ = ["conv", "conv_transpose"]


def _operands(node: Node, inputs: Inputs) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, int]:
    x, w, b = required(node, inputs, 0), required(node, inputs, 1), optional(inputs, 2)
    if x.ndim < 3 or w.ndim != x.ndim:
        raise ModelError(f"{node.name}: {node.op} needs X and W of equal rank >= 3")
    group = int(node.attr("group", 1))
    if group < 1 or x.shape[1] % group:
        raise ModelError(f"{node.name}: group must divide the {x.shape[1]} input channels, not {group!r}")
    return x, w, b, group


@register("float", "Conv")
def conv(node: Node, inputs: Inputs) -> list[np.ndarray]:
    """ONNX Conv: ``Y[n, m] = sum_{c in group(m), k} X_pad[n, c, o*s + k*d] * W[m, c, k] + B[m]``."""
    x, w, b, group = _operands(node, inputs)
    spatial = x.ndim - 2
    kernel = w.shape[2:]
    if x.shape[1] != w.shape[1] * group or w.shape[0] % group:
        raise ModelError(f"{node.name}: W shape {w.shape} does not fit X shape {x.shape} with group {group}")
    strides, dilations = strides_dilations(node, spatial)
    pads = resolve_pads(node, x.shape[2:], kernel, strides, dilations)
    dtype = float_compute_dtype(x)
    padded = np.pad(x.astype(dtype, copy=False), [(0, 0), (0, 0), *pads])
    view = windows(padded, kernel, strides, dilations)  # (N, C, *out, *kernel)
    n, out = x.shape[0], view.shape[2:2 + spatial]
    c_g, m_g = w.shape[1], w.shape[0] // group
    # im2col per group: (G, N * out, C_g * kernel) @ (G, C_g * kernel, M_g)
    cols = view.reshape((n, group, c_g) + out + kernel)
    cols = cols.transpose((1, 0, *range(3, 3 + spatial), 2, *range(3 + spatial, 3 + 2 * spatial)))
    cols = cols.reshape(group, n * math.prod(out), c_g * math.prod(kernel))
    wmat = w.astype(dtype, copy=False).reshape(group, m_g, -1).transpose(0, 2, 1)
    y = np.matmul(cols, wmat).reshape((group, n) + out + (m_g,))
    y = np.moveaxis(y, -1, 2).transpose((1, 0, 2, *range(3, 3 + spatial))).reshape((n, group * m_g) + out)
    if b is not None:
        y = y + b.astype(dtype).reshape((-1,) + (1,) * spatial)
    return [y.astype(x.dtype, copy=False)]


def _transpose_geometry(node: Node, sizes: tuple[int, ...], kernel: tuple[int, ...], strides: list[int],
                        dilations: list[int]) -> tuple[list[int], list[int]]:
    """Output extents and begin pads of a ConvTranspose.

    With ``output_shape`` (or SAME_* auto_pad, which asks for ``in * stride``) the pads follow the
    spec's formula: the total padding is split with the odd element at the end for SAME_UPPER and
    at the beginning otherwise; a shape larger than the natural one extends the end (total
    clamped at 0, as onnxruntime does). Otherwise the explicit ``pads`` crop the natural result.
    """
    spatial = len(sizes)
    out_pad = [int(p) for p in node.attr("output_padding", None) or [0] * spatial]
    natural = [s * (n - 1) + p + (k - 1) * d + 1 for n, k, s, d, p in zip(sizes, kernel, strides, dilations, out_pad)]
    auto_pad = node.attr("auto_pad", "NOTSET") or "NOTSET"
    given = node.attr("output_shape", None)
    shape = [int(v) for v in given][-spatial:] if given else None
    if shape is None and auto_pad in ("SAME_UPPER", "SAME_LOWER"):
        shape = [n * s for n, s in zip(sizes, strides)]
    if shape is not None:
        totals = [max(0, nat - o) for nat, o in zip(natural, shape)]
        begins = [t // 2 if auto_pad == "SAME_UPPER" else t - t // 2 for t in totals]
        return shape, begins
    pads = [int(p) for p in node.attr("pads", None) or [0] * (2 * spatial)] if auto_pad == "NOTSET" else [0] * (2 * spatial)
    return [nat - pads[i] - pads[i + spatial] for i, nat in enumerate(natural)], pads[:spatial]


@register("float", "ConvTranspose")
def conv_transpose(node: Node, inputs: Inputs) -> list[np.ndarray]:
    """ONNX ConvTranspose: every input pixel adds ``X[n, c, i] * W[c, m, k]`` at output ``i*s + k*d - pad``."""
    x, w, b, group = _operands(node, inputs)
    spatial = x.ndim - 2
    kernel, sizes = tuple(w.shape[2:]), tuple(x.shape[2:])
    if w.shape[0] != x.shape[1]:
        raise ModelError(f"{node.name}: W shape {w.shape} does not fit X shape {x.shape}")
    strides, dilations = strides_dilations(node, spatial)
    out, begins = _transpose_geometry(node, sizes, kernel, strides, dilations)
    dtype = float_compute_dtype(x)
    n, c_g, m_g = x.shape[0], x.shape[1] // group, w.shape[1]
    # (G, N * in, C_g) @ (G, C_g, M_g * kernel) -> contributions per input pixel and kernel position
    xs = x.astype(dtype, copy=False).reshape((n, group, c_g, -1)).transpose(1, 0, 3, 2).reshape(group, -1, c_g)
    cols = np.matmul(xs, w.astype(dtype, copy=False).reshape(group, c_g, -1))
    cols = cols.reshape((group, n) + sizes + (m_g,) + kernel)
    cols = cols.transpose((1, 0, 2 + spatial, *range(3 + spatial, 3 + 2 * spatial), *range(2, 2 + spatial)))
    cols = cols.reshape((n, group * m_g) + kernel + sizes)
    # scatter-add into a buffer that covers both the full result and the requested output window
    shift = [max(0, -bg) for bg in begins]
    extent = [max((i - 1) * s + (k - 1) * d + 1, bg + o) + sh
              for i, k, s, d, bg, o, sh in zip(sizes, kernel, strides, dilations, begins, out, shift)]
    full = np.zeros((n, group * m_g, *extent), dtype)
    for pos in itertools.product(*(range(k) for k in kernel)):
        index = tuple(slice(sh + p * d, sh + p * d + s * (i - 1) + 1, s)
                      for p, d, s, i, sh in zip(pos, dilations, strides, sizes, shift))
        full[(slice(None), slice(None)) + index] += cols[(slice(None), slice(None)) + pos]
    y = full[(slice(None), slice(None)) + tuple(slice(bg + sh, bg + sh + o) for bg, sh, o in zip(begins, shift, out))]
    if b is not None:
        y = y + b.astype(dtype).reshape((-1,) + (1,) * spatial)
    return [y.astype(x.dtype, copy=False)]
