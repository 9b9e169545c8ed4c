"""Functional model of a compiled dataflow: the unit golden models composed stage by stage.

Runs what the hardware computes, in its terms: the host ops before the partition, the input
codes laid out as the input port streams them (HWC), each stage's chain of unit goldens on
HWC images (:mod:`.window`, :mod:`.matvec`, :mod:`.depthwise`, :mod:`.requant`, :mod:`.pool`, :mod:`.eltwise`,
:mod:`.pixel_map`, :mod:`.recurrent_stage`, fed
from the stage's unit params), the output port's codes back in IR layout, then the host ops
after. Equal to :func:`~.fixed.run_golden` bit for bit when the compiler's layout, weight
permutation and folding are right; it reads params by duck typing and imports nothing of
``hwaccel.hw``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import SimulationError
from ..fixedpoint import Requant
from ..ir.graph import Graph, TensorInfo
from . import depthwise, eltwise, matvec, pool, window
from .pixel_map import pixel_map
from .recurrent_stage import run_recurrent
from .fixed import run_golden
from .fixed_ops.common import code_dtype

if TYPE_CHECKING:  # the dataflow's params are read by duck typing: no import of hwaccel.hw at run time
    from ..units.dataflow import Dataflow, Stage

__all__ = ["run_dataflow", "run_stage"]

INPUT = "input"  # hwaccel.units.dataflow.INPUT: the top-level input as a stage input


def _contract(rq: Any) -> Requant:
    """The contract requant of a RequantParams."""
    return Requant(np.array(rq.multipliers, np.int64), np.array(rq.shifts, np.int64), rq.zero_point, rq.lo, rq.hi, rq.rounding)


def _finish(codes: np.ndarray, rq: Any) -> np.ndarray:
    """Apply a requant unit's table, if it has one, to its clamped codes."""
    return codes if rq.lut is None else np.asarray(rq.lut, np.int64)[codes - rq.lut_qmin]


def _windows(image: np.ndarray, w: Any) -> np.ndarray:
    """``(N, H, W, C)`` -> ``(N, OH, OW, KH*KW, C)`` in the SlidingWindow's order."""
    out = [window.sliding_windows(x, (w.kernel_h, w.kernel_w), (w.stride_h, w.stride_w), (w.dilation_h, w.dilation_w),
                                  (w.pad_top, w.pad_left, w.pad_bottom, w.pad_right), w.pad_value) for x in image]
    n, oh, ow = len(out), w.out_height, w.out_width
    return np.stack(out).reshape(n, oh, ow, w.kernel_h * w.kernel_w, w.channels)


