"""IR :class:`~hwaccel.ir.Graph` -> ONNX ModelProto (the inverse of the importer for float graphs).

The quantizer writes QDQ models through this: the IR keeps ONNX op types and attributes, so a
graph round-trips with its import passes applied (BN folded, constants folded).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import onnx
from onnx import helper, numpy_helper

from ..ir.graph import Graph, Node, TensorInfo

__all__ = ["export_model", "value_info"]


def value_info(info: TensorInfo) -> onnx.ValueInfoProto:
    elem = helper.np_dtype_to_tensor_dtype(np.dtype(info.dtype))
    shape = None if info.shape is None else [d if isinstance(d, int) else (d if d != "?" else None) for d in info.shape]
    return helper.make_tensor_value_info(info.name, elem, shape)


def export_node(node: Node) -> onnx.NodeProto:
    attrs: dict[str, Any] = {}
    for key, value in node.attrs.items():
        attrs[key] = numpy_helper.from_array(value) if isinstance(value, np.ndarray) else value
    return helper.make_node(node.op, list(node.inputs), list(node.outputs), name=node.name, domain=node.domain or None, **attrs)


def export_model(graph: Graph, opset: int | None = None, producer: str = "hwaccel") -> onnx.ModelProto:
    """Write ``graph`` as an ONNX model (default opset: the graph's own)."""
    initializers = [numpy_helper.from_array(np.asarray(a), name) for name, a in graph.initializers.items()]
    onnx_graph = helper.make_graph(
        [export_node(n) for n in graph.nodes],
        graph.name,
        [value_info(t) for t in graph.inputs],
        [value_info(t) for t in graph.outputs],
        initializers,
    )
    model = helper.make_model(
        onnx_graph, opset_imports=[helper.make_opsetid("", opset or graph.opset)], producer_name=producer
    )
    model.ir_version = min(model.ir_version, 9)  # onnxruntime of 2024+ reads IR 9
    return model
