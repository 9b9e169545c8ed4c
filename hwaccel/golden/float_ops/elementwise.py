"""Element-wise ops with NumPy (= ONNX multidirectional) broadcasting: binary ones, the variadic
Sum / Mean / Max / Min (left to right, as onnxruntime), and Concat.

One float32 add/sub/mul rounds exactly as in float32 hardware, so these run in the input type.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from ...errors import ModelError
from ...ir.graph import Node
from ...ir.ops import register
from .common import Inputs, required

__all__ = ["add", "sub", "mul", "sum_", "max_", "min_", "mean", "concat"]

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


def _fold(node: Node, inputs: Inputs, ufunc: np.ufunc) -> np.ndarray:
    """The inputs (at least one) combined left to right by ``ufunc``, with broadcasting."""
    parts = [x for x in inputs if x is not None]
    if not parts:
        raise ModelError(f"{node.name}: {node.op} needs at least one input, not 0")
    out = parts[0]
    for x in parts[1:]:
        out = _binary(ufunc)(node, [out, x])[0]
    return out


@register("float", "Sum")
def sum_(node: Node, inputs: Inputs) -> list[np.ndarray]:
    """ONNX Sum: the inputs added left to right with broadcasting (import expands it into Adds)."""
    return [_fold(node, inputs, np.add)]


@register("float", "Max")
def max_(node: Node, inputs: Inputs) -> list[np.ndarray]:
    """ONNX Max: element-wise maximum of the inputs with broadcasting (NaN propagates)."""
    return [_fold(node, inputs, np.maximum)]


@register("float", "Min")
def min_(node: Node, inputs: Inputs) -> list[np.ndarray]:
    """ONNX Min: element-wise minimum of the inputs with broadcasting (NaN propagates)."""
    return [_fold(node, inputs, np.minimum)]


@register("float", "Mean")
def mean(node: Node, inputs: Inputs) -> list[np.ndarray]:
    """ONNX Mean: the inputs added left to right, times ``1/n`` in the input type (as onnxruntime
    computes it, bit for bit; the ONNX reference divides by ``n``: within an ulp)."""
    total = _fold(node, inputs, np.add)
    n = len([x for x in inputs if x is not None])
    return [(total * (total.dtype.type(1) / total.dtype.type(n))).astype(total.dtype, copy=False)]


@register("float", "Concat")
def concat(node: Node, inputs: Inputs) -> list[np.ndarray]:
    parts = [x for x in inputs if x is not None]
    try:
        return [np.concatenate(parts, axis=int(node.attr("axis")))]
    except (ValueError, TypeError, np.exceptions.AxisError) as exc:
        raise ModelError(f"{node.name}: Concat of shapes {[p.shape for p in parts]} on axis {node.attr('axis')!r} failed ({exc})") from None