def run_stage(stage: "Stage", inputs: list[np.ndarray]) -> np.ndarray:
    """One stage on ``(N, H, W, C)`` int64 codes; returns ``(N, *stage.shape)``."""
    n = inputs[0].shape[0]
    h, w, c = stage.shape
    # read by field: the unit classes name what each stage holds; a regroup changes no value
    units: list[Any] = [u for u in stage.units if type(u).__name__ != "RegroupParams"]
    kind = type(units[-1]).__name__
    first = units[0]
    if kind == "EltwiseAddParams":
        p = first
        out = eltwise.add(inputs[0], inputs[1], p.a_zero_point, p.b_zero_point, p.a_multiplier, p.b_multiplier, _contract(p.requant))
        return _finish(out, p.requant)
    if kind == "EltwiseConcatParams":
        p = first
        rqs = [None if r is None else _contract(r) for r in (p.a_requant, p.b_requant)]
        return eltwise.concat(inputs[0], inputs[1], p.a_zero_point, p.b_zero_point, *rqs)
    x = inputs[0]
    if kind == "RecurrentParams":
        return run_recurrent(first, x.reshape(n, -1)).reshape(n, h, w, c)
    if kind in ("DepthToSpaceParams", "UpsampleParams"):
        return pixel_map(x.reshape(n, first.height, first.width, first.in_channels), first)
    has_window = type(first).__name__ == "WindowParams"
    if has_window:  # a dense stage's vector viewed as an image
        x = x.reshape(n, first.height, first.width, first.channels)
    if kind == "PoolParams":
        p = units[-1]
        wins = _windows(x, first) if has_window else x.reshape(n, h, w, p.window, c)
        if p.kind == "max":
            return pool.max_pool(wins)
        return _finish(pool.average_pool(wins, p.x_zero_point, [_contract(r) for r in p.requants], p.pixel_classes), p.requant)
    mv, rq = units[-2], units[-1]
    vectors = _windows(x, first) if has_window else x
    if type(mv).__name__ == "DepthwiseParams":
        acc = depthwise.depthwise(vectors.reshape(n, h * w, mv.taps, c), np.array(mv.weights, np.int64),
                                  np.array(mv.bias, np.int64), mv.x_zero_point)
        return _finish(_contract(rq).apply(acc, channel_axis=2), rq).reshape(n, h, w, c)
    acc = matvec.matvec(vectors.reshape(n, h * w, mv.in_features), np.array(mv.weights, np.int64), np.array(mv.bias, np.int64),
                        mv.x_zero_point, None if mv.codebook is None else np.array(mv.codebook, np.int64))
    return _finish(_contract(rq).apply(acc, channel_axis=2), rq).reshape(n, h, w, c)


def _host(df: "Dataflow", nodes: tuple, source: TensorInfo, value: np.ndarray, outputs: list[str]) -> dict[str, np.ndarray]:
    if not nodes:
        return {source.name: value}
    values = {source.name: source}
    graph = Graph(f"{df.name}.host", tuple(nodes), (source,), tuple(TensorInfo(o, None) for o in outputs),
                  dict(df.constants), values)
    return run_golden(graph, {source.name: value}, outputs=outputs)


def run_dataflow(df: "Dataflow", feeds: dict[str, np.ndarray], keep_stages: bool = False) -> dict[str, np.ndarray]:
    """Run the compiled network on float ``feeds`` (keyed by the graph input name).

    Returns the graph outputs, plus the output port codes under ``df.output.value`` and, with
    ``keep_stages``, every stage's ``(N, H, W, C)`` codes under its name.

    Raises
    ------
    SimulationError
        The host's input codes do not fit the input port's width.
    """
    x = np.asarray(feeds[df.graph_input])
    pre = _host(df, df.host_pre, TensorInfo(df.graph_input, x.shape, str(x.dtype)), x, [df.input.value])
    codes = np.asarray(pre[df.input.value]).astype(np.int64)
    enc = df.input.encoding
    if codes.size and (codes.min() < enc.qmin or codes.max() > enc.qmax):
        raise SimulationError(f"input codes must fit the input port's {enc.bits}-bit range [{enc.qmin}, {enc.qmax}], "
                              f"not [{codes.min()}, {codes.max()}] (the QuantizeLinear clips to its container only)")
    n = codes.shape[0]
    images = {INPUT: df.input.to_stream(codes).reshape((n,) + df.input.shape)}
    for stage in df.stages:
        images[stage.name] = run_stage(stage, [images[src] for src in stage.inputs])
    last = next(e.src for e in df.edges if e.dst == "output")
    out_codes = df.output.from_stream(images[last].reshape(n, df.output.beats, df.output.lanes))
    enc = df.output.encoding
    out_codes = out_codes.astype(code_dtype(enc.bits, enc.signed))
    info = TensorInfo(df.output.value, out_codes.shape, str(out_codes.dtype))
    results = _host(df, df.host_post, info, out_codes, list(df.graph_outputs))
    results = {k: v for k, v in results.items() if k in df.graph_outputs}
    results[df.output.value] = out_codes
    if keep_stages:
        results.update({k: v for k, v in images.items() if k != INPUT})
    return results
