"""Data movement and shape arithmetic: Flatten, Reshape, Transpose, Squeeze, Unsqueeze, Identity,
Dropout (inference), Shape, Gather, Cast, ConstantOfShape, Constant and Pad."""

from __future__ import annotations

import math

import numpy as np
from onnx import helper

from ...errors import ModelError
from ...ir.graph import Node
from ...ir.ops import register
from .common import Inputs, optional, required

__all__ = ["flatten", "reshape", "transpose", "squeeze", "unsqueeze", "identity", "dropout", "shape", "gather",
           "cast", "constant_of_shape", "constant", "pad", "onnx_dtype"]

def _axes(node: Node, inputs: Inputs) -> list[int] | None:
    """Axes from input 1 (opset >= 13) or the ``axes`` attribute (before)."""
    given = optional(inputs, 1)
    if given is not None:
        return [int(a) for a in np.asarray(given).reshape(-1)]
    attr = node.attr("axes", None)
    return None if attr is None else [int(a) for a in attr]


@register("float", "Flatten")
def flatten(node: Node, inputs: Inputs) -> list[np.ndarray]:
    x = required(node, inputs, 0)
    axis = int(node.attr("axis", 1))
    if not -x.ndim <= axis <= x.ndim:
        raise ModelError(f"{node.name}: Flatten axis must be in [{-x.ndim}, {x.ndim}], not {axis!r}")
    axis = axis + x.ndim if axis < 0 else axis
    return [x.reshape(math.prod(x.shape[:axis]), math.prod(x.shape[axis:]))]


@register("float", "Reshape")
def reshape(node: Node, inputs: Inputs) -> list[np.ndarray]:
    """Reshape; a 0 copies the input extent unless ``allowzero=1``, one -1 is inferred."""
    x, target = required(node, inputs, 0), [int(d) for d in required(node, inputs, 1).reshape(-1)]
    if not node.attr("allowzero", 0):
        target = [x.shape[i] if d == 0 else d for i, d in enumerate(target)]
    try:
        return [x.reshape(target)]
    except ValueError as exc:
        raise ModelError(f"{node.name}: cannot reshape {x.shape} to {target} ({exc})") from None


@register("float", "Transpose")
def transpose(node: Node, inputs: Inputs) -> list[np.ndarray]:
    perm = node.attr("perm", None)
    return [np.transpose(required(node, inputs, 0), None if perm is None else [int(p) for p in perm])]


@register("float", "Squeeze")
def squeeze(node: Node, inputs: Inputs) -> list[np.ndarray]:
    axes = _axes(node, inputs)
    x = required(node, inputs, 0)
    try:
        return [np.squeeze(x, axis=None if axes is None else tuple(axes))]
    except ValueError as exc:
        raise ModelError(f"{node.name}: cannot squeeze axes {axes} of shape {x.shape} ({exc})") from None


@register("float", "Unsqueeze")
def unsqueeze(node: Node, inputs: Inputs) -> list[np.ndarray]:
    """Insert size-1 axes; negative axes count from the end of the output."""
    axes = _axes(node, inputs)
    if axes is None:
        raise ModelError(f"{node.name}: Unsqueeze needs axes")
    return [np.expand_dims(required(node, inputs, 0), tuple(axes))]


@register("float", "Identity")
def identity(node: Node, inputs: Inputs) -> list[np.ndarray]:
    return [required(node, inputs, 0)]


@register("float", "Dropout")
def dropout(node: Node, inputs: Inputs) -> list[np.ndarray]:
    """Inference Dropout: the input unchanged and an all-true mask. Training with ratio > 0 is random
    and not supported."""
    x = required(node, inputs, 0)
    training, given_ratio = optional(inputs, 2), optional(inputs, 1)
    ratio = float(node.attr("ratio", 0.5)) if given_ratio is None else float(given_ratio)
    if training is not None and bool(np.asarray(training)) and ratio > 0:
        raise ModelError(f"{node.name}: Dropout training_mode must be false (random masks are not reproducible), not True")
    return [x, np.ones(x.shape, dtype=bool)]


@register("float", "Shape")
def shape(node: Node, inputs: Inputs) -> list[np.ndarray]:
    """The input shape as int64, sliced by ``start``/``end`` (clamped like Python slices)."""
    start, end = int(node.attr("start", 0)), node.attr("end", None)
    return [np.asarray(required(node, inputs, 0).shape[start:None if end is None else int(end)], dtype=np.int64)]


