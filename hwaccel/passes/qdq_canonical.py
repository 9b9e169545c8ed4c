"""Bring the QDQ spellings of other quantizers to the one the lowering rules read, exactly.

- A data mover (Reshape, Flatten, Transpose, Squeeze, Unsqueeze) or a Relu / Clip reading a
  per-tensor DequantizeLinear but feeding no QuantizeLinear (``DQ -> Flatten -> Gemm``) gets a
  Q -> DQ pair with the input's encoding after it: moving or clamping codes keeps them on their grid,
  so ``Q(op(DQ(q)))`` is exactly ``op`` of the codes. A Clip bound off the grid is not exact: left.
- A mover whose float input is not dequantized but whose only reader is a per-tensor QuantizeLinear
  (``Gemm -> Reshape -> Q``, as tf2onnx writes around MatMul) gets a Q -> DQ pair with that
  encoding before it: ``Q(move(x)) == move(Q(x))``.
- ``Q -> DQ -> Relu/Clip -> Q`` with one encoding throughout becomes ``Relu/Clip -> Q``: rounding is
  monotone, so ``Q(clip(DQ(Q(x)), a, b)) == clamp(Q(x), Q(a), Q(b)) == Q(clip(x, a, b))``; the
  activation then fuses into the previous layer's requantization clamp.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from .. import fixedpoint
from ..ir.graph import Graph, Node, TensorInfo
from .qdq_graph import Encoding, Index, encoding_of

__all__ = ["canonicalize_qdq", "clip_bounds"]

MOVERS = frozenset({"Reshape", "Flatten", "Transpose", "Squeeze", "Unsqueeze"})
ACTIVATIONS = frozenset({"Relu", "Clip"})


def canonicalize_qdq(graph: Graph) -> Graph:
    for _ in range(len(graph.nodes)):  # a chain of movers gets its pairs one link per round
        closed = _close_pairs(graph)
        if closed is graph:
            break
        graph = closed
    return _fuse_activations(graph)


def clip_bounds(node: Node, const) -> tuple[float | None, float | None] | None:
    """A Relu's or Clip's constant bounds (Clip's optional inputs 1 and 2); None when a bound is
    computed at run time. ``const`` maps a value name to its array or None."""
    if node.op == "Relu":
        return 0.0, None
    bounds: list[float | None] = []
    for k in (1, 2):
        name = node.inputs[k] if len(node.inputs) > k else ""
        value = const(name) if name else None
        if name and value is None:
            return None
        bounds.append(None if value is None else float(np.asarray(value)))
    return bounds[0], bounds[1]


def _qdq_pair(stem: str, enc_node: Node, before: str, after: str, dtype: str, shape, values: dict) -> list[Node]:
    """``before -> Q -> DQ -> after`` with ``enc_node``'s scale and zero point."""
    codes = f"{stem}.codes"
    params = tuple(enc_node.inputs[1:3])
    values[codes] = TensorInfo(codes, shape, dtype)
    values[before] = TensorInfo(before, shape, "float32")
    return [Node(f"{stem}.QuantizeLinear", "QuantizeLinear", (before, *params), (codes,)),
            Node(f"{stem}.DequantizeLinear", "DequantizeLinear", (codes, *params), (after,))]


def _on_grid(node: Node, enc: Encoding, graph: Graph) -> bool:
    """Whether ``node`` (a mover, Relu or Clip) maps values on ``enc``'s grid onto the grid."""
    if node.op in MOVERS:
        return True
    bounds = clip_bounds(node, graph.initializers.get)
    if bounds is None:
        return False
    bits = enc.zero_point.dtype.itemsize * 8
    qmin, qmax = fixedpoint.code_range(bits, enc.zero_point.dtype.kind == "i")
    scale, zero = enc.scale.reshape(()), enc.zero_point.reshape(()).astype(np.int64)
    lo, hi = (float(fixedpoint.dequantize(np.int64(q), scale, zero)) for q in (qmin, qmax))
    for b in bounds:
        if b is None or b <= lo or b >= hi:
            continue
        code = fixedpoint.quantize(np.asarray(b, scale.dtype), scale, zero, qmin, qmax)
        if float(fixedpoint.dequantize(code, scale, zero)) != b:
            return False
    return True


def _close_pairs(graph: Graph) -> Graph:
    index = Index(graph)
    values = dict(graph.values)
    out: list[Node] = []
    changed = False
    for node in graph.nodes:
        if node.op not in MOVERS | ACTIVATIONS or not node.outputs or not node.outputs[0]:
            out.append(node)
            continue
        result = node.outputs[0]
        shape, source, reader = graph.shape(result), index.producer(node.inputs[0]), index.only_consumer(result)
        dq_enc = encoding_of(graph, source) if source is not None and source.op == "DequantizeLinear" else None
        q_enc = encoding_of(graph, reader) if reader is not None and reader.op == "QuantizeLinear" else None
        if source is not None and dq_enc is not None and dq_enc.per_tensor and q_enc is None \
                and result not in index.outputs and _on_grid(node, dq_enc, graph):
            out.append(replace(node, outputs=(f"{result}.float",) + node.outputs[1:]))
            out.extend(_qdq_pair(f"{node.name}.out", source, f"{result}.float", result, str(dq_enc.zero_point.dtype),
                                 shape, values))
            changed = True
        elif node.op in MOVERS and dq_enc is None and reader is not None and q_enc is not None and q_enc.per_tensor:
            src = node.inputs[0]
            out.extend(_qdq_pair(f"{node.name}.in", reader, src, f"{src}.{node.name}.dq", str(q_enc.zero_point.dtype),
                                 graph.shape(src), values))
            values[src] = graph.values.get(src, TensorInfo(src, graph.shape(src)))
            out.append(replace(node, inputs=(f"{src}.{node.name}.dq",) + node.inputs[1:]))
            changed = True
        else:
            out.append(node)
    return graph.replace(nodes=tuple(out), values=values) if changed else graph


def _fuse_activations(graph: Graph) -> Graph:
    index = Index(graph)
    dropped: set[str] = set()
    rewired: dict[str, Node] = {}
    for act in graph.nodes:
        if act.op not in ACTIVATIONS or clip_bounds(act, graph.initializers.get) is None:
            continue
        dq = index.producer(act.inputs[0])
        q = index.producer(dq.inputs[0]) if dq is not None and dq.op == "DequantizeLinear" else None
        q2 = index.only_consumer(act.outputs[0])
        if dq is None or q is None or q.op != "QuantizeLinear" or q2 is None or q2.op != "QuantizeLinear" or q.name in dropped:
            continue
        if index.only_consumer(q.outputs[0]) is not dq or index.only_consumer(dq.outputs[0]) is not act:
            continue
        first, *rest = (encoding_of(graph, n) for n in (q, dq, q2))
        if first is None or not all(e is not None and first.same(e) for e in rest):
            continue
        dropped.update((q.name, dq.name))
        rewired[act.name] = replace(act, inputs=(q.inputs[0],) + act.inputs[1:])
    if not rewired:
        return graph
    values = {k: v for k, v in graph.values.items()
              if not any(k in n.outputs for n in graph.nodes if n.name in dropped)}
    nodes = tuple(rewired.get(n.name, n) for n in graph.nodes if n.name not in dropped)
    return graph.replace(nodes=nodes, values=values)
