"""Binary element-wise ops with NumPy (= ONNX multidirectional) broadcasting, and Concat.

One float32 add/sub/mul rounds exactly as in float32 hardware, so these run in the input type.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from ...errors import ModelError
from ...ir.graph import Node
from ...ir.ops import register
from .common import Inputs, required

__all__ = ["add", "sub", "mul", "sum_", "concat"]

Kernel = Callable[[Node, Inputs], list[np.ndarray]]


def _binary(ufunc: np.ufunc) -> Kernel:
    def kernel(node: Node, inputs: Inputs) -> list[np.ndarray]:
        a, b = required(node, inputs, 0), required(node, inputs, 1)
        try:
            return [ufunc(a, b).astype(a.dtype, copy=False)]
        except ValueError as exc:
            raise ModelError(f"{node.name}: {node.op} shapes {a.shape} and {b.shape} do not broadcast ({exc})") from None

    kernel.__name__ = ufunc.__name__
    kernel.__doc__ = f"ONNX {ufunc.__name__} with NumPy broadcasting."
    return kernel


add = register("float", "Add")(_binary(np.add))
sub = register("float", "Sub")(_binary(np.subtract))
mul = register("float", "Mul")(_binary(np.multiply))


@register("float", "Sum")
def sum_(node: Node, inputs: Inputs) -> list[np.ndarray]:
    """ONNX Sum: the inputs added left to right with broadcasting (import expands it into Adds)."""
    parts = [x for x in inputs if x is not None]
    out = parts[0]
    for x in parts[1:]:
        out = _binary(np.add)(node, [out, x])[0]
    return [out]


@register("float", "Concat")
def concat(node: Node, inputs: Inputs) -> list[np.ndarray]:
    parts = [x for x in inputs if x is not None]
    try:
        return [np.concatenate(parts, axis=int(node.attr("axis")))]
    except (ValueError, TypeError, np.exceptions.AxisError) as exc:
        raise ModelError(f"{node.name}: Concat of shapes {[p.shape for p in parts]} on axis {node.attr('axis')!r} failed ({exc})") from None
