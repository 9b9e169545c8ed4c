"""The intermediate representation: a small frozen graph of ONNX-like nodes.

Nodes keep ONNX op types and (decoded) attributes; tensors carry shape, dtype and optional
quantization parameters. Passes build new graphs with :func:`dataclasses.replace`.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Mapping

import numpy as np

from ..fixedpoint import CodeRange, QuantParams

__all__ = ["Dim", "CodeRange", "QuantParams", "TensorInfo", "Node", "Graph"]

# A dimension is a fixed size or a symbolic name (e.g. the batch "N").
Dim = int | str


@dataclass(frozen=True, eq=False)
class TensorInfo:
    """Name, shape and element type of a graph value (``dtype`` is a NumPy dtype name)."""

    name: str
    shape: tuple[Dim, ...] | None
    dtype: str = "float32"
    quant: QuantParams | None = None

    @property
    def rank(self) -> int | None:
        return None if self.shape is None else len(self.shape)

    @property
    def static(self) -> bool:
        return self.shape is not None and all(isinstance(d, int) for d in self.shape)


@dataclass(frozen=True, eq=False)
class Node:
    """One operator application. Missing optional inputs are the empty string, as in ONNX."""

    name: str
    op: str
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    attrs: Mapping[str, Any] = field(default_factory=dict)
    domain: str = ""

    def attr(self, key: str, default: Any = None) -> Any:
        return self.attrs.get(key, default)


@dataclass(frozen=True, eq=False)
class Graph:
    """A topologically ordered network.

    ``initializers`` hold constant tensors (weights); ``values`` holds the shape and type of
    every named value (inputs, outputs, intermediates) that is known.
    """

    name: str
    nodes: tuple[Node, ...]
    inputs: tuple[TensorInfo, ...]
    outputs: tuple[TensorInfo, ...]
    initializers: Mapping[str, np.ndarray] = field(default_factory=dict)
    values: Mapping[str, TensorInfo] = field(default_factory=dict)
    opset: int = 17
    converted_from: int | None = None  # the file's opset when the import converted it to ``opset``

    def producer(self, value: str) -> Node | None:
        """The node writing ``value``, or None for graph inputs and initializers."""
        for node in self.nodes:
            if value in node.outputs:
                return node
        return None

    def consumers(self, value: str) -> list[Node]:
        return [node for node in self.nodes if value in node.inputs]

    def info(self, value: str) -> TensorInfo | None:
        return self.values.get(value)

    def shape(self, value: str) -> tuple[Dim, ...] | None:
        if value in self.initializers:
            return tuple(self.initializers[value].shape)
        info = self.values.get(value)
        return None if info is None else info.shape

    def replace(self, **changes: Any) -> "Graph":
        return replace(self, **changes)
