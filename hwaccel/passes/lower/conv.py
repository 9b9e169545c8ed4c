"""Lowering rules of the weighted layers: Conv, ConvTranspose, Gemm, MatMul, QLinearConv,
QLinearMatMul, ConvInteger and MatMulInteger -> QConv / QConvTranspose / QMatMul."""

from __future__ import annotations

import math

import numpy as np

from ... import fixedpoint
from ...errors import QuantizationError
from ...ir.graph import Node, QuantParams
from ...ir.ops import register
from .common import Codes, Context, Lowered, QuantOut, explicit_pads, fixed_node

__all__: list[str] = []


def _per_channel(q: QuantParams, channels: int) -> tuple[np.ndarray, np.ndarray]:
    """Scales and zero points per output channel (a grouped ConvTranspose's per-group entries repeat)."""
    reps = channels // q.scale.size if q.scale.size > 1 and channels % q.scale.size == 0 else 1
    return (np.broadcast_to(np.tile(q.scale, reps), (channels,)).astype(np.float64),
            np.broadcast_to(np.tile(q.zero_point, reps), (channels,)).astype(np.int64))


def _output_axis_ok(w: Codes, axis: int) -> bool:
    """Per-axis weight scales must run along the output channels (``axis`` of the stored weights);
    scales along a reduction axis cannot leave the accumulator: such a layer stays a float op."""
    if not w.quant.per_channel or w.constant is None:
        return True
    got = w.quant.axis if w.quant.axis is None or w.quant.axis >= 0 else w.quant.axis + w.constant.ndim
    return got == axis


def _bias_codes(ctx: Context, node: Node, bias_name: str, sx: float, sw: np.ndarray) -> str:
    """Int32 bias codes at scale ``sx * sw[c]``: taken as they are from a matching DequantizeLinear,
    otherwise rounded from the float bias (half to even, as QuantizeLinear)."""
    if not bias_name:
        return ""
    codes = ctx.dequantized(bias_name)
    if codes is not None and codes.constant is not None and np.allclose(codes.quant.scale, sx * sw, rtol=1e-6):
        return codes.name
    real = codes.constant.astype(np.float64) * codes.quant.scale if codes is not None and codes.constant is not None else ctx.const(bias_name)
    if real is None:
        return "\0"  # a bias that is not constant: cannot lower
    q = np.rint(np.asarray(real, np.float64) / (sx * sw)).astype(np.int64)
    return ctx.add_const(f"{node.name}.bias_q", q.astype(np.int32))


def _conv_like(ctx: Context, node: Node, x: Codes, w: Codes, bias_name: str, out: QuantOut | None, op: str,
               extra_scale: float = 1.0, bias_is_codes: bool = False) -> Lowered:
    """Shared by Conv/ConvTranspose/QLinearConv/ConvInteger (and MatMul via ``op``).

    ``bias_is_codes``: the bias is already int32 at scale ``s_x * s_w`` (QLinearConv's B input).
    """
    if x.quant.per_channel or (w.constant is None and op != "QMatMul"):
        return None
    transposed = op == "QConvTranspose"
    if w.constant is None:  # QLinearMatMul / MatMulInteger with a runtime B
        channels = int(ctx.known_shape(w.name)[-1])
    elif transposed:
        channels = w.constant.shape[1] * int(node.attr("group", 1))
    else:
        channels = w.constant.shape[-1] if op == "QMatMul" else w.constant.shape[0]
    sw, zw = _per_channel(w.quant, channels)
    sx = float(x.quant.scale[0])
    bias = bias_name if bias_is_codes else _bias_codes(ctx, node, bias_name, sx, sw * extra_scale)
    if bias == "\0":
        return None
    terms = _reduction_terms(ctx, node, w, op)
    bias_codes = ctx.const(bias) if bias else None
    extra = fixedpoint.bias_terms(bias_codes, x.quant.bits, w.quant.bits) if bias_codes is not None else 0
    acc_bits = fixedpoint.accumulator_bits(x.quant.bits, w.quant.bits, terms + extra)
    attrs = {k: v for k, v in node.attrs.items() if k not in ("auto_pad", "alpha", "beta", "transA", "transB", "output_shape")}
    if op in ("QConv", "QConvTranspose"):
        assert w.constant is not None  # only QMatMul may have runtime weights (checked above)
        spatial = w.constant.ndim - 2
        kernel = tuple(w.constant.shape[2:])
        strides = tuple(node.attr("strides", [1] * spatial))
        dilations = tuple(node.attr("dilations", [1] * spatial))
        if transposed and (node.attr("output_shape") or node.attr("auto_pad", "NOTSET") not in ("NOTSET", "")):
            return None  # only explicit pads for transposed convolutions
        attrs["pads"] = explicit_pads(node, ctx.known_shape(node.inputs[0])[2:], kernel, strides, dilations)
        attrs.update(kernel_shape=list(kernel), strides=list(strides), dilations=list(dilations))
        if transposed:
            out_shape = ctx.graph.shape(node.outputs[0])
            if out_shape is None or not all(isinstance(d, int) for d in out_shape[2:]):
                return None
            attrs["output_spatial"] = [int(d) for d in out_shape[2:]]
    requant = None
    if out is not None:
        requant = ctx.requant(sx * sw * extra_scale / float(out.quant.scale[0]), out.quant, out.lo, out.hi, acc_bits)
    attrs.update(x_zero_point=int(x.quant.zero_point[0]), w_zero_point=zw, acc_bits=acc_bits, requant=requant,
                 x_bits=x.quant.bits, w_bits=w.quant.bits)
    result = out.name if out is not None else node.outputs[0]
    ctx.codes_value(result, node.outputs[0] if out is None else out.name, None if out is None else out.quant)
    new = fixed_node(node.name, op, (x.name, w.name, bias), result, **attrs)
    return [new], set(out.absorbed if out is not None else ())


