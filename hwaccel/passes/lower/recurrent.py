"""Lowering rule for recurrent cells: DQ(x) -> LSTM / GRU / RNN (weights DQ(int codes) or float) -> Q
becomes one QLSTM / QGRU / QRNN node (semantics and attributes: :mod:`hwaccel.golden.fixed_ops.recurrent`).

The cell's internal encodings are powers of two (a :class:`~.cell_format.CellFormat`: the lowering
option ``cell_format``, which :func:`hwaccel.frontend.qdq.lower_model` takes from the model's
``hwaccel.cell_format`` metadata written by ``hwaccel quantize``; default the 12-bit ladder entry).
x and the one used output (Y, Y_h or Y_c) carry their encodings in the Q/DQ nodes, W and R their
per-row (or per-tensor) symmetric scales. The real bias ``Wb + Rb`` is rounded
at the fine h-half scale ``2**-F * s_R`` (see :func:`_bias_codes`). Left on the host (rule returns
None): non-default activations, clip, input_forget, peepholes, sequence_lens, initial states that are
not constants, asymmetric weights, or more than one used output (the golden executor writes one
output per fixed-point node).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from ... import fixedpoint
from ...golden.fixed_ops.recurrent import GATES
from ...ir.graph import Node, QuantParams
from ...ir.ops import FIXED_DOMAIN, register
from .cell_format import DEFAULT_CELL_FORMAT, CellFormat
from .common import Context, Lowered

__all__ = ["CellFormat", "cell_attrs"]

FIXED_OP = {"LSTM": "QLSTM", "GRU": "QGRU", "RNN": "QRNN"}
DEFAULT_ACTIVATIONS = {"LSTM": ["sigmoid", "tanh", "tanh"], "GRU": ["sigmoid", "tanh"], "RNN": ["tanh"]}
OUTPUTS = ("Y", "Y_h", "Y_c")
FUNCTIONS: dict[str, Callable[[np.ndarray], np.ndarray]] = {"Sigmoid": lambda v: 1.0 / (1.0 + np.exp(-v)), "Tanh": np.tanh}


def _gate_multipliers(rx: np.ndarray, rh: np.ndarray, scheme: str, mult_bits: int) -> tuple[np.ndarray, np.ndarray]:
    """Per row: integer ``(Mx, Mh)`` and one shift ``n`` with ``M * 2**-n ~= (rx, rh)`` (common shift)."""
    pairs, shifts = [], []
    for a, b in zip(rx.ravel(), rh.ravel()):
        if scheme == "pow2":
            p = [fixedpoint.pow2_multiplier(float(r)) for r in (a, b)]
            n = max(s for _, s in p)
            pairs.append([m << (n - s) for m, s in p])
        else:
            m, s = fixedpoint.quantize_multipliers([a, b], mult_bits, common_shift=True)
            pairs.append([int(m[0]), int(m[1])])
            n = int(s[0])
        shifts.append(n)
    return np.array(pairs, np.int64).reshape(rx.shape + (2,)), np.array(shifts, np.int64).reshape(rx.shape)


def _bias_codes(op: str, bias: np.ndarray | None, dirs: int, hidden: int, x_scale: np.ndarray, h_scale: np.ndarray,
                linear_before_reset: bool) -> np.ndarray | None:
    """Int32 bias codes ``(dirs, 2*G*H)``: ``Wb + Rb`` goes to the h half, whose scale ``2**-F * s_R`` is
    far finer than the x half's ``s_x * s_W`` (an x-half bias would cost up to ``s_x * s_W / 2`` of
    pre-activation error); only GRU's ``Wb[n]`` with ``linear_before_reset`` must stay outside ``r * ah[n]``.
    None when a code does not fit int32."""
    rows = x_scale.shape[1]
    real = np.zeros((dirs, 2 * rows)) if bias is None else np.asarray(bias, np.float64).reshape(dirs, 2 * rows)
    x_half, h_half = np.zeros((dirs, rows)), real[:, :rows] + real[:, rows:]
    if op == "QGRU" and linear_before_reset:
        n = slice(2 * hidden, 3 * hidden)
        x_half[:, n], h_half[:, n] = real[:, n], real[:, rows:][:, n]
    codes = np.concatenate([np.rint(x_half / x_scale), np.rint(h_half / h_scale)], axis=1)
    return codes.astype(np.int64) if np.all(np.abs(codes) < 2**31) else None


def cell_attrs(op: str, hidden: int, x: QuantParams, w_codes: np.ndarray, w_scale: np.ndarray, w_bits: int,
               r_codes: np.ndarray, r_scale: np.ndarray, r_bits: int, bias: np.ndarray | None, *, fmt: CellFormat = DEFAULT_CELL_FORMAT,
               scheme: str = "affine", mult_bits: int | None = None, rounding: str = "half_even",
               seq: int | None = None, c0_bound: float = 0.0, linear_before_reset: bool = False) -> tuple[dict, np.ndarray]:
    """Attributes of a QLSTM / QGRU / QRNN node and its int32 bias codes ``(dirs, 2*G*H)``.

    ``w_scale`` / ``r_scale`` are the real per-row scales ``(dirs, G*H)`` of the symmetric weight
    codes, ``bias`` the real ONNX bias ``(dirs, 2*G*H)`` (None: zero). ``seq`` and ``c0_bound`` (the
    largest ``|c_0|``) size the LSTM cell register so that it never saturates (32 bits if unknown).
    """
    gates = GATES[op]
    dirs, rows = w_codes.shape[:2]
    unit_scale = 2.0 ** -fmt.frac_bits
    sx = float(x.scale[0])
    bias_codes = _bias_codes(op, bias, dirs, hidden, sx * w_scale, unit_scale * r_scale, linear_before_reset)
    if bias_codes is None:
        return {}, np.zeros(0)  # caller leaves the node on the host
    acc_bits = [
        fixedpoint.accumulator_bits(x.bits, w_bits, w_codes.shape[2] + fixedpoint.bias_terms(bias_codes[:, :rows], x.bits, w_bits)),
        fixedpoint.accumulator_bits(fmt.frac_bits + 2, r_bits, hidden + fixedpoint.bias_terms(bias_codes[:, rows:], fmt.frac_bits + 2, r_bits)),
    ]
    gate_q = {f: fmt.gate(f) for f in FUNCTIONS}
    # multipliers exact to the table index (as for any requant), narrowed if acc * M would not fit int64
    exact = max(fixedpoint.multiplier_bits_for_exactness(q.qmin, q.qmax, 0) for q in gate_q.values())
    bits = mult_bits or min(exact, 63 - max(acc_bits))
    gate_scale = np.repeat([float(gate_q[f].scale[0]) for f in gates], hidden)  # per row
    multipliers, shifts = _gate_multipliers(sx * w_scale / gate_scale, unit_scale * r_scale / gate_scale, scheme, bits)
    if max(acc_bits) + int(np.abs(multipliers).max()).bit_length() > 63:
        return {}, np.zeros(0)
    requants = tuple(
        tuple(fixedpoint.Requant(np.ones(hidden, np.int64), shifts[d, g * hidden:(g + 1) * hidden], 0,
                                 gate_q[f].qmin, gate_q[f].qmax, rounding) for g, f in enumerate(gates))
        for d in range(dirs)
    )
    attrs = {
        "hidden_size": hidden, "x_zero_point": int(x.zero_point[0]), "acc_bits": acc_bits, "frac_bits": fmt.frac_bits,
        "rounding": rounding, "gate_multipliers": multipliers.reshape(dirs, len(gates), hidden, 2), "gate_requants": requants,
    }
    for f, q in gate_q.items():
        attrs[f"{f.lower()}_table"] = fixedpoint.build_lut(FUNCTIONS[f], q, fmt.unit(), rounding)
        attrs[f"{f.lower()}_qmin"] = q.qmin
    if op == "QLSTM":
        # |c_t| <= |c_0| + t (|f| <= 1, |i * g| <= 1, exact also after rounding): never saturates
        span = int(np.ceil(c0_bound)) + seq if seq is not None else 0
        attrs.update(cell_frac=fmt.cell_frac, cell_to_gate_shift=fmt.cell_frac - fmt.tanh_frac,
                     cell_bits=fmt.cell_frac + 1 + span.bit_length() if seq is not None else 32)
    return attrs, bias_codes


def _default_cell(node: Node) -> bool:
    """Default activations, no clip, no input_forget (anything else stays on the host)."""
    dirs = 2 if node.attr("direction", "forward") == "bidirectional" else 1
    activations = node.attr("activations")
    if activations is not None and [str(a).lower() for a in activations] != DEFAULT_ACTIVATIONS[node.op] * dirs:
        return False
    return not any(node.attr(k) for k in ("clip", "input_forget", "activation_alpha", "activation_beta"))


@dataclass(frozen=True)
class _Weights:
    """Symmetric codes of W or R, the real scale of each row ``(dirs, rows)``, their width, and the
    initializer holding the codes (None: codes made here from float weights, still to be added)."""

    codes: np.ndarray
    scale: np.ndarray
    bits: int
    name: str | None


def _weights(ctx: Context, name: str) -> _Weights | None:
    """Codes behind a DequantizeLinear as they are (any scale constant along the input axis), or
    8-bit symmetric per-row codes of a float constant."""
    codes = ctx.dequantized(name)
    if codes is not None:
        q = codes.quant
        if codes.constant is None or codes.constant.ndim != 3 or np.any(q.zero_point != 0):
            return None
        shape = [1, 1, 1]
        if q.axis is not None:
            shape[q.axis % 3] = -1
        scale = np.broadcast_to(q.scale.reshape(shape), codes.constant.shape)
        if not np.all(scale == scale[..., :1]):
            return None
        return _Weights(codes.constant, np.array(scale[..., 0], np.float64), q.bits, codes.name)
    w = ctx.const(name)
    if w is None or w.ndim != 3:
        return None
    scale = fixedpoint.symmetric_weight_scale(w.reshape(-1, w.shape[2]), 8, axis=0).astype(np.float64).reshape(w.shape[:2])
    return _Weights(np.clip(np.rint(w / scale[..., None]), -127, 127).astype(np.int8), scale, 8, None)


def _real_constant(ctx: Context, name: str) -> np.ndarray | None:
    """A float constant, or the real value of constant codes behind a DequantizeLinear."""
    value = ctx.const(name)
    if value is not None:
        return np.asarray(value, np.float64)
    codes = ctx.dequantized(name)
    if codes is None or codes.constant is None:
        return None
    q = codes.quant
    return fixedpoint.dequantize(codes.constant, q.scale, q.zero_point, axis=q.axis).astype(np.float64)


def _initial_state(ctx: Context, name: str, layout: int, bound: float | None) -> np.ndarray | None:
    """The real constant initial state ``(dirs, batch, H)`` (zeros ``(1, 1, 1)`` when absent or a zero
    ConstantOfShape); None when it is not constant or exceeds ``bound``."""
    producer = ctx.producers.get(name) if name else None
    if not name or (producer is not None and producer.op == "ConstantOfShape" and not np.any(producer.attr("value", 0))):
        return np.zeros((1, 1, 1))
    real = _real_constant(ctx, name)
    if real is None or real.ndim != 3 or (bound is not None and np.abs(real).max(initial=0.0) > bound):
        return None
    return real.transpose(1, 0, 2) if layout else real


def _used_output(ctx: Context, node: Node) -> int | None:
    used = [k for k, o in enumerate(node.outputs) if o and (ctx.consumers.get(o) or o in ctx.graph_outputs)]
    return used[0] if len(used) == 1 else None


@register("lower", "LSTM", "GRU", "RNN")
def _lower_recurrent(ctx: Context, node: Node) -> Lowered:
    op = FIXED_OP[node.op]
    inputs = list(node.inputs) + [""] * (8 - len(node.inputs))
    if not _default_cell(node) or inputs[4] or inputs[7]:
        return None  # sequence_lens, peepholes
    x, used = ctx.dequantized(inputs[0]), _used_output(ctx, node)
    if x is None or x.quant.per_channel or used is None:
        return None
    out = ctx.quantized_output(node.outputs[used])
    w, r = _weights(ctx, inputs[1]), _weights(ctx, inputs[2])
    bias = _real_constant(ctx, inputs[3]) if inputs[3] else None
    layout = int(node.attr("layout", 0))
    fmt = ctx.options.cell_format or DEFAULT_CELL_FORMAT
    h0, c0 = _initial_state(ctx, inputs[5], layout, 1.0), _initial_state(ctx, inputs[6], layout, 2.0 ** (30 - fmt.cell_frac))
    if out is None or w is None or r is None or (inputs[3] and bias is None) or h0 is None or c0 is None:
        return None
    x_shape = ctx.graph.shape(inputs[0])
    seq = x_shape[layout] if x_shape is not None else None
    lbr = int(node.attr("linear_before_reset", 0))
    attrs, bias_codes = cell_attrs(
        op, int(node.attr("hidden_size", r.codes.shape[-1])), x.quant, w.codes, w.scale, w.bits, r.codes, r.scale, r.bits,
        bias, fmt=fmt, scheme=ctx.options.scheme, mult_bits=ctx.options.mult_bits, rounding=ctx.options.rounding,
        seq=seq if isinstance(seq, int) else None, c0_bound=float(np.abs(c0).max()), linear_before_reset=bool(lbr))
    if not attrs:
        return None  # bias codes beyond int32 or accumulators beyond int64
    state_frac = fmt.cell_frac if OUTPUTS[used] == "Y_c" else fmt.frac_bits
    attrs.update(direction=node.attr("direction", "forward"), layout=layout, output=OUTPUTS[used],
                 requant=ctx.requant(2.0 ** -state_frac / float(out.quant.scale[0]), out.quant, out.lo, out.hi))
    if op == "QGRU":
        attrs["linear_before_reset"] = lbr
    names = [v.name or ctx.add_const(f"{node.name}.{k}.q", v.codes) for k, v in (("W", w), ("R", r))]
    names.append(ctx.add_const(f"{node.name}.B.q", bias_codes.astype(np.int32)))
    for k, state, frac in (("initial_h", h0, fmt.frac_bits), ("initial_c", c0, fmt.cell_frac)):
        codes = np.rint(state * 2.0**frac).astype(np.int32)
        names.append(ctx.add_const(f"{node.name}.{k}.q", codes) if np.any(codes) else "")
    ctx.codes_value(out.name, out.name, out.quant)
    return [Node(node.name, op, (x.name, *names), (out.name,), attrs, FIXED_DOMAIN)], set(out.absorbed)

