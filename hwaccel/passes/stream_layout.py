"""Stream layouts: how a value in IR (NCHW) order is laid out on an HWC stream.

A layout ``(source, axes)`` says ``stream = x.reshape(source).transpose(axes).reshape(-1)`` for a
value ``x`` (batch dropped). Reshape-like ops (Flatten, Reshape, Squeeze, Unsqueeze) keep the
layout (C-order reshapes do not move elements); Transpose composes when the value still has the
source shape. A MatMul reads its input features in stream order, so its weight rows are
permuted by :func:`stream_order`.
"""

from __future__ import annotations

import math

import numpy as np

from ..errors import CompileError

__all__ = ["Layout", "channels_last", "identity", "stream_order", "stream_shape", "refined", "transposed", "same_order"]

Layout = tuple[tuple[int, ...], tuple[int, ...]]


def identity(shape: tuple[int, ...]) -> Layout:
    """The layout that streams ``shape`` in C order."""
    return tuple(shape), tuple(range(len(shape)))


def channels_last(shape: tuple[int, ...]) -> Layout:
    """``(C, *spatial)`` streamed spatial-major with channels innermost (HWC)."""
    if len(shape) < 2:
        return identity(shape)
    return tuple(shape), tuple(range(1, len(shape))) + (0,)


def stream_order(layout: Layout) -> np.ndarray:
    """``order[j]``: the C-order flat index of the value element at stream position ``j``."""
    source, axes = layout
    return np.arange(math.prod(source), dtype=np.int64).reshape(source).transpose(axes).reshape(-1)


def same_order(a: Layout, b: Layout) -> bool:
    """Whether two layouts stream the elements in the same order."""
    return a == b or np.array_equal(stream_order(a), stream_order(b))


def stream_shape(layout: Layout) -> tuple[int, int, int]:
    """``(H, W, C)`` of the stream: innermost axis = channels, the next = width, the rest = height."""
    source, axes = layout
    moved = [source[a] for a in axes] or [1]
    c = moved[-1]
    w = moved[-2] if len(moved) >= 2 else 1
    h = math.prod(moved[:-2]) if len(moved) >= 3 else 1
    return h, w, c


def refined(layout: Layout, logical: tuple[int, ...]) -> Layout | None:
    """``layout`` restated on ``logical``, a C-order reshape that splits each source axis into
    consecutive axes (``(C, H, W)`` viewed as ``(g, C/g, H, W)``: a channel shuffle's first step);
    None when ``logical`` does not split the source that way."""
    source, axes = layout
    groups: list[list[int]] = []
    k = 0
    for size in source:
        group: list[int] = []
        prod = 1
        while k < len(logical) and (prod < size or not group):
            prod *= logical[k]
            group.append(k)
            k += 1
        if prod != size:
            return None
        groups.append(group)
    if k != len(logical):
        return None
    return tuple(logical), tuple(i for a in axes for i in groups[a])


def transposed(layout: Layout, logical: tuple[int, ...], perm: tuple[int, ...]) -> Layout:
    """The layout of ``x.transpose(perm)`` for a value ``x`` of shape ``logical`` laid out as ``layout``."""
    if tuple(logical) != tuple(layout[0]):
        split = refined(layout, tuple(logical))
        if split is None:
            raise CompileError(f"Transpose must act on a value in its source shape {layout[0]} or a split of its axes, "
                               f"not on shape {logical}")
        layout = split
    source, axes = layout
    inverse = tuple(int(i) for i in np.argsort(perm))
    return tuple(logical[p] for p in perm), tuple(inverse[a] for a in axes)
