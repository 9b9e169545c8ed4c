"""Semantics of the fixed-point ops (domain ``hwaccel``) that a quantized graph is lowered to.

Values between them are integer *codes*; a value's :class:`~hwaccel.ir.graph.QuantParams` says what
real number a code stands for (``r = scale * (q - zero_point)``). Every rescale is a
:class:`hwaccel.fixedpoint.Requant` (integer multiplier, shift, rounding, zero point, clamp),
stored as the node attribute ``requant``. Golden kernels: :mod:`hwaccel.golden.fixed_ops`.

QConv / QConvTranspose (x, w, bias?)
    attrs of the ONNX op (strides, pads, dilations, group, output_padding) plus ``x_zero_point``
    (int), ``w_zero_point`` (int array per output channel, 0 for symmetric weights),
    ``acc_bits`` (exact accumulator width), ``requant`` (per output channel) or None for raw
    int32 accumulators (ConvInteger). ``acc = sum((x - zx) * (w - zw)) + bias``; padding is the
    zero point (real 0).
QMatMul (x, w, bias?)
    ``x`` (..., K) codes, ``w`` (K, M) codes; same zero point / requant attrs, channel = last axis.
QMaxPool / QGlobalMaxPool
    MaxPool attrs; maximum of codes (scale > 0 keeps order); output keeps the input encoding.
QAveragePool / QGlobalAveragePool
    AveragePool attrs plus ``x_zero_point``; ``acc = sum(x - zx)`` over the window, then
    ``requants``: a dict {window element count: Requant}, the 1/count folded into the multiplier.
QAdd / QMul (a, b)
    ``a_zero_point``, ``b_zero_point``; QAdd: ``multipliers`` (Ma, Mb) and one ``requant`` whose
    multiplier is 1: ``y = clamp(zy + round((a-za)*Ma + (b-zb)*Mb) >> n)`` (each input to a common
    scale by its own multiplier, one rounding). QMul: ``requant`` applied to ``(a-za)*(b-zb)``.
QConcat (inputs...)
    ``axis``; ``x_zero_points`` and ``requants`` (one per input, rescaling it to the output encoding).
QLut (x)
    ``table``: output code for every input code, indexed by ``x - in_qmin`` (``in_qmin`` attr).
QRequant (x)
    ``x_zero_point`` and ``requant``: ``y = clamp(zy + round((x - zx) * M) >> n)``.
QPad (x, pads...)
    ONNX Pad in constant mode with the zero point as the pad value.
QLSTM / QGRU / QRNN (x, W, R, B, initial_h?, initial_c?)
    Recurrent cells over codes: per step two exact accumulators (x part, h part) rescaled by per-row
    ``gate_multipliers`` and ``gate_requants`` to table indices, sigmoid/tanh tables, integer state
    update with h and gate outputs at ``2**-frac_bits``, LSTM c at ``2**-cell_frac``; ``output``
    (Y, Y_h or Y_c) leaves through ``requant``. Attributes in :mod:`hwaccel.golden.fixed_ops.recurrent`.
Data movement (Reshape, Flatten, Transpose, Squeeze, Unsqueeze, Resize nearest) keep their ONNX
op type and act on codes unchanged. QuantizeLinear / DequantizeLinear mark the host boundary;
float ops left in the graph (e.g. Softmax) run on the host. Where each op runs (a hardware
unit, free in the stream, or the host and why) is its row's placement in :mod:`hwaccel.ir.ops`.
"""
