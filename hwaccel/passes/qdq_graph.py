"""Reading a QDQ float graph before lowering: which QuantizeLinear / DequantizeLinear stand where,
their encodings, and constants given as DequantizeLinear of stored codes. Shared by the QDQ
rewrites (:mod:`.fold_qdq_batchnorm`, :mod:`.qdq_canonical`)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .. import fixedpoint
from ..ir.graph import Graph, Node

__all__ = ["Encoding", "Index", "encoding_of", "dq_constant"]


class Index:
    """Producers and consumers of a graph's values, looked up in constant time."""

    def __init__(self, graph: Graph) -> None:
        self.graph = graph
        self.outputs = {t.name for t in graph.outputs}
        self._producers = {o: n for n in graph.nodes for o in n.outputs if o}
        self._consumers: dict[str, list[Node]] = {}
        for n in graph.nodes:
            for i in set(n.inputs):
                self._consumers.setdefault(i, []).append(n)

    def producer(self, value: str) -> Node | None:
        return self._producers.get(value)

    def consumers(self, value: str) -> list[Node]:
        return self._consumers.get(value, [])

    def only_consumer(self, value: str) -> Node | None:
        """The one node reading ``value``, if exactly one does and ``value`` is not a graph output."""
        users = self.consumers(value)
        return users[0] if len(users) == 1 and value not in self.outputs else None


@dataclass(frozen=True)
class Encoding:
    """A Q/DQ node's per-tensor or per-axis encoding: scale, zero point (with its dtype), axis."""

    scale: np.ndarray
    zero_point: np.ndarray
    axis: int | None

    @property
    def per_tensor(self) -> bool:
        return self.scale.size == 1

    def same(self, other: "Encoding") -> bool:
        return (self.per_tensor and other.per_tensor and self.zero_point.dtype == other.zero_point.dtype
                and float(self.scale.reshape(-1)[0]) == float(other.scale.reshape(-1)[0])
                and int(self.zero_point.reshape(-1)[0]) == int(other.zero_point.reshape(-1)[0]))


def encoding_of(graph: Graph, node: Node, rank: int | None = None) -> Encoding | None:
    """The encoding of QuantizeLinear / DequantizeLinear ``node`` if its scale and zero point are
    constants (a missing zero point is uint8 0); a negative axis is normalised with ``rank``."""
    scale = graph.initializers.get(node.inputs[1])
    zp_name = node.inputs[2] if len(node.inputs) > 2 else ""
    zero = graph.initializers.get(zp_name) if zp_name else np.zeros((), np.uint8)
    if scale is None or zero is None:
        return None
    axis = None
    if np.size(scale) > 1:
        axis = int(node.attr("axis", 1))
        if axis < 0:
            if rank is None:
                return None
            axis += rank
    return Encoding(np.asarray(scale), np.asarray(zero), axis)


def dq_constant(index: Index, value: str) -> np.ndarray | None:
    """``value`` as a float array if it is an initializer or a DequantizeLinear of one (as
    onnxruntime writes quantized weights and BatchNormalization parameters), else None."""
    graph = index.graph
    if not value:
        return None
    if value in graph.initializers:
        return np.asarray(graph.initializers[value])
    dq = index.producer(value)
    if dq is None or dq.op != "DequantizeLinear" or dq.inputs[0] not in graph.initializers:
        return None
    codes = np.asarray(graph.initializers[dq.inputs[0]])
    enc = encoding_of(graph, dq, codes.ndim)
    if enc is None:
        return None
    return fixedpoint.dequantize(codes, enc.scale.reshape(-1) if enc.axis is not None else enc.scale,
                                 enc.zero_point.reshape(-1) if enc.axis is not None else enc.zero_point, axis=enc.axis)