@register("float", "Gather")
def gather(node: Node, inputs: Inputs) -> list[np.ndarray]:
    data, indices = required(node, inputs, 0), required(node, inputs, 1)
    axis = int(node.attr("axis", 0))
    try:
        return [np.take(data, indices.astype(np.int64), axis=axis)]
    except (IndexError, np.exceptions.AxisError) as exc:
        raise ModelError(f"{node.name}: Gather indices out of range for shape {data.shape} on axis {axis} ({exc})") from None


def onnx_dtype(node: Node, code: int) -> np.dtype:
    """The NumPy type of ONNX element type ``code``, for the types NumPy has natively."""
    try:
        dtype = np.dtype(helper.tensor_dtype_to_np_dtype(int(code)))
    except (KeyError, TypeError, ValueError):
        dtype = None
    if dtype is None or dtype.kind not in "biuf":
        raise ModelError(f"{node.name}: element type must be a NumPy bool/int/float type, not ONNX type {code!r}")
    return dtype


@register("float", "Cast")
def cast(node: Node, inputs: Inputs) -> list[np.ndarray]:
    """Cast to ``to`` (floats to integers truncate toward zero; to bool is ``x != 0``)."""
    return [required(node, inputs, 0).astype(onnx_dtype(node, node.attr("to")))]


@register("float", "ConstantOfShape")
def constant_of_shape(node: Node, inputs: Inputs) -> list[np.ndarray]:
    """A read-only broadcast view of the one value: no memory per element (the ONNX zoo's light
    models build every weight this way; VGG-19's would take 575 MB as full arrays)."""
    value = node.attr("value", None)
    value = np.zeros(1, np.float32) if value is None else np.asarray(value).reshape(-1)
    dims = [int(d) for d in required(node, inputs, 0).reshape(-1)]
    return [np.broadcast_to(value[:1].reshape(()), dims)]


_CONSTANT_KINDS = {"value": None, "value_float": np.float32, "value_floats": np.float32,
                   "value_int": np.int64, "value_ints": np.int64}


@register("float", "Constant")
def constant(node: Node, inputs: Inputs) -> list[np.ndarray]:
    for key, dtype in _CONSTANT_KINDS.items():
        if key in node.attrs:
            return [np.asarray(node.attrs[key], dtype=dtype)]
    raise ModelError(f"{node.name}: Constant value must be one of {', '.join(_CONSTANT_KINDS)}, not {sorted(node.attrs)!r}")


_PAD_MODES = ("constant", "reflect", "edge", "wrap")  # NumPy and ONNX agree on all four


@register("float", "Pad")
def pad(node: Node, inputs: Inputs) -> list[np.ndarray]:
    """Pad (pads, constant_value, axes as inputs since opset 11; attributes before); negative pads crop."""
    x = required(node, inputs, 0)
    mode = node.attr("mode", "constant")
    if mode not in _PAD_MODES:
        raise ModelError(f"{node.name}: Pad mode must be one of {', '.join(_PAD_MODES)}, not {mode!r}")
    given = optional(inputs, 1)
    pads = [int(p) for p in (np.asarray(given).reshape(-1) if given is not None else node.attr("pads", []))]
    value = optional(inputs, 2)
    value = node.attr("value", 0.0) if value is None or np.size(value) == 0 else np.asarray(value).reshape(-1)[0]
    axes_in = optional(inputs, 3)
    axes = list(range(x.ndim)) if axes_in is None else [int(a) % x.ndim for a in np.asarray(axes_in).reshape(-1)]
    if len(pads) != 2 * len(axes):
        raise ModelError(f"{node.name}: pads must have {2 * len(axes)} entries, not {pads!r}")
    widths = [(0, 0)] * x.ndim
    for i, axis in enumerate(axes):
        widths[axis] = (pads[i], pads[i + len(axes)])
    crop = tuple(slice(max(0, -b), n - max(0, -e)) for (b, e), n in zip(widths, x.shape))
    grow = [(max(0, b), max(0, e)) for b, e in widths]
    kwargs = {"constant_values": np.asarray(value).astype(x.dtype)} if mode == "constant" else {}
    return [np.pad(x[crop], grow, mode=mode, **kwargs)]
