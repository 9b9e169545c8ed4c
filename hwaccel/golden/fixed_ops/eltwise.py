"""Integer element-wise ops: Add/Sub with per-input multipliers, Mul, Concat, LUT, Requant, Pad."""

from __future__ import annotations

import numpy as np

from ...ir.graph import Node

__all__ = ["add", "mul", "concat", "lut", "requant", "pad"]


def add(node: Node, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``clamp(zy + round(((a-za)*Ma + (b-zb)*Mb) * 2^-n))``: one rounding for the sum."""
    ma, mb = (int(m) for m in node.attr("multipliers"))
    za, zb = int(node.attr("a_zero_point", 0)), int(node.attr("b_zero_point", 0))
    total = (a.astype(np.int64) - za) * ma + (b.astype(np.int64) - zb) * mb
    return node.attr("requant").apply(total, channel_axis=0)


def mul(node: Node, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    za, zb = int(node.attr("a_zero_point", 0)), int(node.attr("b_zero_point", 0))
    product = (a.astype(np.int64) - za) * (b.astype(np.int64) - zb)
    return node.attr("requant").apply(product, channel_axis=0)


def requant(node: Node, x: np.ndarray) -> np.ndarray:
    zx = int(node.attr("x_zero_point", 0))
    return node.attr("requant").apply(x.astype(np.int64) - zx, channel_axis=int(node.attr("channel_axis", 1)))


def concat(node: Node, *inputs: np.ndarray) -> np.ndarray:
    parts = []
    for x, zx, rq in zip(inputs, node.attr("x_zero_points"), node.attr("requants")):
        parts.append(x.astype(np.int64) if rq is None else rq.apply(x.astype(np.int64) - int(zx), channel_axis=0))
    return np.concatenate(parts, axis=int(node.attr("axis")))


def lut(node: Node, x: np.ndarray) -> np.ndarray:
    table = np.asarray(node.attr("table"), dtype=np.int64)
    return table[x.astype(np.int64) - int(node.attr("in_qmin"))]


def pad(node: Node, x: np.ndarray) -> np.ndarray:
    """Constant padding with the zero point; ``pads`` attr in ONNX order (all begins, then all ends)."""
    pads = list(node.attr("pads"))
    rank = x.ndim
    widths = [(int(pads[i]), int(pads[i + rank])) for i in range(rank)]
    if any(b < 0 or e < 0 for b, e in widths):
        raise ValueError(f"{node.name}: negative pads are not supported in fixed point")
    return np.pad(x.astype(np.int64), widths, constant_values=int(node.attr("x_zero_point", 0)))
