"""Fold an inference BatchNormalization into the Conv / ConvTranspose / Gemm that feeds it.

``y = gamma * (x - mean) / sqrt(var + eps) + beta`` is an affine map per channel, so with
``s = gamma / sqrt(var + eps)`` the producer's weights scale by ``s`` per output channel and its
bias becomes ``(b - mean) * s + beta``. Folded weights get new initializer names, so weights
shared with other nodes are left untouched.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from ..ir.graph import Graph, Node, TensorInfo

__all__ = ["fold_batchnorm"]


def fold_batchnorm(graph: Graph) -> Graph:
    consts = dict(graph.initializers)
    values = dict(graph.values)
    graph_outputs = {t.name for t in graph.outputs}
    replaced: dict[str, Node] = {}
    dropped: set[str] = set()
    for bn in graph.nodes:
        if bn.op != "BatchNormalization" or len([o for o in bn.outputs if o]) != 1 or bn.attr("training_mode", 0):
            continue
        producer = graph.producer(bn.inputs[0])
        if producer is None or producer.name in replaced or bn.inputs[0] in graph_outputs:
            continue
        if len(graph.consumers(bn.inputs[0])) != 1 or not all(i in consts for i in bn.inputs[1:5]):
            continue
        gamma, beta, mean, var = (consts[i].astype(np.float64) for i in bn.inputs[1:5])
        scale = gamma / np.sqrt(var + float(bn.attr("epsilon", 1e-5)))
        shift = beta - mean * scale
        folded = _fold_into(producer, scale, shift, consts, graph)
        if folded is None:
            continue
        node, new_consts = folded
        for name, array in new_consts.items():
            consts[name] = array
            values[name] = TensorInfo(name, tuple(array.shape), str(array.dtype))
        replaced[producer.name] = replace(node, outputs=(bn.outputs[0],) + node.outputs[1:])
        dropped.add(bn.name)
        values.pop(bn.inputs[0], None)  # the pre-normalization value no longer exists
    if not replaced:
        return graph
    nodes = tuple(replaced.get(n.name, n) for n in graph.nodes if n.name not in dropped)
    return graph.replace(nodes=nodes, initializers=consts, values=values)


def _fold_into(node: Node, scale: np.ndarray, shift: np.ndarray, consts, graph: Graph):
    if node.op in ("Conv", "ConvTranspose"):
        return _fold_conv(node, scale, shift, consts)
    if node.op == "Gemm":
        return _fold_gemm(node, scale, shift, consts)
    return None


def _fold_conv(node: Node, scale, shift, consts):
    if node.inputs[1] not in consts or (len(node.inputs) > 2 and node.inputs[2] and node.inputs[2] not in consts):
        return None
    w = consts[node.inputs[1]]
    out_channels = scale.shape[0]
    if node.op == "Conv":
        w_new = w.astype(np.float64) * scale.reshape((-1,) + (1,) * (w.ndim - 1))
    else:  # ConvTranspose weights are (C_in, C_out / group, k...): output channel = g * (C_out/group) + j
        group = int(node.attr("group", 1))
        per_group = w.shape[1]
        s = scale.reshape(group, per_group)
        w_new = w.astype(np.float64).reshape((group, -1, per_group) + w.shape[2:]) * s.reshape(
            (group, 1, per_group) + (1,) * (w.ndim - 2)
        )
        w_new = w_new.reshape(w.shape)
    b = consts[node.inputs[2]] if len(node.inputs) > 2 and node.inputs[2] else np.zeros(out_channels)
    b_new = b.astype(np.float64) * scale + shift
    names = (f"{node.name}.weight_bn", f"{node.name}.bias_bn")
    new = {names[0]: w_new.astype(w.dtype), names[1]: b_new.astype(w.dtype)}
    return replace(node, inputs=(node.inputs[0], names[0], names[1])), new


def _fold_gemm(node: Node, scale, shift, consts):
    if node.attr("transA", 0) or node.inputs[1] not in consts:
        return None
    has_c = len(node.inputs) > 2 and bool(node.inputs[2])
    if has_c and (node.inputs[2] not in consts or consts[node.inputs[2]].size not in (1, scale.size)):
        return None
    b = consts[node.inputs[1]].astype(np.float64)
    alpha, beta = float(node.attr("alpha", 1.0)), float(node.attr("beta", 1.0))
    b_new = alpha * (b * scale[:, None] if node.attr("transB", 0) else b * scale[None, :])
    c = consts[node.inputs[2]].astype(np.float64).reshape(-1) if has_c else np.zeros(1)
    c_new = beta * c * scale + shift
    dtype = consts[node.inputs[1]].dtype
    names = (f"{node.name}.weight_bn", f"{node.name}.bias_bn")
    attrs = {k: v for k, v in node.attrs.items() if k not in ("alpha", "beta")}
    new = {names[0]: b_new.astype(dtype), names[1]: np.broadcast_to(c_new, scale.shape).astype(dtype)}
    return replace(node, inputs=(node.inputs[0], names[0], names[1]), attrs=attrs), new