def _reduction_terms(ctx: Context, node: Node, w: Codes, op: str) -> int:
    """Terms summed per accumulator (K). For ConvTranspose, C_in/group x kernel taps bounds it."""
    if w.constant is None:  # a runtime B: only QMatMul gets here
        return int(ctx.known_shape(node.inputs[0])[-1])
    shape = w.constant.shape
    if op == "QMatMul":
        return int(shape[0])
    if op == "QConvTranspose":
        return int(shape[0] // int(node.attr("group", 1)) * math.prod(shape[2:]))
    return int(math.prod(shape[1:]))


@register("lower", "Conv", "ConvTranspose")
def _lower_conv(ctx: Context, node: Node) -> Lowered:
    x, w = ctx.dequantized(node.inputs[0]), ctx.dequantized(node.inputs[1])
    out = ctx.quantized_output(node.outputs[0])
    if x is None or w is None or out is None:
        return None
    op = "QConvTranspose" if node.op == "ConvTranspose" else "QConv"
    if not _output_axis_ok(w, 1 if op == "QConvTranspose" else 0):
        return None
    return _conv_like(ctx, node, x, w, node.inputs[2] if len(node.inputs) > 2 else "", out, op)


@register("lower", "Gemm", "MatMul")
def _lower_matmul(ctx: Context, node: Node) -> Lowered:
    """MatMul, and Gemm without transA (transB weights are transposed to (K, M); alpha folds into the scale)."""
    if node.op == "Gemm" and node.attr("transA", 0):
        return None
    x, w = ctx.dequantized(node.inputs[0]), ctx.dequantized(node.inputs[1])
    out = ctx.quantized_output(node.outputs[0])
    if x is None or w is None or out is None or w.constant is None or w.constant.ndim != 2:
        return None
    bias_name = node.inputs[2] if len(node.inputs) > 2 else ""
    if node.op == "Gemm" and bias_name and float(node.attr("beta", 1.0)) != 1.0:
        return None
    if not _output_axis_ok(w, 0 if node.op == "Gemm" and node.attr("transB", 0) else 1):
        return None
    if node.op == "Gemm" and node.attr("transB", 0):
        w = Codes(ctx.add_const(f"{node.name}.weight_kxm", np.ascontiguousarray(w.constant.T)), w.quant, w.constant.T)
    return _conv_like(ctx, node, x, w, bias_name, out, "QMatMul", extra_scale=float(node.attr("alpha", 1.0)))


def _qlinear_codes(ctx: Context, value: str, scale: str, zp: str, axis: int | None = None) -> Codes:
    quant = ctx.quant_params(value, scale, zp, axis, default_dtype=ctx._dtype_of(value))
    return Codes(value, quant, ctx.const(value))


def _qlinear_out(ctx: Context, node: Node, scale: str, zp: str) -> QuantOut:
    quant = ctx.quant_params(node.outputs[0], scale, zp, None)
    return QuantOut(node.outputs[0], quant, quant.qmin, quant.qmax, ())


@register("lower", "QLinearConv")
def _lower_qlinear_conv(ctx: Context, node: Node) -> Lowered:
    i = node.inputs
    x, w = _qlinear_codes(ctx, i[0], i[1], i[2]), _qlinear_codes(ctx, i[3], i[4], i[5], axis=0)
    return _conv_like(ctx, node, x, w, i[8] if len(i) > 8 else "", _qlinear_out(ctx, node, i[6], i[7]), "QConv",
                      bias_is_codes=True)


@register("lower", "QLinearMatMul")
def _lower_qlinear_matmul(ctx: Context, node: Node) -> Lowered:
    i = node.inputs
    x, w = _qlinear_codes(ctx, i[0], i[1], i[2]), _qlinear_codes(ctx, i[3], i[4], i[5], axis=1)
    return _conv_like(ctx, node, x, w, "", _qlinear_out(ctx, node, i[6], i[7]), "QMatMul")


def _integer_codes(ctx: Context, value: str, zp: str, axis: int | None) -> Codes:
    dtype = ctx._dtype_of(value)
    zero = ctx.const(zp) if zp else np.zeros((), dtype)
    if zero is None:
        raise QuantizationError(f"{ctx.graph.name}: the zero point of {value!r} must be a constant, not the computed value {zp!r}")
    scale = np.ones(np.size(zero))
    quant = QuantParams(scale, np.asarray(zero, np.int64).reshape(-1), np.dtype(dtype).itemsize * 8, np.dtype(dtype).kind == "i",
                        axis if np.size(zero) > 1 else None)
    return Codes(value, quant, ctx.const(value))


@register("lower", "ConvInteger")
def _lower_conv_integer(ctx: Context, node: Node) -> Lowered:
    i = list(node.inputs) + [""] * (4 - len(node.inputs))
    x, w = _integer_codes(ctx, i[0], i[2], None), _integer_codes(ctx, i[1], i[3], 0)
    return _conv_like(ctx, node, x, w, "", None, "QConv")


@register("lower", "MatMulInteger")
def _lower_matmul_integer(ctx: Context, node: Node) -> Lowered:
    i = list(node.inputs) + [""] * (4 - len(node.inputs))
    x, w = _integer_codes(ctx, i[0], i[2], None), _integer_codes(ctx, i[1], i[3], 1)
    if x.quant.zero_point.size > 1:
        return None  # per-row activation zero points are not part of the contract
    return _conv_like(ctx, node, x, w, "", None, "QMatMul")
