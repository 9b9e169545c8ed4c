"""The golden model of a Recurrent unit: its params as a QLSTM / QGRU / QRNN node, run by the golden cell.

:func:`run_recurrent` rebuilds the node :mod:`hwaccel.passes.lower_recurrent` read the params from
(read by duck typing: golden imports nothing of the units' classes) and runs
:func:`~.fixed_ops.recurrent.recurrent` on a batch of sequences.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..fixedpoint import Requant
from ..ir.graph import Node
from .fixed_ops.recurrent import GATES, recurrent

__all__ = ["run_recurrent"]

OPS = {"lstm": "QLSTM", "gru": "QGRU", "rnn": "QRNN"}


def _node(p: Any) -> Node:
    op = OPS[p.cell]
    gates = GATES[op]
    h = p.hidden
    shifts = np.reshape(p.shifts, (p.directions, len(gates) * h))
    qrange = {"Sigmoid": (p.sigmoid_qmin, p.sigmoid_qmin + len(p.sigmoid_table) - 1),
              "Tanh": (p.tanh_qmin, p.tanh_qmin + len(p.tanh_table) - 1)}
    requants = tuple(tuple(Requant(np.ones(h, np.int64), shifts[d, g * h:(g + 1) * h], 0, *qrange[f], p.rounding)
                           for g, f in enumerate(gates)) for d in range(p.directions))
    direction = "bidirectional" if p.directions == 2 else ("reverse" if p.reverse else "forward")
    attrs = dict(hidden_size=h, direction=direction, layout=0, linear_before_reset=int(p.linear_before_reset),
                 x_zero_point=p.x_zero_point, acc_bits=list(p.acc_bits), frac_bits=p.frac_bits,
                 sigmoid_table=np.array(p.sigmoid_table, np.int64), sigmoid_qmin=p.sigmoid_qmin,
                 tanh_table=np.array(p.tanh_table, np.int64), tanh_qmin=p.tanh_qmin,
                 gate_multipliers=np.reshape(p.multipliers, (p.directions, len(gates), h, 2)), gate_requants=requants,
                 rounding=p.rounding, cell_frac=p.cell_frac, cell_bits=p.cell_bits, cell_to_gate_shift=p.cell_to_gate_shift,
                 output=p.output, requant=Requant(np.array([p.out_multiplier]), np.array([p.out_shift]), p.out_zero_point,
                                                  p.out_lo, p.out_hi, p.rounding))
    return Node("recurrent", op, ("x", "W", "R", "B", "h0", "c0"), ("y",), attrs)


def run_recurrent(p: Any, x: np.ndarray) -> np.ndarray:
    """Codes ``x`` ``(N, seq * inputs)`` (one sequence a row, time-major) -> ``(N, out_codes_total)``."""
    n = x.shape[0]
    rows = len(GATES[OPS[p.cell]]) * p.hidden
    seqs = np.asarray(x, np.int64).reshape(n, p.seq, p.inputs).transpose(1, 0, 2)
    w = np.reshape(p.w, (p.directions, rows, p.inputs))
    r = np.reshape(p.r, (p.directions, rows, p.hidden))
    states = [None if not s else np.reshape(s, (p.directions, 1, p.hidden)) for s in (p.initial_h, p.initial_c)]
    y = recurrent(_node(p), [seqs, w, r, np.reshape(p.bias, (p.directions, 2 * rows)), *states])
    if p.output == "Y":  # (seq, dirs, N, H): the kept steps, per sequence step-major
        return y[list(p.steps or range(p.seq))].transpose(2, 0, 1, 3).reshape(n, -1)
    return y.transpose(1, 0, 2).reshape(n, -1)
