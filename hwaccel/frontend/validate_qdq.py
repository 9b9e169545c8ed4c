"""Import checks of quantization parameters: the ``check`` rules of the op table's Q/DQ and QLinear rows.

Scales are finite floats in [:data:`SCALE_MIN`, :data:`SCALE_MAX`] (a normal float32, so
``1/scale`` and ``scale * code`` stay finite), zero points are integers of a code type with the
scale's shape, a per-axis parameter names an axis of its tensor and has one entry per element of
that axis, and a pair is well formed: DequantizeLinear reads integer codes of its zero point's
type, QuantizeLinear reads floats.
"""

from __future__ import annotations

import numpy as np

from ..errors import ModelError
from ..ir.graph import Graph, Node
from ..ir.ops import register
from .validate_ops import conv_node, matmul, shape_of

__all__ = ["SCALE_MIN", "SCALE_MAX", "CODE_TYPES", "check_params"]

SCALE_MIN = float(np.finfo(np.float32).tiny)  # 2**-126: below it float32 is denormal and 1/scale overflows
SCALE_MAX = 2.0**100  # a 16-bit code times the scale stays a finite float32
CODE_TYPES = ("int8", "uint8", "int16", "uint16", "int32")


def _dtype(graph: Graph, name: str) -> str | None:
    if name in graph.initializers:
        return str(graph.initializers[name].dtype)
    info = graph.values.get(name)
    return None if info is None or info.dtype == "undefined" else info.dtype


def check_params(graph: Graph, x: str, scale: str, zero: str, axis: int | None) -> None:
    """The scale and zero point of tensor ``x`` (``axis``: the per-axis axis, None: per tensor only)."""
    s = graph.initializers.get(scale) if scale else None
    if s is not None:
        if s.dtype.kind != "f":
            raise ModelError(f"scale {scale!r} must be a float tensor, not {s.dtype}")
        if s.ndim > 1:
            raise ModelError(f"scale {scale!r} must be a scalar or 1-D, not shape {s.shape}")
        values = s.astype(np.float64).reshape(-1)
        bad = ~np.isfinite(values) | (values < SCALE_MIN) | (values > SCALE_MAX)
        if bad.any():
            raise ModelError(f"scale {scale!r} must be finite and in [{SCALE_MIN:.4g}, {SCALE_MAX:.4g}], "
                             f"not {values[bad][0]!r}")
    z = graph.initializers.get(zero) if zero else None
    if z is not None:
        if str(z.dtype) not in CODE_TYPES:
            raise ModelError(f"zero point {zero!r} must have a code type ({', '.join(CODE_TYPES)}), not {z.dtype}")
        if s is not None and z.size != s.size:
            raise ModelError(f"zero point {zero!r} must have the {s.size} entries of scale {scale!r}, not {z.size}")
    size = max(s.size if s is not None else 1, z.size if z is not None else 1)
    if size == 1:
        return
    if axis is None:
        raise ModelError(f"scale {scale!r} must have one entry here, not {size}")
    shape = shape_of(graph, x)
    if shape is None:
        return
    if not -len(shape) <= axis < len(shape):
        raise ModelError(f"attribute axis must be in {-len(shape)}..{len(shape) - 1} for {x!r} of rank {len(shape)}, not {axis}")
    extent = shape[axis]
    if isinstance(extent, int) and extent != size:
        raise ModelError(f"scale {scale!r} must have one entry per element of axis {axis} of {x!r} ({extent}), not {size}")


def _quantize_linear(node: Node, graph: Graph) -> None:
    x, scale = node.inputs[0], node.inputs[1]
    zero = node.inputs[2] if len(node.inputs) > 2 else ""
    check_params(graph, x, scale, zero, int(node.attr("axis", 1)))
    x_type, z_type = _dtype(graph, x), _dtype(graph, zero) if zero else None
    if node.op == "DequantizeLinear":
        if x_type is not None and x_type not in CODE_TYPES:
            raise ModelError(f"input {x!r} must be integer codes ({', '.join(CODE_TYPES)}), not {x_type}")
        if x_type is not None and z_type is not None and x_type != z_type:
            raise ModelError(f"zero point {zero!r} must have the type of the codes {x!r} ({x_type}), not {z_type}")
    elif x_type is not None and not x_type.startswith("float"):
        raise ModelError(f"input {x!r} must be float, not {x_type}")
    elif z_type == "int32":
        raise ModelError(f"zero point {zero!r} must be 8 or 16 bits for QuantizeLinear, not int32")


def _qlinear(node: Node, graph: Graph) -> None:
    """QLinearConv / QLinearMatMul: x at 0-2, the weight at 3-5 (per output channel), y at 6-7."""
    (conv_node if node.op == "QLinearConv" else matmul)(node, graph)
    w, rank = node.inputs[3], len(shape_of(graph, node.inputs[3]) or ())
    check_params(graph, node.inputs[0], node.inputs[1], node.inputs[2], None)
    check_params(graph, w, node.inputs[4], node.inputs[5], 0 if node.op == "QLinearConv" else rank - 1)
    check_params(graph, node.outputs[0], node.inputs[6], node.inputs[7], None)


def _integer(node: Node, graph: Graph) -> None:
    """ConvInteger / MatMulInteger: their geometry, zero points of 8 or 16 bits."""
    (conv_node if node.op == "ConvInteger" else matmul)(node, graph)
    for k in (2, 3):
        zero = node.inputs[k] if len(node.inputs) > k else ""
        z = graph.initializers.get(zero) if zero else None
        if z is not None and str(z.dtype) not in CODE_TYPES[:4]:
            raise ModelError(f"zero point {zero!r} must be 8 or 16 bits, not {z.dtype}")


register("check", "QuantizeLinear", "DequantizeLinear")(_quantize_linear)
register("check", "QLinearConv", "QLinearMatMul")(_qlinear)
register("check", "ConvInteger", "MatMulInteger")(_integer)
