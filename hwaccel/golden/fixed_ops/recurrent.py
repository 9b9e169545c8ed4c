"""Integer LSTM, GRU and RNN cells (QLSTM / QGRU / QRNN): MatVec over [x, h], table gates, integer state.

Encodings inside a cell are fixed powers of two, so nothing beyond the QDQ model is calibrated
(a ``CellFormat`` of hwaccel.passes.lower.cell_format chooses them; the 12-bit default in brackets):

* ``h`` (hidden state) and every gate output: codes at scale ``2**-F``, ``F = frac_bits`` [12], in
  ``[-2**F, 2**F]`` (±1.0 exactly representable: ``F + 2`` signed bits).
* gate pre-activations: signed table indices, ``sigmoid_qmin``-based for sigmoid gates [12 bits at
  ``2**-8``: ±8] and ``tanh_qmin``-based for tanh gates and ``tanh(c)`` [12 bits at ``2**-9``: ±4].
  The index scales live in the multipliers and the tables, not in the kernel.
* ``c`` (LSTM cell state): ``cell_bits``-bit signed codes at ``2**-cell_frac`` [16], ``cell_frac >= F``;
  ``|c_t| <= |c_0| + t``, so ``cell_bits`` covering ``|c_0| + seq`` never saturates.

One time step of direction ``d`` (``round(v, n)`` is :func:`~hwaccel.fixedpoint.round_shift` with the
node's ``rounding``; ``G`` gates of ``H`` rows each, ONNX gate order)::

    ax[g] = sum_k (x_k - x_zero_point) * W[g, :, k] + B[g]     exact, scale s_x * s_W[row]
    ah[g] = sum_j h_j * R[g, :, j] + B[G + g]                  exact, scale 2**-F * s_R[row]
    pre[g] = gate_requants[d][g](ax[g] * Mx + ah[g] * Mh)      (Mx, Mh) = gate_multipliers[d, g]
    gate[g] = table_g[pre[g] - qmin_g]                         sigmoid_table or tanh_table
    LSTM (i, o, f, c): c = clamp(round(f * c + (i * g << (cell_frac - F)), F))
                       h = round(o * tanh_table[clamp(round(c, cell_to_gate_shift)) - tanh_qmin], F)
    GRU (z, r, n):     ah[n] = sum_j round(r * h, F)_j * R[n, :, j] + B[G + n]   (linear_before_reset=0)
                       ah[n] = round(r * ah[n], F)                              (linear_before_reset=1)
                       h = round((2**F - z) * n + z * h, F)
    RNN (i):           h = gate[i]

Inputs: ``x`` codes ``(seq, batch, input)`` (``layout`` 1: ``(batch, seq, input)``), ``W`` codes
``(dirs, G*H, input)`` and ``R`` codes ``(dirs, G*H, H)`` (symmetric: zero point 0), ``B`` int32
``(dirs, 2*G*H)`` (x half at the x scale, h half at the h scale) or empty, optional ``initial_h``
codes ``(dirs, batch, H)`` at ``2**-F`` and ``initial_c`` codes at ``2**-cell_frac`` (empty: zero).

Attributes: ``hidden_size``, ``direction`` (forward, reverse, bidirectional), ``layout``,
``linear_before_reset`` (QGRU), ``x_zero_point``, ``acc_bits`` (exact widths of ``ax`` and ``ah``),
``frac_bits``, ``sigmoid_table`` / ``tanh_table`` (output code per index) with ``sigmoid_qmin`` /
``tanh_qmin`` (their first index), ``gate_multipliers`` int64 ``(dirs, G, H, 2)``, ``gate_requants``
(per direction, per gate: a :class:`~hwaccel.fixedpoint.Requant` of ``H`` channels, multiplier 1,
clamping to the gate's table range), ``rounding``; QLSTM also ``cell_frac``, ``cell_bits``,
``cell_to_gate_shift``. One output: ``output`` names it (``Y``, ``Y_h`` or ``Y_c``, ONNX shapes for
``layout``) and ``requant`` rescales its state codes (zero point 0) to the output encoding.
"""

from __future__ import annotations

import numpy as np

from ...fixedpoint import round_shift
from ...ir.graph import Node

__all__ = ["GATES", "recurrent"]

# gate functions in ONNX gate order
GATES = {"QLSTM": ("Sigmoid", "Sigmoid", "Sigmoid", "Tanh"), "QGRU": ("Sigmoid", "Sigmoid", "Tanh"), "QRNN": ("Tanh",)}


