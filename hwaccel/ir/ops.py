"""The op table: one row per supported op, ONNX (default domain) or fixed-point (domain ``hwaccel``).

A row (:class:`OpRow`) says what hwaccel knows about an op: its family, MAC count, what it lowers
to and where it runs (:class:`Placement`: a hardware unit, free data movement in a stream, or the
host with the reason). ``hwaccel info``, the compiler's partition and the docs read placement from
the row only, so they agree. The placement of an ONNX op is the placement of the fixed-point op
it lowers to.

Kernels stay in their own layer and register against the row (``ir`` imports no layer above it)::

    @register("float", "Conv")
    def conv(node, inputs): ...

Kinds (:data:`KERNEL_KINDS`): ``float`` (golden.float_ops, ONNX semantics), ``golden`` (golden.fixed,
the exact integer specification; also QuantizeLinear/DequantizeLinear), ``lower`` (passes.lower,
QDQ -> fixed-point rule), ``cpu`` and ``gpu`` (ref engines' fast kernels; an op without one runs its
golden kernel there), ``stage`` (passes.lower_stages, the hardware stage builder) and ``check``
(frontend.validate_ops / validate_qdq: the import checks of ranks, shapes, attributes and quantization
parameters, ``check(node, graph)`` raising ModelError).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable, Literal, TypeVar

from .graph import Graph, Node

__all__ = ["Placement", "OpRow", "OpSpec", "OPS", "FIXED_OPS", "ROWS", "FIXED_DOMAIN", "KERNEL_KINDS", "register",
           "kernels", "row_of", "spec_of", "placement_of", "is_supported", "macs_of"]

FIXED_DOMAIN = "hwaccel"
KERNEL_KINDS = ("float", "golden", "lower", "cpu", "gpu", "stage", "check")

MacCounter = Callable[[Node, Graph], int]
F = TypeVar("F", bound=Callable[..., Any])

_KERNELS: dict[tuple[str, str], Callable[..., Any]] = {}  # (kind, op) -> kernel, filled by register()


@dataclass(frozen=True)
class Placement:
    """Where an op runs: ``hardware`` (``unit`` names the stage builder / unit family), ``stream``
    (data movement folded into the stream layout or the next window) or ``host`` (``reason`` says why)."""

    where: Literal["hardware", "stream", "host"]
    unit: str = ""
    reason: str = ""

    @property
    def on_chip(self) -> bool:
        """The op is part of the hardware partition (a unit or free data movement)."""
        return self.where != "host"


def hardware(unit: str) -> Placement:
    return Placement("hardware", unit=unit)


STREAM = Placement("stream", reason="data movement: free in a stream")


def host(reason: str) -> Placement:
    return Placement("host", reason=reason)


@dataclass(frozen=True)
class OpRow:
    """One op: ``family`` (the lowering module / unit family), ``placement`` (its own; None for an
    ONNX op placed by what it lowers to), ``lowers_to`` (the fixed-point ops an ONNX op becomes),
    ``macs`` (multiply-accumulates of one inference), ``moves_codes`` (applies to integer codes
    unchanged: a code mover of the golden executor)."""

    op: str
    family: str
    placement: Placement | None = None
    lowers_to: tuple[str, ...] = ()
    macs: MacCounter | None = None
    domain: str = ""
    moves_codes: bool = False

    def kernel(self, kind: str) -> Callable[..., Any] | None:
        """The kernel of ``kind`` registered for this op, or None."""
        return _KERNELS.get((kind, self.op))

    @property
    def where(self) -> Placement:
        """The resolved placement: its own, or that of the first fixed-point op it lowers to."""
        if self.placement is not None:
            return self.placement
        return FIXED_OPS[self.lowers_to[0]].where

    @property
    def hardware(self) -> bool:
        return self.where.on_chip


OpSpec = OpRow  # the former name


def register(kind: str, *ops: str) -> Callable[[F], F]:
    """Decorator: ``fn`` is the ``kind`` kernel of each of ``ops`` (rows of :data:`ROWS`)."""
    if kind not in KERNEL_KINDS:
        raise ValueError(f"kernel kind must be one of {', '.join(KERNEL_KINDS)}, not {kind!r}")
    unknown = [op for op in ops if op not in ROWS]
    if unknown:
        raise ValueError(f"ops must be rows of the op table, not {unknown!r}")

    def add(fn: F) -> F:
        for op in ops:
            _KERNELS[(kind, op)] = fn
        return fn

    return add


def kernels(kind: str) -> dict[str, Callable[..., Any]]:
    """Every registered ``kind`` kernel by op name (a snapshot, in table order)."""
    return {op: _KERNELS[(kind, op)] for op in ROWS if (kind, op) in _KERNELS}


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


def _row(op: str, family: str, placement: Placement | None = None, lowers_to: tuple[str, ...] = (),
         macs: MacCounter | None = None, moves_codes: bool = False) -> OpRow:
    return OpRow(op, family, placement, lowers_to, macs, "", moves_codes)


def _fixed(op: str, family: str, placement: Placement, macs: MacCounter | None = None) -> OpRow:
    return OpRow(op, family, placement, (), macs, FIXED_DOMAIN)


RECURRENT = hardware("recurrent: Recurrent (MatVec over [x_t, h_t-1], gate tables, state update)")
RAW_ACCUMULATORS = host("raw int32 accumulators (no requant) have no hardware stage")
SHAPE_HOST = host("shape arithmetic: folded at import when static, else computed on the host")

# Fixed-point ops (domain "hwaccel") produced by lowering a quantized graph; semantics in
# hwaccel/ir/qops.py, golden kernels registered by hwaccel/golden/fixed.py.
FIXED_OPS: dict[str, OpRow] = {
    r.op: r
    for r in [
        _fixed("QConv", "conv", hardware("conv: SlidingWindow + MatVec + Requant; dwconv (depthwise): SlidingWindow + Depthwise + Requant"),
               _conv_macs),
        _fixed("QConvTranspose", "conv", hardware("conv (polyphase: SlidingWindow + MatVec + Requant) + depth_to_space: DepthToSpace"),
               _conv_transpose_macs),
        _fixed("QMatMul", "conv", hardware("dense: MatVec + Requant"), _matmul_macs),
        _fixed("QMaxPool", "pool", hardware("maxpool: SlidingWindow + Pool")),
        _fixed("QAveragePool", "pool", hardware("avgpool: SlidingWindow + Pool + Requant")),
        _fixed("QGlobalAveragePool", "pool", hardware("gpool: Pool + Requant")),
        _fixed("QGlobalMaxPool", "pool", hardware("gpool: Pool")),
        _fixed("QAdd", "eltwise", hardware("add: EltwiseAdd")),
        _fixed("QMul", "eltwise", host("element-wise multiplication has no hardware unit yet (issue 22)")),
        _fixed("QConcat", "eltwise", hardware("concat: EltwiseConcat")),
        _fixed("QLut", "pointwise", hardware("lut: a table after the previous requant, or Pool + Requant")),
        _fixed("QRequant", "pointwise", hardware("requant: Pool + Requant")),
        _fixed("QPad", "movers", Placement("stream", reason="folded into the next window's padding")),
        _fixed("QLSTM", "recurrent", RECURRENT, _recurrent_macs(4)),
        _fixed("QGRU", "recurrent", RECURRENT, _recurrent_macs(3)),
        _fixed("QRNN", "recurrent", RECURRENT, _recurrent_macs(1)),
    ]
}

OPS: dict[str, OpRow] = {
    r.op: r
    for r in [
        # weighted layers: a MatVec (with a SlidingWindow for convolutions)
        _row("Conv", "conv", None, ("QConv",), _conv_macs),
        _row("ConvTranspose", "conv", None, ("QConvTranspose",), _conv_transpose_macs),
        _row("Gemm", "conv", None, ("QMatMul",), _gemm_macs),
        _row("MatMul", "conv", None, ("QMatMul",), _gemm_macs),
        _row("QLinearConv", "conv", None, ("QConv",), _conv_macs_q),
        _row("ConvInteger", "conv", RAW_ACCUMULATORS, ("QConv",), _conv_macs),
        _row("QLinearMatMul", "conv", None, ("QMatMul",), _gemm_macs_q),
        _row("MatMulInteger", "conv", RAW_ACCUMULATORS, ("QMatMul",), _gemm_macs),
        # pooling
        _row("MaxPool", "pool", None, ("QMaxPool",)),
        _row("AveragePool", "pool", None, ("QAveragePool",)),
        _row("GlobalAveragePool", "pool", None, ("QGlobalAveragePool",)),
        _row("GlobalMaxPool", "pool", None, ("QGlobalMaxPool",)),
        # pointwise functions: Relu / Clip fuse into the requant clamp, any of them becomes a table
        *[_row(op, "pointwise", hardware("fused into the previous layer's requant clamp (else a Requant or table stage)"),
               ("QRequant", "QLut"), _pointwise) for op in ("Relu", "Clip")],
        _row("LeakyRelu", "pointwise", None, ("QLut",), _pointwise),
        _row("Sigmoid", "pointwise", None, ("QLut",), _pointwise),
        _row("HardSigmoid", "pointwise", None, ("QLut",), _pointwise),
        _row("Tanh", "pointwise", None, ("QLut",), _pointwise),
        _row("BatchNormalization", "pointwise",
             host("a BatchNormalization not folded into a convolution at import has no hardware unit"), (), _pointwise),
        # element-wise and joins
        _row("Add", "eltwise", None, ("QAdd",)),
        _row("Sub", "eltwise", None, ("QAdd",)),
        _row("Mul", "eltwise", None, ("QMul",)),
        _row("Concat", "eltwise", None, ("QConcat",)),
        _row("Sum", "eltwise", hardware("add: EltwiseAdd (the import expands a Sum into a chain of Adds)"), ("QAdd",)),
        _row("Mean", "eltwise", host("element-wise Mean of tensors has no hardware unit (the sum's 1/n scale is a Mul)")),
        *[_row(op, "eltwise", host(f"element-wise {op} of tensors has no hardware unit")) for op in ("Max", "Min")],
        # data movement: codes move unchanged (free in a streaming layout, or folded away)
        *[_row(op, "movers", STREAM, moves_codes=True)
          for op in ("Flatten", "Reshape", "Transpose", "Squeeze", "Unsqueeze", "Identity")],
        _row("Dropout", "movers", STREAM),
        _row("Pad", "movers", None, ("QPad",)),
        *[_row(op, "movers", hardware("upsample (nearest, integer factors): Upsample; other modes stop compile"), moves_codes=True)
          for op in ("Resize", "Upsample")],
        _row("Gather", "movers", Placement("stream", reason="chooses time steps of a recurrent unit's output Y (folded into "
                                                            "it); any other Gather stops compile"), moves_codes=True),
        # shape arithmetic
        *[_row(op, "shape", SHAPE_HOST) for op in ("Shape", "Cast", "ConstantOfShape", "Constant")],
        # recurrent cells
        _row("LSTM", "recurrent", None, ("QLSTM",), _recurrent_macs(4)),
        _row("GRU", "recurrent", None, ("QGRU",), _recurrent_macs(3)),
        _row("RNN", "recurrent", None, ("QRNN",), _recurrent_macs(1)),
        # host-only
        _row("LRN", "pointwise", host("LRN (local response normalization) has no hardware unit: it runs on the host")),
        _row("Softmax", "host", host("Softmax has no hardware unit (a float op after the hardware partition)")),
        # quantization boundary
        _row("QuantizeLinear", "quant", host("quantization boundary: the host turns floats into codes")),
        _row("DequantizeLinear", "quant", host("quantization boundary: the host turns codes into floats")),
    ]
}

ROWS: dict[str, OpRow] = {**OPS, **FIXED_OPS}  # op names are unique across the two domains


def row_of(node: Node) -> OpRow | None:
    """The table row of ``node`` (ONNX default domain or the fixed-point domain), or None."""
    if node.domain == FIXED_DOMAIN:
        return FIXED_OPS.get(node.op)
    if node.domain in ("", "ai.onnx"):
        return OPS.get(node.op)
    return None


spec_of = row_of  # the former name


def placement_of(node: Node) -> Placement:
    """Where ``node`` runs (an op outside the table runs nowhere: host, with that reason)."""
    row = row_of(node)
    if row is None:
        return host(f"not in the op table: {node.domain + '.' if node.domain else ''}{node.op}")
    return row.where


def is_supported(node: Node) -> bool:
    return row_of(node) is not None


def macs_of(node: Node, graph: Graph) -> int:
    """Multiply-accumulates of one inference (batch 1) of ``node``; 0 when not a MAC op."""
    row = row_of(node)
    if row is None or row.macs is None:
        return 0
    return int(row.macs(node, graph))
