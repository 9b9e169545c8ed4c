"""What the QDQ lowering rules share: the :class:`Context` (finding codes behind DequantizeLinear,
the single QuantizeLinear after an op through a fusable Relu/Clip, constants, building requants),
the options, and helpers used by more than one op family.

A rule (registered as its op table row's ``lower`` kernel, ``@register("lower", "Conv")``) takes
``(ctx, node)`` and returns ``(new_nodes, absorbed_node_names)``, or None to leave the node a float
op on the host.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

import numpy as np

from ... import fixedpoint
from ...errors import QuantizationError
from ...golden.fixed_ops.common import code_dtype
from ...ir.graph import Dim, Graph, Node, QuantParams, TensorInfo
from ...ir.ops import FIXED_DOMAIN, row_of
from ..qdq_canonical import clip_bounds
from .cell_format import CellFormat

__all__ = ["LowerOptions", "Context", "Codes", "QuantOut", "Lowered", "fixed_node", "same_encoding", "explicit_pads",
           "single_input", "rescale_after"]

Lowered = tuple[list[Node], set[str]] | None


@dataclass(frozen=True)
class LowerOptions:
    scheme: str = "affine"  # or "pow2"
    rounding: str = "half_even"
    mult_bits: int | None = None  # None: fixedpoint's default for the accumulator width
    bits: dict[str, int] = field(default_factory=dict)  # narrower widths than the container, by value name
    cell_format: CellFormat | None = None  # widths inside recurrent cells; None: the default (cell_format.py)


FUSABLE_ACTIVATIONS = frozenset({"Relu", "Clip"})
LOWERING_TIE_BITS = 16  # 25-bit multipliers for 8-bit outputs


def fixed_node(name: str, op: str, inputs: Iterable[str], output: str, **attrs: Any) -> Node:
    """A node of the fixed-point domain with one output."""
    return Node(name, op, tuple(inputs), (output,), attrs, FIXED_DOMAIN)


def same_encoding(a: QuantParams, b: QuantParams) -> bool:
    """Codes of ``a`` mean the same reals as codes of ``b`` (no rescale needed)."""
    return (a.bits, a.signed) == (b.bits, b.signed) and np.array_equal(a.scale, b.scale) and np.array_equal(a.zero_point, b.zero_point)


@dataclass(frozen=True)
class Codes:
    """Integer codes standing behind a float value: the codes' name and their encoding."""

    name: str
    quant: QuantParams
    constant: np.ndarray | None = None


@dataclass(frozen=True)
class QuantOut:
    """Where an op's result is quantized: the output codes name, encoding, clamp and absorbed nodes."""

    name: str
    quant: QuantParams
    lo: int
    hi: int
    absorbed: tuple[str, ...]


