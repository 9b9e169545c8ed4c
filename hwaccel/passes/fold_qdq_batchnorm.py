"""Fold an inference BatchNormalization into the quantized layers around it.

With ``k = gamma / sqrt(var + eps)`` a BatchNormalization is ``k * x + (beta - mean * k)`` per
channel (its parameters may be DequantizeLinear of codes, as onnxruntime writes gamma and beta).

- Right after a Conv / Gemm / MatMul with quantized weights (``layer -> BN -> Q``): the layer keeps
  its integer weight codes (negated where ``k < 0``) with per-channel scales ``s_w * |k|``, and its
  bias becomes ``b * k + beta - mean * k`` (rounded to int32 at the new scale when lowered).
- Reading a per-tensor DequantizeLinear (``layer -> Q -> DQ -> BN -> Q``, what onnxruntime makes of
  torch's unfused ``Linear -> BatchNorm1d``): the intermediate codes are part of the QDQ model's
  result (rounded and clamped to their calibrated range), so they are kept, and the normalisation
  becomes a diagonal layer on them: a Gemm with 16-bit weight codes ``sign(k) * 2**14`` at scales
  ``|k| / 2**14`` on the diagonal (rank 2), or a depthwise 1x1 Conv (rank >= 3), and an int32 bias
  ``round((beta - mean * k) / (s_x * |k| / 2**14))``. The hardware computes the intermediate codes
  and the BatchNormalization's output codes, both as onnxruntime does (up to the requantization's
  near-ties); off-diagonal zeros are pruned, so it costs one multiply per channel.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from ..ir.graph import Graph, Node, TensorInfo
from .qdq_graph import Index, dq_constant, encoding_of

__all__ = ["fold_qdq_batchnorm"]

DIAGONAL_CODE = 2**14  # 16-bit diagonal weights: the int32 bias resolves 2**-14 of an input step


def fold_qdq_batchnorm(graph: Graph) -> Graph:
    index = Index(graph)
    inits = dict(graph.initializers)
    values = dict(graph.values)
    replaced: dict[str, list[Node]] = {}
    dropped: set[str] = set()
    for bn in graph.nodes:
        if bn.op != "BatchNormalization" or bn.attr("training_mode", 0) or len([o for o in bn.outputs if o]) != 1:
            continue
        params = [dq_constant(index, i) for i in bn.inputs[1:5]]
        if any(p is None for p in params):
            continue
        gamma, beta, mean, var = (np.asarray(p, np.float64).reshape(-1) for p in params)
        k = gamma / np.sqrt(var + float(bn.attr("epsilon", 1e-5)))
        if not np.all(np.isfinite(k)) or np.any(k == 0):
            continue
        layer = _layer_before(index, bn)
        if layer is not None and layer.name not in replaced:
            folded = _fold(index, layer, k, beta - mean * k, bn.outputs[0])
            at = layer.name
        else:
            folded = _diagonal(index, bn, k, beta - mean * k)
            at = bn.name
        if folded is None:
            continue
        nodes, consts = folded
        for name, array in consts.items():
            inits[name] = array
            values[name] = TensorInfo(name, tuple(array.shape), str(array.dtype))
        for dq in nodes[:-1]:
            values[dq.outputs[0]] = TensorInfo(dq.outputs[0], tuple(consts[dq.inputs[0]].shape), "float32")
        replaced[at] = nodes
        if at != bn.name:
            dropped.add(bn.name)
            values.pop(layer.outputs[0], None)  # type: ignore[union-attr]
    if not replaced:
        return graph
    out: list[Node] = []
    for node in graph.nodes:
        if node.name not in dropped:
            out.extend(replaced.get(node.name, [node]))
    return graph.replace(nodes=tuple(out), initializers=inits, values=values)


def _layer_before(index: Index, bn: Node) -> Node | None:
    """The weighted layer whose only use is ``bn``."""
    producer = index.producer(bn.inputs[0])
    if index.only_consumer(bn.inputs[0]) is not bn or producer is None or producer.op not in ("Conv", "Gemm", "MatMul") or producer.attr("transA", 0):
        return None
    return producer


def _dq(stem: str, codes: np.ndarray, scale: np.ndarray, axis: int, consts: dict[str, np.ndarray]) -> Node:
    """A DequantizeLinear of constant ``codes`` (zero points 0) writing ``stem``."""
    consts.update({f"{stem}_q": codes, f"{stem}_scale": scale, f"{stem}_zero_point": np.zeros(scale.shape, codes.dtype)})
    return Node(f"{stem}_DequantizeLinear", "DequantizeLinear", (f"{stem}_q", f"{stem}_scale", f"{stem}_zero_point"),
                (stem,), {"axis": axis})


def _diagonal(index: Index, bn: Node, k: np.ndarray, shift: np.ndarray) -> tuple[list[Node], dict[str, np.ndarray]] | None:
    """``bn`` as a diagonal Gemm / depthwise 1x1 Conv on the codes of the DequantizeLinear it reads."""
    source = index.producer(bn.inputs[0])
    enc = encoding_of(index.graph, source) if source is not None and source.op == "DequantizeLinear" else None
    shape = index.graph.shape(bn.inputs[0])
    if enc is None or not enc.per_tensor or shape is None or len(shape) < 2 or shape[1] != k.size:
        return None
    w_scale = (np.abs(k) / DIAGONAL_CODE).astype(np.float32)
    b_scale = (np.float32(enc.scale.reshape(-1)[0]) * w_scale).astype(np.float32)
    bias = np.rint(shift / b_scale.astype(np.float64))
    if np.abs(bias).max(initial=0) >= 2**31:
        return None
    codes = (np.sign(k) * DIAGONAL_CODE).astype(np.int16)
    consts: dict[str, np.ndarray] = {}
    stem = f"{bn.name}.diag"
    b_dq = _dq(f"{stem}.bias", bias.astype(np.int32), b_scale, 0, consts)
    if len(shape) == 2:
        w_dq = _dq(f"{stem}.weight", np.diag(codes), w_scale, 1, consts)
        layer = Node(bn.name, "Gemm", (bn.inputs[0], w_dq.outputs[0], b_dq.outputs[0]), (bn.outputs[0],))
    else:
        ones = (1,) * (len(shape) - 2)
        w_dq = _dq(f"{stem}.weight", codes.reshape((k.size, 1) + ones), w_scale, 0, consts)
        layer = Node(bn.name, "Conv", (bn.inputs[0], w_dq.outputs[0], b_dq.outputs[0]), (bn.outputs[0],),
                     {"group": int(k.size), "kernel_shape": list(ones)})
    return [w_dq, b_dq, layer], consts


def _out_axis(layer: Node, ndim: int) -> int | None:
    if layer.op == "Conv":
        return 0
    if ndim != 2:
        return None
    return 0 if layer.op == "Gemm" and layer.attr("transB", 0) else 1


def _fold(index: Index, layer: Node, k: np.ndarray, shift: np.ndarray, output: str
          ) -> tuple[list[Node], dict[str, np.ndarray]] | None:
    """The weight DequantizeLinear and the layer with ``k`` and ``shift`` folded in, and their constants."""
    graph = index.graph
    w_dq = index.producer(layer.inputs[1])
    if w_dq is None or w_dq.op != "DequantizeLinear" or w_dq.inputs[0] not in graph.initializers:
        return None
    codes = np.asarray(graph.initializers[w_dq.inputs[0]])
    enc = encoding_of(graph, w_dq, codes.ndim)
    axis = _out_axis(layer, codes.ndim)
    if enc is None or axis is None or codes.shape[axis] != k.size or not (enc.axis is None or enc.axis == axis):
        return None
    if np.any(enc.zero_point != 0) or not np.all(np.isfinite(k)) or np.any(k == 0) or codes.dtype.kind != "i":
        return None
    along = [1] * codes.ndim
    along[axis] = k.size
    negated = codes.astype(np.int64) * np.sign(k).astype(np.int64).reshape(along)
    info = np.iinfo(codes.dtype)
    if negated.min(initial=0) < info.min or negated.max(initial=0) > info.max:
        return None  # -qmin has no code: leave the BatchNormalization on the host
    has_bias = len(layer.inputs) > 2 and bool(layer.inputs[2])
    bias = dq_constant(index, layer.inputs[2]) if has_bias else np.zeros(1)
    if bias is None or bias.size not in (1, k.size):
        return None
    if layer.op == "Gemm":
        bias = bias * float(layer.attr("beta", 1.0))
    scale_dtype = enc.scale.dtype if enc.scale.dtype.kind == "f" else np.dtype(np.float32)
    scale = (np.broadcast_to(enc.scale.reshape(-1).astype(np.float64), k.shape) * np.abs(k)).astype(scale_dtype)
    new_bias = (np.asarray(bias, np.float64).reshape(-1) * k + shift).astype(np.float32)
    consts: dict[str, np.ndarray] = {}
    dq = _dq(f"{layer.name}.bn.weight", negated.astype(codes.dtype), scale, axis, consts)
    consts[f"{layer.name}.bn.bias"] = new_bias
    attrs = {key: v for key, v in layer.attrs.items() if key != "beta"}
    new = replace(layer, inputs=(layer.inputs[0], dq.outputs[0], f"{layer.name}.bn.bias"), outputs=(output,), attrs=attrs)
    return [dq, new], consts
