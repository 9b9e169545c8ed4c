"""The IR: frozen graph dataclasses, the op table, a verifier and a printer."""

from .graph import Dim, Graph, Node, QuantParams, TensorInfo
from .ops import OPS, OpSpec, is_supported, macs_of
from .printer import format_graph, format_shape
from .verify import verify_graph

__all__ = [
    "Dim", "Graph", "Node", "QuantParams", "TensorInfo",
    "OPS", "OpSpec", "is_supported", "macs_of",
    "format_graph", "format_shape", "verify_graph",
]