class Context:
    """What the rules share while one graph is lowered: producers and consumers of values, and
    the values and constants the rules add."""

    def __init__(self, graph: Graph, options: LowerOptions) -> None:
        self.graph = graph
        self.options = options
        self.producers = {o: n for n in graph.nodes for o in n.outputs if o}
        self.consumers: dict[str, list[Node]] = {}
        for n in graph.nodes:
            for i in n.inputs:
                self.consumers.setdefault(i, []).append(n)
        self.graph_outputs = {t.name for t in graph.outputs}
        self.new_values: dict[str, TensorInfo] = {}
        self.new_initializers: dict[str, np.ndarray] = {}

    def lower(self, node: Node) -> Lowered:
        """``node`` lowered by its op table row's ``lower`` rule, or None (it stays a float op)."""
        row = row_of(node) if node.domain in ("", "ai.onnx") else None
        rule: Callable[[Context, Node], Lowered] | None = None if row is None else row.kernel("lower")
        return None if rule is None else rule(self, node)

    # constants ---------------------------------------------------------------------------------
    def const(self, name: str) -> np.ndarray | None:
        if not name:
            return None
        if name in self.new_initializers:
            return self.new_initializers[name]
        return self.graph.initializers.get(name)

    def known_shape(self, name: str) -> tuple[Dim, ...]:
        """The shape of ``name``, which shape inference must have found."""
        shape = self.graph.shape(name)
        if shape is None:
            raise QuantizationError(f"{self.graph.name}: the shape of {name!r} must be known, not None")
        return shape

    def add_const(self, name: str, value: np.ndarray) -> str:
        self.new_initializers[name] = value
        self.new_values[name] = TensorInfo(name, tuple(value.shape), str(value.dtype))
        return name

    # encodings ---------------------------------------------------------------------------------
    def quant_params(self, codes_name: str, scale_name: str, zp_name: str, axis: int | None, default_dtype=np.uint8) -> QuantParams:
        scale = self.const(scale_name)
        zero = self.const(zp_name) if zp_name else np.zeros((), default_dtype)
        if scale is None or zero is None:
            raise QuantizationError(f"{self.graph.name}: scale/zero point of {codes_name!r} must be constants")
        dtype = np.dtype(zero.dtype)
        if dtype.kind not in "iu":
            raise QuantizationError(f"{codes_name!r}: zero point must be an integer type, not {dtype}")
        bits = int(self.options.bits.get(codes_name, dtype.itemsize * 8))
        scale = np.asarray(scale, np.float64).reshape(-1)
        zero = np.broadcast_to(np.asarray(zero, np.int64).reshape(-1), scale.shape).copy()
        per_channel = scale.size > 1
        return QuantParams(scale, zero, bits, dtype.kind == "i", axis if per_channel else None)

    def dequantized(self, value: str) -> Codes | None:
        """The codes behind ``value`` if a DequantizeLinear produces it, else None."""
        dq = self.producers.get(value)
        if dq is None or dq.op != "DequantizeLinear":
            return None
        codes = dq.inputs[0]
        quant = self.quant_params(codes, dq.inputs[1], dq.inputs[2] if len(dq.inputs) > 2 else "", int(dq.attr("axis", 1)),
                                  default_dtype=self._dtype_of(codes))
        constant = self.const(codes)
        if constant is None:
            constant = self._quantized_constant(codes)
        return Codes(codes, quant, constant)

    def _dtype_of(self, value: str):
        c = self.const(value)
        if c is not None:
            return c.dtype
        info = self.graph.values.get(value)
        return np.dtype(info.dtype) if info is not None and info.dtype not in ("undefined",) else np.uint8

    def _quantized_constant(self, codes: str) -> np.ndarray | None:
        """Codes produced by QuantizeLinear of a float constant: evaluate them now."""
        q = self.producers.get(codes)
        if q is None or q.op != "QuantizeLinear" or self.const(q.inputs[0]) is None:
            return None
        quant = self.quant_params(codes, q.inputs[1], q.inputs[2] if len(q.inputs) > 2 else "", int(q.attr("axis", 1)))
        values = fixedpoint.quantize(self.const(q.inputs[0]), quant.scale, quant.zero_point, quant.qmin, quant.qmax,
                                     axis=quant.axis)
        constant = values.astype(code_dtype(quant.bits, quant.signed))
        self.add_const(codes, constant)
        return constant

    def quantized_output(self, value: str) -> QuantOut | None:
        """The QuantizeLinear that alone consumes ``value`` (maybe through one Relu/Clip)."""
        absorbed: list[str] = []
        activation: Node | None = None
        users = self.consumers.get(value, [])
        if value in self.graph_outputs or len(users) != 1:
            return None
        if users[0].op in FUSABLE_ACTIVATIONS:
            activation = users[0]
            if any(i and i != value and self.const(i) is None for i in activation.inputs):
                return None
            value = activation.outputs[0]
            users = self.consumers.get(value, [])
            if value in self.graph_outputs or len(users) != 1:
                return None
            absorbed.append(activation.name)
        q = users[0]
        if q.op != "QuantizeLinear":
            return None
        quant = self.quant_params(q.outputs[0], q.inputs[1], q.inputs[2] if len(q.inputs) > 2 else "", None)
        if quant.per_channel:
            raise QuantizationError(f"{q.name}: activations must be quantized per tensor, not per channel")
        absorbed.append(q.name)
        lo, hi = quant.qmin, quant.qmax
        if activation is not None:
            lo, hi = self._clamp_of(activation, quant)
        return QuantOut(q.outputs[0], quant, lo, hi, tuple(absorbed))

    def _clamp_of(self, activation: Node, quant: QuantParams) -> tuple[int, int]:
        clip_min, clip_max = clip_bounds(activation, self.const) or (None, None)
        kind = "relu" if activation.op == "Relu" else "clip"
        return fixedpoint.activation_clamp(kind, float(quant.scale[0]), int(quant.zero_point[0]), quant.qmin, quant.qmax,
                                           clip_min=clip_min, clip_max=clip_max)

    # building ------------------------------------------------------------------------------------
    def requant(self, real_multipliers, out: QuantParams, lo: int, hi: int, acc_bits: int | None = None) -> fixedpoint.Requant:
        return fixedpoint.Requant.from_scales(
            np.asarray(real_multipliers, np.float64).reshape(-1), zero_point=int(out.zero_point[0]), lo=lo, hi=hi,
            scheme=self.options.scheme, mult_bits=self.mult_bits(out, lo, hi, acc_bits), rounding=self.options.rounding,
        )

    def mult_bits(self, out: QuantParams, lo: int, hi: int, acc_bits: int | None = None) -> int:
        """The configured multiplier width, or the contract's width for rescaling to ``out`` with
        ``LOWERING_TIE_BITS`` of near-tie resolution (a float32-grade multiplier, like onnxruntime's
        and TFLite's), capped so that ``acc * M0`` fits int64."""
        if self.options.mult_bits is not None:
            return self.options.mult_bits
        bits = fixedpoint.multiplier_bits_for_exactness(lo, hi, int(out.zero_point[0]), tie_bits=LOWERING_TIE_BITS)
        return bits if acc_bits is None else max(2, min(bits, 63 - acc_bits))

    def codes_value(self, name: str, like: str, quant: QuantParams | None) -> str:
        """Record the value info of a codes value named ``name`` with the shape of ``like``."""
        shape = self.graph.shape(like)
        dtype = "int32" if quant is None else str(code_dtype(quant.bits, quant.signed))
        self.new_values[name] = TensorInfo(name, shape, dtype, quant)
        return name


