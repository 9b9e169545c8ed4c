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

__all__ = ["OpSpec", "OPS", "FIXED_OPS", "FIXED_DOMAIN", "spec_of", "is_supported", "macs_of"]

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
    """Gemm / MatMul: output elements (batch excluded) x reduction length K."""
    a = graph.shape(node.inputs[0])
    if a is None:
        return 0
    k = a[0] if node.op == "Gemm" and node.attr("transA", 0) else a[-1]
    return _out_numel_no_batch(node, graph) * (int(k) if isinstance(k, int) else 1)


def _conv_macs_q(node: Node, graph: Graph) -> int:
    # QLinearConv(x, x_scale, x_zp, w, ...): the weight is input 3
    from dataclasses import replace

    return _conv_macs(replace(node, inputs=(node.inputs[0], node.inputs[3])), graph)


def _matmul_macs(node: Node, graph: Graph) -> int:
    b = graph.shape(node.inputs[1])
    if b is None:
        return 0
    return _out_numel_no_batch(node, graph) * (int(b[-2]) if isinstance(b[-2], int) else 1)


def _gemm_macs_q(node: Node, graph: Graph) -> int:
    from dataclasses import replace

    return _matmul_macs(replace(node, inputs=(node.inputs[0], node.inputs[3])), graph)


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
        _spec("Gather", "shape", True),  # with constant indices: data movement (e.g. last time step)
        _spec("Cast", "shape", False),
        _spec("ConstantOfShape", "shape", False),
        _spec("Constant", "shape", False),
        # recurrent cells
        _spec("LSTM", "recurrent", True, _recurrent_macs(4)),
        _spec("GRU", "recurrent", True, _recurrent_macs(3)),
        _spec("RNN", "recurrent", True, _recurrent_macs(1)),
        # host-only
        _spec("Softmax", "host", False),
        # quantization boundary ops and ONNX integer ops (QDQ / QLinear import)
        _spec("QuantizeLinear", "quant", False),
        _spec("DequantizeLinear", "quant", False),
        _spec("QLinearConv", "conv", True, _conv_macs_q),
        _spec("ConvInteger", "conv", True, _conv_macs),
        _spec("QLinearMatMul", "gemm", True, _gemm_macs_q),
        _spec("MatMulInteger", "gemm", True, _gemm_macs),
    ]
}

# Fixed-point ops (domain "hwaccel") produced by lowering a quantized graph; semantics in
# hwaccel/ir/qops.py, golden kernels in hwaccel/golden/fixed_ops/.
FIXED_OPS: dict[str, OpSpec] = {
    s.op: s
    for s in [
        _spec("QConv", "conv", True, _conv_macs),
        _spec("QConvTranspose", "conv", True, _conv_transpose_macs),
        _spec("QMatMul", "gemm", True, _matmul_macs),
        _spec("QMaxPool", "pool", True),
        _spec("QAveragePool", "pool", True),
        _spec("QGlobalAveragePool", "pool", True),
        _spec("QGlobalMaxPool", "pool", True),
        _spec("QAdd", "eltwise", True),
        _spec("QMul", "eltwise", True),
        _spec("QConcat", "eltwise", True),
        _spec("QLut", "pointwise", True),
        _spec("QRequant", "pointwise", True),
        _spec("QPad", "shape", True),
        *[_spec(f"Q{op}", "recurrent", True, _recurrent_macs(g)) for op, g in (("LSTM", 4), ("GRU", 3), ("RNN", 1))],
    ]
}


FIXED_DOMAIN = "hwaccel"


def spec_of(node: Node) -> OpSpec | None:
    """The table row of ``node`` (ONNX default domain or the fixed-point domain), or None."""
    if node.domain == FIXED_DOMAIN:
        return FIXED_OPS.get(node.op)
    if node.domain in ("", "ai.onnx"):
        return OPS.get(node.op)
    return None


def is_supported(node: Node) -> bool:
    return spec_of(node) is not None


def macs_of(node: Node, graph: Graph) -> int:
    """Multiply-accumulates of one inference (batch 1) of ``node``; 0 when not a MAC op."""
    spec = spec_of(node)
    if spec is None or spec.macs is None:
        return 0
    return int(spec.macs(node, graph))
