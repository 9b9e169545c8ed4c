"""Recurrent cells (QLSTM / QGRU / QRNN) -> :class:`~hwaccel.units.RecurrentParams`, and their stage.

The stage streams one sequence per batch element: its input ``(time, features)`` in time order,
its output ``Y`` ``(time, directions, hidden)`` (a Gather of time steps after it folds into the
unit: :func:`fold_gather`), ``Y_h`` or ``Y_c`` ``(directions, hidden)``. Its fold is the unit's
``pe`` (rows at a time); ``simd`` is the input stream's lanes.

The unit computes exactly the golden cell (:mod:`hwaccel.golden.fixed_ops.recurrent`); this module
only moves the node's constants into the params' layout and refuses what the unit does not build
(a per-channel output requant, gate requants that do not clamp to their table's range).
"""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np

from ..errors import CompileError
from ..golden.fixed_ops.recurrent import GATES
from ..ir.graph import Graph, Node
from ..ir.ops import macs_of, register
from ..units import RecurrentParams
from .lower_stages import StageSpec, Stream, quant_of
from .stream_layout import identity, same_order, stream_shape

__all__ = ["recurrent_params", "fold_gather", "CELL_OF"]

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


def _divisors(n: int) -> list[int]:
    return [d for d in range(1, n + 1) if n % d == 0]


def _build_recurrent(spec: StageSpec, lanes_in: int, lanes_out: int, fold: tuple[int, ...] | None = None) -> tuple:
    """The Recurrent unit reading ``lanes_in`` codes a beat (its ``simd``), ``pe`` rows at a time,
    writing ``lanes_out``; the time steps a folded Gather keeps (:func:`fold_gather`)."""
    pe = 1 if fold is None else fold[1]
    cache = spec.data.setdefault("_units", {})
    key = (lanes_in, pe, lanes_out, spec.data["steps"])
    if key not in cache:
        cache[key] = replace(spec.data["params"], simd=lanes_in, pe=pe, lanes=lanes_out, steps=spec.data["steps"])
    return (cache[key],)


@register("stage", "QLSTM", "QGRU", "QRNN")
def _recurrent(graph: Graph, node: Node, xs: list[Stream]) -> StageSpec:
    x = xs[0]
    if len(x.logical) != 2 or not same_order(x.layout, identity(x.logical)):
        raise CompileError(f"{node.name}: {node.op} input must stream its (time, features) in time order, not shape "
                           f"{x.logical} in layout {x.layout}")
    seq, _ = x.logical
    params = recurrent_params(graph, node, seq)
    out = (seq, params.directions, params.hidden) if params.output == "Y" else (params.directions, params.hidden)
    layout = int(node.attr("layout", 0))
    out_batch = 0 if layout else (2 if params.output == "Y" else 1)  # (seq, dirs, N, H) or (dirs, N, H)
    data = dict(params=params, steps=(), pe_options=_divisors(params.rows), out_batch=out_batch)
    return StageSpec("recurrent", node, (x,), stream_shape(identity(out)), quant_of(graph, node.outputs[0]), _build_recurrent,
                     data, macs=macs_of(node, graph) // max(1, _batch_of(graph, node)))


def _batch_of(graph: Graph, node: Node) -> int:
    """The batch of the cell's input when static (macs_of counts the whole batch then), else 1."""
    shape = graph.shape(node.inputs[0])
    layout = int(node.attr("layout", 0))
    batch = shape[1 - layout] if shape is not None and len(shape) == 3 else None
    return batch if isinstance(batch, int) else 1


def fold_gather(spec: StageSpec, node: Node, per_element_axis: int, x: Stream, indices: np.ndarray) -> bool:
    """Fold a Gather of time steps into recurrent stage ``spec``: ``x`` is its output Y (still in
    time-major order, any reshape of it) gathered along ``per_element_axis`` of one batch element,
    which must be the time axis; False when it is not one."""
    params: RecurrentParams = spec.data["params"]
    if spec.kind != "recurrent" or params.output != "Y" or spec.data["steps"] or indices.ndim > 1:
        return False
    logical = x.logical
    in_order = same_order(x.layout, identity(tuple(x.layout[0])))
    if not in_order or logical[per_element_axis] != params.seq or math.prod(logical[:per_element_axis]) != 1:
        return False
    steps = tuple(int(v) % params.seq for v in indices.reshape(-1))
    if len(set(steps)) != len(steps):
        return False
    spec.data["steps"] = steps
    spec.shape = stream_shape(identity((len(steps), params.directions, params.hidden)))
    spec.sources.append(node.name)
    return True