def explicit_pads(node: Node, in_spatial, kernel, strides, dilations) -> list[int]:
    mode = node.attr("auto_pad", "NOTSET")
    spatial = len(kernel)
    if mode in ("NOTSET", ""):
        return [int(p) for p in node.attr("pads", [0] * 2 * spatial)]
    if mode == "VALID":
        return [0] * 2 * spatial
    begins, ends = [], []
    for size, k, s, d in zip(in_spatial, kernel, strides, dilations):
        total = max(0, (math.ceil(size / s) - 1) * s + (k - 1) * d + 1 - size)
        small, large = total // 2, total - total // 2
        begins.append(small if mode == "SAME_UPPER" else large)
        ends.append(large if mode == "SAME_UPPER" else small)
    return begins + ends


def single_input(ctx: Context, node: Node) -> tuple[Codes, QuantOut] | None:
    x = ctx.dequantized(node.inputs[0])
    out = ctx.quantized_output(node.outputs[0])
    if x is None or out is None or x.quant.per_channel:
        return None
    return x, out


def rescale_after(ctx: Context, node: Node, produced: Node, x: QuantParams, out: QuantOut) -> list[Node]:
    """``produced`` writes codes in the input encoding; add a QRequant when the output's differs."""
    if same_encoding(x, out.quant) and (out.lo, out.hi) == (out.quant.qmin, out.quant.qmax):
        ctx.codes_value(out.name, out.name, out.quant)
        return [produced]
    mid = f"{node.name}.codes"
    ctx.codes_value(mid, node.outputs[0], x)
    first = Node(produced.name, produced.op, produced.inputs, (mid,), produced.attrs, produced.domain)
    requant = ctx.requant(float(x.scale[0]) / float(out.quant.scale[0]), out.quant, out.lo, out.hi)
    ctx.codes_value(out.name, out.name, out.quant)
    return [first, fixed_node(f"{node.name}.rescale", "QRequant", (mid,), out.name, x_zero_point=int(x.zero_point[0]), requant=requant)]
