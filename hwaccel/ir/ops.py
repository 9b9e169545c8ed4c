"""The op table: one row per supported ONNX op type.

Every layer of hwaccel looks ops up here (import: is it supported; info: MACs and parameters;
partitioning: does it have a hardware unit). Executors keep their own kernel table keyed by the
same op names (``golden.execute.FLOAT_KERNELS``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

from .graph import Graph, Node

__all__ = ["OpSpec", "OPS", "is_supported", "macs_of"]

MacCounter = Callable[[Node, Graph], int]


@dataclass(frozen=True)
class OpSpec:
    """What hwaccel knows about one op type.

    ``family`` groups ops handled by one hardware unit / golden module; ``hardware`` says the op
    has a hardware unit (otherwise it runs on the host, or is a pure shape op folded away).
    """

    op: str
    family: str
    hardware: bool
    macs: MacCounter | None = None


def _numel(shape) -> int:
    return math.prod(int(d) if isinstance(d, int) else 1 for d in shape)


def _out_numel_no_batch(node: Node, graph: Graph) -> int:
    shape = graph.shape(node.outputs[0])
    return 0 if shape is None else _numel(shape[1:])


def _conv_macs(node: Node, graph: Graph) -> int:
    w = graph.shape(node.inputs[1])
    if w is None:
        return 0
    per_output = _numel(w[1:])  # (C_in / group) * kernel
    return _out_numel_no_batch(node, graph) * per_output


def _conv_transpose_macs(node: Node, graph: Graph) -> int:
    w = graph.shape(node.inputs[1])
    x = graph.shape(node.inputs[0])
    if w is None or x is None:
        return 0
    # every input element is multiplied with a (C_out/group) * kernel slice of the weights
    return _numel(x[1:]) * _numel(w[1:])


def _gemm_macs(node: Node, graph: Graph) -> int:
    a = graph.shape(node.inputs[0])
    b = graph.shape(node.inputs[1])
    if a is None or b is None:
        return 0
    k = a[-1] if not node.attr("transA", 0) or node.op != "Gemm" else a[0]
    k = int(k) if isinstance(k, int) else 1
    return _out_numel_no_batch(node, graph) * k if node.op == "Gemm" else _numel(a[1:-1] or (1,)) * k * _numel(b[-1:])


def _recurrent_macs(gates: int) -> MacCounter:
    def count(node: Node, graph: Graph) -> int:
        x = graph.shape(node.inputs[0])
        hidden = int(node.attr("hidden_size", 0))
        if x is None or not isinstance(x[0], int) or not isinstance(x[2], int):
            return 0
        directions = 2 if node.attr("direction", "forward") == "bidirectional" else 1
        return directions * int(x[0]) * gates * hidden * (int(x[2]) + hidden)

    return count


def _pointwise(node: Node, graph: Graph) -> int:
    return 0


def _spec(op: str, family: str, hardware: bool, macs: MacCounter | None = None) -> OpSpec:
    return OpSpec(op, family, hardware, macs)


OPS: dict[str, OpSpec] = {
    s.op: s
    for s in [
        # compute layers with a MatVec hardware unit
        _spec("Conv", "conv", True, _conv_macs),
        _spec("ConvTranspose", "conv", True, _conv_transpose_macs),
        _spec("Gemm", "gemm", True, _gemm_macs),
        _spec("MatMul", "gemm", True, _gemm_macs),
        # pooling
        _spec("MaxPool", "pool", True),
        _spec("AveragePool", "pool", True),
        _spec("GlobalAveragePool", "pool", True),
        _spec("GlobalMaxPool", "pool", True),
        # pointwise activations (fused into requant clamp or a lookup table)
        _spec("Relu", "pointwise", True, _pointwise),
        _spec("Clip", "pointwise", True, _pointwise),
        _spec("LeakyRelu", "pointwise", True, _pointwise),
        _spec("Sigmoid", "pointwise", True, _pointwise),
        _spec("HardSigmoid", "pointwise", True, _pointwise),
        _spec("Tanh", "pointwise", True, _pointwise),
        _spec("BatchNormalization", "pointwise", True, _pointwise),
        # element-wise and joins
        _spec("Add", "eltwise", True),
        _spec("Sub", "eltwise", True),
        _spec("Mul", "eltwise", True),
        _spec("Concat", "eltwise", True),
        # data movement (free in a streaming layout, or folded away)
        _spec("Flatten", "shape", True),
        _spec("Reshape", "shape", True),
        _spec("Transpose", "shape", True),
        _spec("Squeeze", "shape", True),
        _spec("Unsqueeze", "shape", True),
        _spec("Pad", "shape", True),
        _spec("Resize", "upsample", True),
        _spec("Upsample", "upsample", True),
        _spec("Identity", "shape", True),
        _spec("Dropout", "shape", True),
        # shape arithmetic (folded at import when static)
        _spec("Shape", "shape", False),
        _spec("Gather", "shape", False),
        _spec("Cast", "shape", False),
        _spec("ConstantOfShape", "shape", False),
        _spec("Constant", "shape", False),
        # recurrent cells
        _spec("LSTM", "recurrent", True, _recurrent_macs(4)),
        _spec("GRU", "recurrent", True, _recurrent_macs(3)),
        _spec("RNN", "recurrent", True, _recurrent_macs(1)),
        # host-only
        _spec("Softmax", "host", False),
        # quantization boundary ops (QDQ / QLinear import, issue 4)
        _spec("QuantizeLinear", "quant", False),
        _spec("DequantizeLinear", "quant", False),
    ]
}


def is_supported(node: Node) -> bool:
    return node.domain in ("", "ai.onnx") and node.op in OPS


def macs_of(node: Node, graph: Graph) -> int:
    """Multiply-accumulates of one inference (batch 1) of ``node``; 0 when not a MAC op."""
    spec = OPS.get(node.op)
    if spec is None or spec.macs is None:
        return 0
    return int(spec.macs(node, graph))