class _Cell:
    """The constants of one direction and the table/requant steps shared by the three cells."""

    def __init__(self, node: Node, d: int, r: np.ndarray, bias_h: np.ndarray) -> None:
        self.node, self.d, self.r, self.bias_h = node, d, r, bias_h
        self.hidden = int(node.attr("hidden_size"))
        self.frac = int(node.attr("frac_bits"))
        self.rounding = str(node.attr("rounding", "half_even"))
        self.tables = {f: (int(node.attr(f"{f.lower()}_qmin")), np.asarray(node.attr(f"{f.lower()}_table"), np.int64))
                       for f in ("Sigmoid", "Tanh")}
        self.multipliers = np.asarray(node.attr("gate_multipliers"), np.int64)[d]
        self.requants = node.attr("gate_requants")[d]

    def rows(self, g: int) -> slice:
        return slice(g * self.hidden, (g + 1) * self.hidden)

    def recurrent_acc(self, h: np.ndarray, g0: int, g1: int) -> np.ndarray:
        """``ah`` of gates ``g0 .. g1 - 1``: ``h @ R.T + B_h`` (exact int64)."""
        rows = slice(g0 * self.hidden, g1 * self.hidden)
        return h @ self.r[rows].T + self.bias_h[rows]

    def gate(self, g: int, ax: np.ndarray, ah: np.ndarray) -> np.ndarray:
        """Gate ``g`` output codes from its two accumulators: requant to the table index, then the table."""
        m = self.multipliers[g]
        pre = self.requants[g].apply(ax * m[:, 0] + ah * m[:, 1], channel_axis=1)
        return self.lookup(GATES[self.node.op][g], pre)

    def lookup(self, function: str, index: np.ndarray, clamp: bool = False) -> np.ndarray:
        """``table[index - qmin]``; with ``clamp`` the index is first clamped to the table's range."""
        qmin, table = self.tables[function]
        return table[(np.clip(index, qmin, qmin + table.size - 1) if clamp else index) - qmin]

    def round(self, x: np.ndarray, shift: int) -> np.ndarray:
        return round_shift(x, shift, self.rounding)


def _lstm_step(cell: _Cell, ax: np.ndarray, h: np.ndarray, c: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    node, f_bits = cell.node, cell.frac
    ah = cell.recurrent_acc(h, 0, 4)
    i, o, f, g = (cell.gate(k, ax[:, cell.rows(k)], ah[:, cell.rows(k)]) for k in range(4))
    cell_frac, cell_bits = int(node.attr("cell_frac")), int(node.attr("cell_bits"))
    bound = (1 << (cell_bits - 1)) - 1
    c = np.clip(cell.round(f * c + ((i * g) << (cell_frac - f_bits)), f_bits), -bound - 1, bound)
    tanh_c = cell.lookup("Tanh", cell.round(c, int(node.attr("cell_to_gate_shift"))), clamp=True)
    return cell.round(o * tanh_c, f_bits), c


def _gru_step(cell: _Cell, ax: np.ndarray, h: np.ndarray, c: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    ah = cell.recurrent_acc(h, 0, 2)
    z, r = (cell.gate(k, ax[:, cell.rows(k)], ah[:, cell.rows(k)]) for k in range(2))
    if int(cell.node.attr("linear_before_reset", 0)):
        ah_n = cell.round(r * cell.recurrent_acc(h, 2, 3), cell.frac)
    else:
        ah_n = cell.recurrent_acc(cell.round(r * h, cell.frac), 2, 3)
    n = cell.gate(2, ax[:, cell.rows(2)], ah_n)
    return cell.round(((1 << cell.frac) - z) * n + z * h, cell.frac), c


def _rnn_step(cell: _Cell, ax: np.ndarray, h: np.ndarray, c: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return cell.gate(0, ax, cell.recurrent_acc(h, 0, 1)), c


_STEPS = {"QLSTM": _lstm_step, "QGRU": _gru_step, "QRNN": _rnn_step}


def _state(value: np.ndarray | None, dirs: int, batch: int, hidden: int) -> np.ndarray:
    if value is None:
        return np.zeros((dirs, batch, hidden), np.int64)
    return np.broadcast_to(value.astype(np.int64), (dirs, batch, hidden))


def recurrent(node: Node, inputs: list[np.ndarray | None]) -> np.ndarray:
    """Run a QLSTM / QGRU / QRNN node; returns its ``output`` (Y, Y_h or Y_c) in the output encoding."""
    inputs = list(inputs) + [None] * (6 - len(inputs))
    x_codes, w_codes, r_codes = inputs[0], inputs[1], inputs[2]
    assert x_codes is not None and w_codes is not None and r_codes is not None, "x, W and R are required"
    x = x_codes.astype(np.int64) - int(node.attr("x_zero_point", 0))
    layout = int(node.attr("layout", 0))
    if layout:
        x = x.transpose(1, 0, 2)
    w, r = w_codes.astype(np.int64), r_codes.astype(np.int64)
    seq, batch = x.shape[:2]
    dirs, rows = w.shape[:2]
    hidden = int(node.attr("hidden_size"))
    bias = np.zeros((dirs, 2 * rows), np.int64) if inputs[3] is None else inputs[3].astype(np.int64).reshape(dirs, 2 * rows)
    h0, c0 = _state(inputs[4], dirs, batch, hidden), _state(inputs[5], dirs, batch, hidden)
    step = _STEPS[node.op]
    y = np.empty((seq, dirs, batch, hidden), np.int64)
    last = np.empty((2, dirs, batch, hidden), np.int64)
    for d in range(dirs):
        cell = _Cell(node, d, r[d], bias[d, rows:])
        ax = x @ w[d].T + bias[d, :rows]  # (seq, batch, G*H): the x half of every step at once
        backward = node.attr("direction", "forward") == "reverse" or d == 1
        h, c = h0[d], c0[d]
        for t in (range(seq - 1, -1, -1) if backward else range(seq)):
            h, c = step(cell, ax[t], h, c)
            y[t, d] = h
        last[0, d], last[1, d] = h, c
    output = str(node.attr("output", "Y"))
    value = {"Y": y, "Y_h": last[0], "Y_c": last[1]}[output]
    if layout:
        value = value.transpose(2, 0, 1, 3) if output == "Y" else value.transpose(1, 0, 2)
    return node.attr("requant").apply(value, channel_axis=0)
