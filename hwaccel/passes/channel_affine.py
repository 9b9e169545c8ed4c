"""Per-channel affine maps of float models as BatchNormalization, then as depthwise 1x1 convolutions.

Caffe-era exporters (the ImageNet DenseNet-121 and Inception v2 of the onnx wheel) write a batch
norm and then a "scale layer": ``BatchNormalization -> Mul(c) -> Add(d)`` with ``c`` and ``d``
constants of one value per channel; DenseNet applies it before each convolution (pre-activation),
where no convolution precedes it to fold into. Three steps, all exact rewrites of the float map:

1. :func:`affine_to_batchnorm`: a ``Mul`` or ``Add`` of an NCHW value by a per-channel (or scalar)
   constant becomes a ``BatchNormalization`` (``gamma = c`` or ``beta = d``, mean 0, variance 1,
   epsilon 0), and a chain of them becomes one (``s2 (s1 x + t1) + t2``);
2. :func:`~.fold_batchnorm.fold_batchnorm` folds the ones a Conv or Gemm feeds into it;
3. :func:`batchnorm_to_depthwise`: each one left becomes a ``Conv`` with ``group = C`` and a 1x1
   kernel (weight = scale, bias = shift), which the quantizer and the compiler treat as any
   depthwise convolution (a ``dwconv`` stage of one tap in hardware).

Only graphs without Q/DQ nodes are rewritten: a quantized model's float ops stay as written.
"""

from __future__ import annotations

import numpy as np

from ..ir.graph import Graph, Node, TensorInfo

__all__ = ["affine_to_batchnorm", "batchnorm_to_depthwise"]

_QDQ = ("QuantizeLinear", "DequantizeLinear")


def _is_float_graph(graph: Graph) -> bool:
    return not any(n.op in _QDQ for n in graph.nodes)


def _per_channel(graph: Graph, x: str, c: np.ndarray) -> np.ndarray | None:
    """``c`` as one value per channel of the NCHW value ``x`` (a scalar repeats), or None."""
    shape = graph.shape(x)
    if shape is None or len(shape) != 4 or not isinstance(shape[1], int) or c.dtype.kind != "f":
        return None
    channels = shape[1]
    dims = tuple(c.shape)
    while dims and dims[0] == 1 and len(dims) > 3:
        dims = dims[1:]
    if c.size == 1:
        return np.full(channels, float(c.reshape(-1)[0]))
    if dims in ((channels, 1, 1),):
        return c.reshape(channels).astype(np.float64)
    return None


def _bn(name: str, x: str, out: str, scale: np.ndarray, shift: np.ndarray, consts: dict, values: dict) -> Node:
    """A BatchNormalization computing ``scale * x + shift`` exactly (mean 0, variance 1, epsilon 0)."""
    names = [f"{name}.{k}" for k in ("gamma", "beta", "mean", "var")]
    arrays = [scale, shift, np.zeros_like(scale), np.ones_like(scale)]
    for n, a in zip(names, arrays):
        consts[n] = a.astype(np.float32)
        values[n] = TensorInfo(n, tuple(a.shape), "float32")
    return Node(name, "BatchNormalization", (x, *names), (out,), {"epsilon": 0.0})


def _affine_of(graph: Graph, node: Node, consts: dict) -> tuple[str, np.ndarray, np.ndarray] | None:
    """``(x, scale, shift)`` of a per-channel Mul/Add, or of an inference BatchNormalization."""
    if node.op == "BatchNormalization" and len(node.outputs) == 1 and not node.attr("training_mode", 0):
        if all(i in consts for i in node.inputs[1:5]):
            gamma, beta, mean, var = (consts[i].astype(np.float64) for i in node.inputs[1:5])
            scale = gamma / np.sqrt(var + float(node.attr("epsilon", 1e-5)))
            return node.inputs[0], scale, beta - mean * scale
        return None
    if node.op not in ("Mul", "Add") or len(node.inputs) != 2:
        return None
    a, b = node.inputs
    x, c = (a, consts.get(b)) if b in consts and a not in consts else (b, consts.get(a)) if a in consts and b not in consts else (a, None)
    per = None if c is None else _per_channel(graph, x, np.asarray(c))
    if per is None:
        return None
    return (x, per, np.zeros_like(per)) if node.op == "Mul" else (x, np.ones_like(per), per)


def affine_to_batchnorm(graph: Graph) -> Graph:
    if not _is_float_graph(graph):
        return graph
    consts, values = dict(graph.initializers), dict(graph.values)
    outputs = {t.name for t in graph.outputs}
    affine: dict[str, tuple[str, np.ndarray, np.ndarray]] = {}  # output value -> (input, scale, shift)
    nodes: list[Node] = []
    changed = False
    for node in graph.nodes:
        found = _affine_of(graph, node, consts)
        if found is None or node.op == "BatchNormalization" and found[0] not in affine:
            nodes.append(node)
            if found is not None:
                affine[node.outputs[0]] = found
            continue
        x, scale, shift = found
        prev = affine.get(x)
        if prev is not None and x not in outputs and len(graph.consumers(x)) == 1:
            # merge with the affine map before: s (s0 x0 + t0) + t
            x, scale, shift = prev[0], scale * prev[1], scale * prev[2] + shift
            nodes = [n for n in nodes if n.outputs[0] != found[0]]
            values.pop(found[0], None)
        changed = True
        bn = _bn(node.name, x, node.outputs[0], scale, shift, consts, values)
        nodes.append(bn)
        affine[node.outputs[0]] = (x, scale, shift)
    return graph.replace(nodes=tuple(nodes), initializers=consts, values=values) if changed else graph


def batchnorm_to_depthwise(graph: Graph) -> Graph:
    if not _is_float_graph(graph):
        return graph
    consts, values = dict(graph.initializers), dict(graph.values)
    nodes: list[Node] = []
    changed = False
    for node in graph.nodes:
        found = _affine_of(graph, node, consts) if node.op == "BatchNormalization" else None
        shape = graph.shape(node.inputs[0]) if found is not None else None
        if found is None or shape is None or len(shape) != 4 or not isinstance(shape[1], int):
            nodes.append(node)
            continue
        x, scale, shift = found
        c = int(shape[1])
        w, b = f"{node.name}.dw_weight", f"{node.name}.dw_bias"
        consts[w] = scale.reshape(c, 1, 1, 1).astype(np.float32)
        consts[b] = shift.reshape(c).astype(np.float32)
        values[w], values[b] = TensorInfo(w, (c, 1, 1, 1), "float32"), TensorInfo(b, (c,), "float32")
        nodes.append(Node(node.name, "Conv", (x, w, b), node.outputs, {"group": c, "kernel_shape": [1, 1]}))
        changed = True
    return graph.replace(nodes=tuple(nodes), initializers=consts, values=values) if changed else graph
