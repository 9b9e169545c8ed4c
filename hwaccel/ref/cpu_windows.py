"""Sliding-window geometry of convolutions and pools: kernel-tap views and index tables.

The CPU engine holds an activation as a (rows, C * prod(spatial)) float array in C order. A window
op either visits its kernel taps as strided views of the padded input (:meth:`Sliding.taps`) or, for
a small convolution, becomes one dense (Toeplitz) matrix over the whole feature vector
(:func:`toeplitz`). Padding holds ``x - zero_point = 0`` in the engine's offset codes, so a
convolution or a sum ignores it, exactly as the golden kernels pad.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from ..golden.fixed_ops.common import spatial_pads
from ..golden.fixed_ops.pool import pool_output_extent
from ..ir.graph import Node

__all__ = ["Sliding", "conv_sliding", "pool_sliding", "toeplitz", "pool_members"]


@dataclass(frozen=True)
class Sliding:
    """Windows over ``in_spatial``: output position ``o`` and tap ``k`` read the (padded) input at
    ``o * stride + k * dilation`` per axis; ``pads`` (begin, end) include a ceil-mode overhang."""

    in_spatial: tuple[int, ...]
    out_spatial: tuple[int, ...]
    kernel: tuple[int, ...]
    strides: tuple[int, ...]
    dilations: tuple[int, ...]
    pads: tuple[tuple[int, int], ...]

    @property
    def pointwise(self) -> bool:
        """A 1x1 kernel at stride 1 without padding: every output pixel is its input pixel."""
        return self.kernel == (1,) * len(self.kernel) and self.out_spatial == self.in_spatial

    def padded(self, x: np.ndarray, axis: int, value: float = 0.0) -> np.ndarray:
        """``x`` padded on its spatial axes ``axis, axis + 1, ...``."""
        if not any(b or e for b, e in self.pads):
            return x
        widths = [(0, 0)] * x.ndim
        widths[axis:axis + len(self.pads)] = self.pads
        return np.pad(x, widths, constant_values=value)

    def taps(self, padded: np.ndarray, axis: int) -> Iterator[np.ndarray]:
        """One strided view of ``padded`` per kernel tap (row-major), spatial axes ``out_spatial``."""
        for tap in np.ndindex(*self.kernel):
            window = tuple(slice(k * d, k * d + (o - 1) * s + 1, s)
                           for k, d, o, s in zip(tap, self.dilations, self.out_spatial, self.strides))
            yield padded[(slice(None),) * axis + window]

    def windows(self) -> tuple[np.ndarray, np.ndarray]:
        """``(index, valid)`` of shape (outputs, taps): the flattened input position of each tap of each
        output (clipped into the input) and whether it is inside the input."""
        rank = len(self.in_spatial)
        grids = np.meshgrid(*[np.arange(o) for o in self.out_spatial], *[np.arange(k) for k in self.kernel], indexing="ij")
        coords = [grids[i] * self.strides[i] - self.pads[i][0] + grids[rank + i] * self.dilations[i] for i in range(rank)]
        valid = np.ones(grids[0].shape, bool)
        for c, size in zip(coords, self.in_spatial):
            valid &= (c >= 0) & (c < size)
        flat = np.ravel_multi_index([np.clip(c, 0, s - 1) for c, s in zip(coords, self.in_spatial)], self.in_spatial)
        shape = (math.prod(self.out_spatial), math.prod(self.kernel))
        return flat.reshape(shape), valid.reshape(shape)


def _attrs(node: Node, rank: int) -> tuple[tuple[int, ...], tuple[int, ...], list[tuple[int, int]]]:
    strides = tuple(int(s) for s in node.attr("strides", [1] * rank))
    dilations = tuple(int(d) for d in node.attr("dilations", [1] * rank))
    return strides, dilations, spatial_pads(node.attr("pads"), rank)


def conv_sliding(node: Node, in_spatial: tuple[int, ...], kernel: tuple[int, ...]) -> Sliding:
    """The windows of a QConv (floor mode, as the golden kernel)."""
    strides, dilations, pads = _attrs(node, len(in_spatial))
    out = tuple((size + b + e - (k - 1) * d - 1) // s + 1
                for size, (b, e), k, s, d in zip(in_spatial, pads, kernel, strides, dilations))
    return Sliding(in_spatial, out, kernel, strides, dilations, tuple(pads))


def pool_sliding(node: Node, in_spatial: tuple[int, ...]) -> Sliding:
    """The windows of a QMaxPool / QAveragePool, the ceil-mode overhang added to the end padding."""
    kernel = tuple(int(k) for k in node.attr("kernel_shape"))
    strides, dilations, pads = _attrs(node, len(in_spatial))
    ceil_mode = bool(node.attr("ceil_mode", 0))
    out = tuple(pool_output_extent(size, k, s, d, b, e, ceil_mode)
                for size, k, s, d, (b, e) in zip(in_spatial, kernel, strides, dilations, pads))
    ends = [max(e, (o - 1) * s + (k - 1) * d + 1 - size - b)
            for o, s, k, d, size, (b, e) in zip(out, strides, kernel, dilations, in_spatial, pads)]
    return Sliding(in_spatial, out, kernel, strides, dilations, tuple((b, e) for (b, _), e in zip(pads, ends)))


def toeplitz(sliding: Sliding, weights: np.ndarray) -> np.ndarray:
    """Dense int64 matrix ``T`` with ``acc = (x - zx) @ T`` for one group: rows (C, *in), columns (M, *out).

    ``weights`` are the zero-point-offset weights ``w - zw`` of shape (M, C, *kernel).
    """
    m, c = weights.shape[:2]
    index, valid = sliding.windows()
    in_size, (out_size, taps) = math.prod(sliding.in_spatial), index.shape
    rows = (np.arange(c) * in_size)[None, :, None, None] + index[None, None]  # (1, C, out, taps)
    cols = (np.arange(m) * out_size)[:, None, None, None] + np.arange(out_size)[None, None, :, None]
    rows, cols = np.broadcast_arrays(rows, cols)  # (M, C, out, taps)
    values = np.broadcast_to(weights.reshape(m, c, 1, taps), rows.shape)
    keep = np.broadcast_to(valid[None, None], rows.shape)
    matrix = np.zeros((c * in_size, m * out_size), np.int64)
    matrix[rows[keep], cols[keep]] = values[keep]  # distinct taps of a window read distinct inputs
    return matrix


def pool_members(sliding: Sliding, channels: int) -> np.ndarray:
    """(taps, C * out): the C-order input feature of each tap of each pooled output; a padding tap
    names a member of its own window instead (every window must have one)."""
    index, valid = sliding.windows()
    first = index[np.arange(len(index)), valid.argmax(axis=1)]
    spatial = np.where(valid, index, first[:, None])  # (out, taps)
    members = (np.arange(channels) * math.prod(sliding.in_spatial))[:, None, None] + spatial[None]
    return members.reshape(-1, members.shape[-1]).T.copy()
