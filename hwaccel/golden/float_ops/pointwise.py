"""Activations, Softmax, BatchNormalization and LRN; transcendental functions are evaluated in float64
and cast back to the input type."""

from __future__ import annotations

import numpy as np

from ...errors import ModelError
from ...ir.graph import Node
from ...ir.ops import register
from .common import Inputs, optional, required

__all__ = ["relu", "clip", "leaky_relu", "sigmoid", "hard_sigmoid", "tanh", "softmax", "softmax_legacy",
           "batch_normalization", "sigmoid_values", "lrn"]


def _in_float64(function):
    def kernel(node: Node, inputs: Inputs) -> list[np.ndarray]:
        x = required(node, inputs, 0)
        return [function(node, x.astype(np.float64, copy=False)).astype(x.dtype, copy=False)]

    kernel.__name__ = function.__name__
    kernel.__doc__ = function.__doc__
    return kernel


@register("float", "Relu")
def relu(node: Node, inputs: Inputs) -> list[np.ndarray]:
    x = required(node, inputs, 0)
    return [np.maximum(x, x.dtype.type(0))]


@register("float", "Clip")
def clip(node: Node, inputs: Inputs) -> list[np.ndarray]:
    """Clip to [min, max] (inputs since opset 11, attributes before); min > max gives max everywhere."""
    x = required(node, inputs, 0)
    lo, hi = optional(inputs, 1), optional(inputs, 2)
    lo = node.attr("min", None) if lo is None else lo
    hi = node.attr("max", None) if hi is None else hi
    y = x
    if lo is not None:
        y = np.maximum(y, np.asarray(lo).astype(x.dtype))
    if hi is not None:
        y = np.minimum(y, np.asarray(hi).astype(x.dtype))
    return [y]


@register("float", "LeakyRelu")
def leaky_relu(node: Node, inputs: Inputs) -> list[np.ndarray]:
    x = required(node, inputs, 0)
    alpha = x.dtype.type(node.attr("alpha", 0.01))
    return [np.where(x < 0, x * alpha, x)]


def sigmoid_values(x: np.ndarray) -> np.ndarray:
    """Overflow-free logistic function ``1 / (1 + exp(-x))`` of a float array."""
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


@register("float", "Sigmoid")
@_in_float64
def sigmoid(node: Node, x: np.ndarray) -> np.ndarray:
    """``1 / (1 + exp(-x))``."""
    return sigmoid_values(x)


@register("float", "HardSigmoid")
@_in_float64
def hard_sigmoid(node: Node, x: np.ndarray) -> np.ndarray:
    """``max(0, min(1, alpha * x + beta))`` (alpha 0.2, beta 0.5)."""
    return np.clip(float(node.attr("alpha", 0.2)) * x + float(node.attr("beta", 0.5)), 0.0, 1.0)


@register("float", "Tanh")
@_in_float64
def tanh(node: Node, x: np.ndarray) -> np.ndarray:
    """Hyperbolic tangent."""
    return np.tanh(x)


def _softmax_along(x: np.ndarray, axis: int) -> np.ndarray:
    shifted = x - x.max(axis=axis, keepdims=True)
    e = np.exp(shifted)
    return e / e.sum(axis=axis, keepdims=True)


def _axis(node: Node, default: int, rank: int) -> int:
    axis = int(node.attr("axis", default))
    if not -rank <= axis < max(rank, 1):
        raise ModelError(f"{node.name}: axis must be in [{-rank}, {rank - 1}], not {axis!r}")
    return axis % max(rank, 1)


@register("float", "Softmax")
@_in_float64
def softmax(node: Node, x: np.ndarray) -> np.ndarray:
    """Softmax along one axis (opset >= 13, default axis -1)."""
    return _softmax_along(x, _axis(node, -1, x.ndim))


@_in_float64
def softmax_legacy(node: Node, x: np.ndarray) -> np.ndarray:
    """Softmax of opsets < 13: the input is coerced to 2-D at ``axis`` (default 1) and normalised
    over all trailing axes together."""
    axis = _axis(node, 1, x.ndim)
    rows = int(np.prod(x.shape[:axis], dtype=np.int64))
    return _softmax_along(x.reshape(rows, -1), 1).reshape(x.shape)


@register("float", "BatchNormalization")
def batch_normalization(node: Node, inputs: Inputs) -> list[np.ndarray]:
    """``Y = scale * (X - mean) / sqrt(var + epsilon) + B`` per channel (axis 1).

    With ``training_mode=1`` the batch statistics are used and the running mean and variance
    (``running * momentum + batch * (1 - momentum)``) are also returned.
    """
    x = required(node, inputs, 0)
    scale, bias, mean, var = (required(node, inputs, i).astype(np.float64) for i in range(1, 5))
    eps = float(node.attr("epsilon", 1e-5))
    xf = x.astype(np.float64, copy=False)
    channel = (1, -1) + (1,) * (x.ndim - 2)
    training = bool(node.attr("training_mode", 0))
    if not training and sum(1 for o in node.outputs if o) > 1:
        raise ModelError(f"{node.name}: BatchNormalization has running-statistics outputs, which need training_mode=1")
    if training:
        axes = (0,) + tuple(range(2, x.ndim))
        batch_mean, batch_var = xf.mean(axis=axes), xf.var(axis=axes)
        momentum = float(node.attr("momentum", 0.9))
        running = [mean * momentum + batch_mean * (1 - momentum), var * momentum + batch_var * (1 - momentum)]
        mean, var = batch_mean, batch_var
    y = (xf - mean.reshape(channel)) / np.sqrt(var.reshape(channel) + eps) * scale.reshape(channel) + bias.reshape(channel)
    outputs = [y] + (running if training else [])
    return [v.astype(x.dtype, copy=False) for v in outputs]


@register("float", "LRN")
def lrn(node: Node, inputs: Inputs) -> list[np.ndarray]:
    """Local response normalization across channels (axis 1): ``x / (bias + alpha / size *
    sum of x**2 over the ``size`` channels around c)**beta``, the window ``floor((size - 1) / 2)``
    channels before and ``ceil((size - 1) / 2)`` after (ONNX), in float64."""
    x = required(node, inputs, 0)
    size = int(node.attr("size"))
    alpha, beta, bias = (float(node.attr(k, d)) for k, d in (("alpha", 1e-4), ("beta", 0.75), ("bias", 1.0)))
    squares = np.square(x.astype(np.float64))
    before, after = (size - 1) // 2, size // 2
    padded = np.pad(squares, [(0, 0), (before, after)] + [(0, 0)] * (x.ndim - 2))
    cumulative = np.concatenate([np.zeros_like(padded[:, :1]), np.cumsum(padded, axis=1)], axis=1)
    channels = x.shape[1]
    window = cumulative[:, size:size + channels] - cumulative[:, :channels]
    return [(x / (bias + alpha / size * window) ** beta).astype(x.dtype, copy=False)]
