"""Recurrent cells (QLSTM / QGRU / QRNN) -> :class:`~hwaccel.units.RecurrentParams`.

The unit computes exactly the golden cell (:mod:`hwaccel.golden.fixed_ops.recurrent`); this module
only moves the node's constants into the params' layout and refuses what the unit does not build
(a per-channel output requant, gate requants that do not clamp to their table's range).
"""

from __future__ import annotations

import numpy as np

from ..errors import CompileError
from ..golden.fixed_ops.recurrent import GATES
from ..ir.graph import Graph, Node
from ..units import RecurrentParams
from .lower_stages import quant_of

__all__ = ["recurrent_params", "CELL_OF"]

CELL_OF = {"QLSTM": "lstm", "QGRU": "gru", "QRNN": "rnn"}


def _constant(graph: Graph, node: Node, k: int) -> np.ndarray | None:
    name = node.inputs[k] if k < len(node.inputs) else ""
    if not name:
        return None
    value = graph.initializers.get(name)
    if value is None:
        raise CompileError(f"{node.name}: {node.op} input {k} ({name!r}) must be a constant in hardware")
    return np.asarray(value, np.int64)


def _ints(values: np.ndarray) -> tuple[int, ...]:
    return tuple(int(v) for v in np.asarray(values).reshape(-1))


def recurrent_params(graph: Graph, node: Node, seq: int, *, simd: int = 1, pe: int = 1, lanes: int = 1) -> RecurrentParams:
    """The unit of ``node`` over sequences of ``seq`` steps, folded ``simd`` x ``pe``, ``lanes`` output codes a beat."""
    w, r, bias = (_constant(graph, node, k) for k in (1, 2, 3))
    h0, c0 = _constant(graph, node, 4), _constant(graph, node, 5)
    assert w is not None and r is not None
    dirs, rows, inputs = w.shape
    hidden = int(node.attr("hidden_size"))
    gates = GATES[node.op]
    requants = node.attr("gate_requants")
    shifts = np.zeros((dirs, rows), np.int64)
    tables = {f: (int(node.attr(f"{f.lower()}_qmin")), len(node.attr(f"{f.lower()}_table"))) for f in ("Sigmoid", "Tanh")}
    for d in range(dirs):
        for g, function in enumerate(gates):
            rq = requants[d][g]
            qmin, size = tables[function]
            if np.any(rq.multiplier != 1) or rq.zero_point or (rq.lo, rq.hi) != (qmin, qmin + size - 1):
                raise CompileError(f"{node.name}: gate {g}'s requant must clamp to its table's range [{qmin}, {qmin + size - 1}], "
                                   f"not [{rq.lo}, {rq.hi}]")
            shifts[d, g * hidden:(g + 1) * hidden] = np.broadcast_to(rq.shift, (hidden,))
    out = node.attr("requant")
    if out.channels != 1:
        raise CompileError(f"{node.name}: {node.op}'s output must be quantized per tensor, not per channel")
    if bias is None:
        bias = np.zeros((dirs, 2 * rows), np.int64)
    states: list[tuple[int, ...]] = []
    for s in (h0, c0):
        if s is None or s.size == 0:
            states.append(())
            continue
        s = np.broadcast_to(s, (dirs,) + s.shape[1:])
        if s.shape[1] != 1 and np.any(s != s[:, :1]):
            raise CompileError(f"{node.name}: initial states must be the same for every batch element in hardware")
        states.append(tuple(int(v) for v in s[:, 0, :].reshape(-1)))
    lstm = node.op == "QLSTM"
    x, y = quant_of(graph, node.inputs[0]), quant_of(graph, node.outputs[0])
    return RecurrentParams(
        CELL_OF[node.op], seq, inputs, hidden, dirs, node.attr("direction", "forward") == "reverse",
        _ints(w), _ints(r), _ints(bias), _ints(node.attr("gate_multipliers")), _ints(shifts), _ints(node.attr("sigmoid_table")),
        tables["Sigmoid"][0], _ints(node.attr("tanh_table")), tables["Tanh"][0], int(node.attr("frac_bits")),
        tuple(int(v) for v in node.attr("acc_bits")), output=str(node.attr("output", "Y")),
        out_multiplier=int(out.multiplier[0]), out_shift=int(out.shift[0]), out_zero_point=out.zero_point,
        out_bits=int(y.bits), out_signed=bool(y.signed), out_lo=out.lo, out_hi=out.hi, bits_x=int(x.bits), signed_x=bool(x.signed), x_zero_point=int(node.attr("x_zero_point", 0)),
        bits_w=max(int(np.abs(np.concatenate([w.ravel(), r.ravel()])).max(initial=1)).bit_length() + 1, 2),
        linear_before_reset=bool(node.attr("linear_before_reset", 0)),
        cell_frac=int(node.attr("cell_frac", 0)) if lstm else 0, cell_bits=int(node.attr("cell_bits", 0)) if lstm else 0,
        cell_to_gate_shift=int(node.attr("cell_to_gate_shift", 0)) if lstm else 0,
        initial_h=states[0], initial_c=states[1], rounding=str(node.attr("rounding", "half_even")), simd=simd, pe=pe, lanes=lanes)
