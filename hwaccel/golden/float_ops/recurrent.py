"""RNN, GRU and LSTM (ONNX semantics: directions, layouts, activations with alpha/beta, clip,
sequence_lens, initial states, LSTM peepholes and input_forget, GRU linear_before_reset).

The input projection ``X @ W.T + Wb`` of every step is one matrix product; the time loop runs the
recurrence for the whole batch at once, in float64. Steps past a sequence's length leave its state
unchanged and write zeros to ``Y``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from ...errors import ModelError
from ...ir.graph import Node
from ...ir.ops import register
from .common import Inputs, optional, required
from .pointwise import sigmoid_values

__all__ = ["rnn", "gru", "lstm", "ACTIVATIONS"]

Activation = Callable[[np.ndarray], np.ndarray]

# name -> (function of x, alpha, beta; default alpha; default beta); None: takes no such parameter.
# Defaults are those of the ONNX operators of the same name, as the spec says (onnxruntime uses 0
# for ThresholdedRelu, ScaledTanh and Affine when no alpha/beta is given).
ACTIVATIONS: dict[str, tuple[Callable[[np.ndarray, float, float], np.ndarray], float | None, float | None]] = {
    "relu": (lambda x, a, b: np.maximum(x, 0.0), None, None),
    "tanh": (lambda x, a, b: np.tanh(x), None, None),
    "sigmoid": (lambda x, a, b: sigmoid_values(x), None, None),
    "affine": (lambda x, a, b: a * x + b, 1.0, 0.0),
    "leakyrelu": (lambda x, a, b: np.where(x < 0, a * x, x), 0.01, None),
    "thresholdedrelu": (lambda x, a, b: np.where(x > a, x, 0.0), 1.0, None),
    "scaledtanh": (lambda x, a, b: a * np.tanh(b * x), 1.0, 1.0),
    "hardsigmoid": (lambda x, a, b: np.clip(a * x + b, 0.0, 1.0), 0.2, 0.5),
    "elu": (lambda x, a, b: np.where(x < 0, a * np.expm1(np.minimum(x, 0.0)), x), 1.0, None),
    "softsign": (lambda x, a, b: x / (1 + np.abs(x)), None, None),
    "softplus": (lambda x, a, b: np.logaddexp(0.0, x), None, None),
}


@dataclass(frozen=True)
class _Cell:
    gates: int  # gate blocks in W / R (RNN 1, GRU 3, LSTM 4)
    defaults: tuple[str, ...]  # default activations of one direction
    states: int  # carried states (h, plus c for LSTM)


_RNN, _GRU, _LSTM = _Cell(1, ("Tanh",), 1), _Cell(3, ("Sigmoid", "Tanh"), 1), _Cell(4, ("Sigmoid", "Tanh", "Tanh"), 2)


def _bind(fn: Callable[[np.ndarray, float, float], np.ndarray], alpha: float | None, beta: float | None) -> Activation:
    return lambda x: fn(x, alpha or 0.0, beta or 0.0)


def _activations(node: Node, cell: _Cell, directions: int) -> list[list[Activation]]:
    """Activation functions per direction; alpha/beta lists are consumed in order by the functions
    that take them."""
    names = [str(n) for n in node.attr("activations", None) or list(cell.defaults) * directions]
    if len(names) != len(cell.defaults) * directions:
        raise ModelError(f"{node.name}: activations must list {len(cell.defaults) * directions} functions, not {names!r}")
    alphas, betas = list(node.attr("activation_alpha", None) or []), list(node.attr("activation_beta", None) or [])
    functions: list[Activation] = []
    for name in names:
        if name.lower() not in ACTIVATIONS:
            raise ModelError(f"{node.name}: activation must be one of {', '.join(sorted(ACTIVATIONS))}, not {name!r}")
        fn, alpha, beta = ACTIVATIONS[name.lower()]
        a = float(alphas.pop(0)) if alpha is not None and alphas else alpha
        b = float(betas.pop(0)) if beta is not None and betas else beta
        functions.append(_bind(fn, a, b))
    per = len(cell.defaults)
    return [functions[d * per:(d + 1) * per] for d in range(directions)]


Step = Callable[[np.ndarray, list[np.ndarray], dict], list[np.ndarray]]


def _run(node: Node, inputs: Inputs, cell: _Cell, step: Step) -> list[np.ndarray]:
    """Shared driver: layouts, directions, masks and outputs; ``step`` updates the states of one time step."""
    x, w, r = (required(node, inputs, i) for i in range(3))
    layout = int(node.attr("layout", 0))
    direction = node.attr("direction", "forward")
    if direction not in ("forward", "reverse", "bidirectional"):
        raise ModelError(f"{node.name}: direction must be forward, reverse or bidirectional, not {direction!r}")
    dirs = 2 if direction == "bidirectional" else 1
    hidden = int(node.attr("hidden_size", r.shape[-1]))
    xs = np.asarray(x, np.float64)
    xs = xs.transpose(1, 0, 2) if layout else xs  # (T, B, I)
    steps, batch = xs.shape[:2]
    if w.shape != (dirs, cell.gates * hidden, xs.shape[2]) or r.shape != (dirs, cell.gates * hidden, hidden):
        raise ModelError(f"{node.name}: W {w.shape} / R {r.shape} do not fit {dirs} direction(s), hidden {hidden}, input {xs.shape[2]}")
    bias = optional(inputs, 3)
    bias = np.zeros((dirs, 2 * cell.gates * hidden)) if bias is None else np.asarray(bias, np.float64)
    lens = optional(inputs, 4)
    lens = np.full(batch, steps) if lens is None else np.asarray(lens).astype(np.int64)
    initial = []
    for state in [optional(inputs, 5)] + ([optional(inputs, 6)] if cell.states == 2 else []):  # (D, B, H); layout 1: (B, D, H)
        if state is None:
            initial.append(np.zeros((dirs, batch, hidden)))
        else:
            state = np.asarray(state, np.float64)
            initial.append(state.transpose(1, 0, 2) if layout else state)
    peep = optional(inputs, 7) if cell.states == 2 else None
    peep = np.zeros((dirs, 3 * hidden)) if peep is None else np.asarray(peep, np.float64)
    clip = node.attr("clip", None)
    acts = _activations(node, cell, dirs)
    y = np.zeros((steps, dirs, batch, hidden))
    finals: list[list[np.ndarray]] = [[] for _ in range(cell.states)]
    for d in range(dirs):
        reverse = direction == "reverse" or d == 1
        wb, rb = bias[d, :cell.gates * hidden], bias[d, cell.gates * hidden:]
        projected = xs @ np.asarray(w[d], np.float64).T + wb  # (T, B, gates * H)
        states = [s[d] for s in initial]
        params = {"r": np.asarray(r[d], np.float64), "rb": rb, "p": peep[d], "acts": acts[d], "clip": clip,
                  "hidden": hidden, "node": node}
        for t in (range(steps - 1, -1, -1) if reverse else range(steps)):
            active = (t < lens)[:, None]
            new = step(projected[t], states, params)
            states = [np.where(active, n, s) for n, s in zip(new, states)]
            y[t, d] = np.where(active, states[0], 0.0)
        for k in range(cell.states):
            finals[k].append(states[k])
    outputs = [y] + [np.stack(f) for f in finals]  # Y (T, D, B, H); Y_h, Y_c (D, B, H)
    if layout:
        outputs = [outputs[0].transpose(2, 0, 1, 3)] + [o.transpose(1, 0, 2) for o in outputs[1:]]
    return [o.astype(x.dtype) for o in outputs]


def _clip(v: np.ndarray, clip: float | None) -> np.ndarray:
    return v if clip is None else np.clip(v, -clip, clip)


def _rnn_step(xw: np.ndarray, states: list[np.ndarray], p: dict) -> list[np.ndarray]:
    (h,) = states
    return [p["acts"][0](_clip(xw + h @ p["r"].T + p["rb"], p["clip"]))]


def _gru_step(xw: np.ndarray, states: list[np.ndarray], p: dict) -> list[np.ndarray]:
    (h,) = states
    f, g = p["acts"]
    n, r, rb = p["hidden"], p["r"], p["rb"]
    zr = xw[:, :2 * n] + h @ r[:2 * n].T + rb[:2 * n]
    z, reset = f(_clip(zr[:, :n], p["clip"])), f(_clip(zr[:, n:], p["clip"]))
    if p["node"].attr("linear_before_reset", 0):
        candidate = xw[:, 2 * n:] + reset * (h @ r[2 * n:].T + rb[2 * n:])
    else:
        candidate = xw[:, 2 * n:] + (reset * h) @ r[2 * n:].T + rb[2 * n:]
    hh = g(_clip(candidate, p["clip"]))
    return [(1 - z) * hh + z * h]


def _lstm_step(xw: np.ndarray, states: list[np.ndarray], p: dict) -> list[np.ndarray]:
    h, c = states
    f, g, act_h = p["acts"]
    n, clip = p["hidden"], p["clip"]
    pre = xw + h @ p["r"].T + p["rb"]  # gate blocks i, o, f, c
    p_i, p_o, p_f = p["p"][:n], p["p"][n:2 * n], p["p"][2 * n:]
    i = f(_clip(pre[:, :n] + p_i * c, clip))
    forget = 1 - i if p["node"].attr("input_forget", 0) else f(_clip(pre[:, 2 * n:3 * n] + p_f * c, clip))
    c_new = forget * c + i * g(_clip(pre[:, 3 * n:], clip))
    o = f(_clip(pre[:, n:2 * n] + p_o * c_new, clip))
    return [o * act_h(c_new), c_new]


@register("float", "RNN")
def rnn(node: Node, inputs: Inputs) -> list[np.ndarray]:
    """Elman RNN: ``H = f(X W^T + H R^T + Wb + Rb)``; outputs Y, Y_h."""
    return _run(node, inputs, _RNN, _rnn_step)


@register("float", "GRU")
def gru(node: Node, inputs: Inputs) -> list[np.ndarray]:
    """GRU with gates z, r, h; outputs Y, Y_h."""
    return _run(node, inputs, _GRU, _gru_step)


@register("float", "LSTM")
def lstm(node: Node, inputs: Inputs) -> list[np.ndarray]:
    """LSTM with gates i, o, f, c and peepholes i, o, f; outputs Y, Y_h, Y_c."""
    return _run(node, inputs, _LSTM, _lstm_step)
