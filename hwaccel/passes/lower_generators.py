"""Stage specs of the generators' layers: transposed convolution (polyphase) and nearest Resize.

A ConvTranspose (kernel ``k``, stride ``s``, begin pad ``b``, output ``out`` per axis) is two
stages, no multiply of an inserted zero: a stride-1 ``conv`` over the input whose output pixel
holds ``P_h * P_w`` phases of ``M`` outputs (group ``p_h * P_w + p_w``), then a
``depth_to_space`` stage (:class:`~hwaccel.units.DepthToSpaceParams`) that puts each phase in
its output pixel and crops the border. Each axis is lowered one of two ways (an :class:`AxisPlan`):

* polyphase (:func:`polyphase_axis`): ``P = s`` phases, a kernel of ``K = ceil(k / s)`` taps (more
  where the crop needs it); conv output ``a`` holds the full result's ``(a + q0) * s + p``, ``q0 =
  b // s``, tap ``u`` of phase ``p`` is the transposed kernel's tap ``(K - 1 - u) * s + p``;
* unrolled (:func:`unrolled_axis`): one conv output whose window is the whole axis and whose ``P =
  out`` phases are the output pixels; tap ``u`` (input ``u``) of phase ``o`` is tap ``o + b - u * s``.

A tap past the kernel is a zero weight the MatVec skips (a zero tile costs no cycle, a zero lane
no multiplier). The polyphase form computes whole border rows whose window reaches into the
padding or whose phases the crop drops; on a small image that is most of the work, so an axis
is unrolled (its pairs exactly the ``(input, tap)`` pairs that land on a kept output) when that
raises the estimated MAC utilization (:func:`axis_plans`) and the weights stay small. A Resize by
integer factors that maps output pixel ``o`` to input pixel ``o // factor`` on every axis is an
``upsample`` stage.

:data:`LOWER` is the complete view of the stage builders (those of :mod:`.lower_stages`, these and
:mod:`.lower_recurrent`'s).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Callable

import numpy as np

from ..errors import CompileError
from ..fixedpoint import Requant
from ..ir.graph import Graph, Node
from ..ir.ops import kernels, register
from ..units import DepthToSpaceParams, UpsampleParams
from ..units.common import ceil_div
from .lower_stages import StageSpec, Stream, _build_conv, _codes, _spatial, _weights_common, quant_of
from .stream_layout import channels_last, same_order, stream_order, stream_shape

__all__ = ["LOWER", "HWC_INPUTS", "UNROLL_WEIGHTS", "UNROLL_BELOW", "AxisPlan", "axis_plans", "channels_last_from_producer",
           "plan_weights", "polyphase_axis", "transpose_macs", "unrolled_axis"]

UNROLL_WEIGHTS = 1 << 16  # an unrolled ConvTranspose holds at most this many non-zero weights
UNROLL_BELOW = 0.95  # axes are unrolled only when the polyphase form's estimated MAC utilization is below this


@dataclass(frozen=True)
class AxisPlan:
    """One axis of a lowered ConvTranspose: the stride-1 conv over ``size`` inputs padded by
    ``pad_begin``/``pad_end`` with a kernel of ``taps`` gives ``outputs`` pixels of ``phases``
    phases; the transposed convolution's output ``o`` is phase ``(o + crop) % phases`` of conv
    output ``(o + crop) // phases``; ``tap_of[p][u]`` is the transposed kernel's tap that tap ``u``
    of phase ``p`` holds (-1: none, a zero weight)."""

    phases: int
    taps: int
    pad_begin: int
    pad_end: int
    outputs: int
    crop: int
    tap_of: tuple[tuple[int, ...], ...]

    @property
    def pairs(self) -> int:
        """``(input, tap)`` pairs the conv computes on this axis, padding included: conv outputs
        times the non-zero ``(phase, tap)`` weights."""
        return self.outputs * sum(t >= 0 for row in self.tap_of for t in row)

    @property
    def weights(self) -> int:
        """Non-zero ``(phase, tap)`` weights on this axis."""
        return sum(t >= 0 for row in self.tap_of for t in row)


def polyphase_axis(size: int, k: int, s: int, begin: int, out: int) -> AxisPlan:
    """The polyphase plan: ``s`` phases, the fewest conv outputs that hold every kept output."""
    q0, q_last = begin // s, (begin + out - 1) // s
    taps = max(ceil_div(k, s), q0 + 1, q_last - size + 2)
    pad_begin, pad_end = taps - 1 - q0, max(0, q_last - size + 1)
    tap_of = tuple(tuple(t if (t := (taps - 1 - u) * s + p) < k else -1 for u in range(taps)) for p in range(s))
    return AxisPlan(s, taps, pad_begin, pad_end, size + pad_begin + pad_end - taps + 1, begin - q0 * s, tap_of)


def unrolled_axis(size: int, k: int, s: int, begin: int, out: int) -> AxisPlan:
    """The unrolled plan: one conv output over all ``size`` inputs, a phase per output pixel."""
    tap_of = tuple(tuple(t if 0 <= (t := o + begin - i * s) < k else -1 for i in range(size)) for o in range(out))
    return AxisPlan(out, size, 0, 0, 1, 0, tap_of)


def transpose_macs(size: int, k: int, s: int, begin: int, out: int) -> int:
    """Per axis: the ``(input, tap)`` pairs that land on a kept output (``i * s + t - begin``)."""
    i, t = np.meshgrid(np.arange(size), np.arange(k), indexing="ij")
    o = i * s + t - begin
    return int(((o >= 0) & (o < out)).sum())


def axis_plans(sizes: tuple[int, int], kernel: tuple[int, int], strides: tuple[int, int], begins: tuple[int, int],
               outs: tuple[int, int], block: int) -> tuple[AxisPlan, AxisPlan]:
    """The plans of the two axes (height, width): polyphase, unless its estimated MAC utilization
    (true pairs / computed pairs, both axes) is below :data:`UNROLL_BELOW`; then the combination of
    unrolled axes with the best estimate whose weights (``block`` = ``C * M`` per ``(phase, tap)``
    pair) stay within :data:`UNROLL_WEIGHTS`, fewer unrolled axes on a tie."""
    args = list(zip(sizes, kernel, strides, begins, outs))
    true = [transpose_macs(*a) for a in args]
    options = [(polyphase_axis(*a), unrolled_axis(*a)) for a in args]
    best: tuple[AxisPlan, AxisPlan] = (options[0][0], options[1][0])

    def estimate(plans: tuple[AxisPlan, AxisPlan]) -> float:
        return float(true[0] * true[1]) / max(1, plans[0].pairs * plans[1].pairs)

    if estimate(best) >= UNROLL_BELOW:
        return best
    for flags in ((False, True), (True, False), (True, True)):
        plans = (options[0][flags[0]], options[1][flags[1]])
        if plans[0].weights * plans[1].weights * block <= UNROLL_WEIGHTS and estimate(plans) > estimate(best):
            best = plans
    return best


def plan_weights(w: np.ndarray, plans: tuple[AxisPlan, AxisPlan]) -> np.ndarray:
    """``(C, M, kh, kw)`` transposed-conv weights -> ``(P_h * P_w * M, K_h, K_w, C)`` conv weights
    (output ``(p_h * P_w + p_w) * M + m``, tap ``(u, v)``), zero where a plan has no tap."""
    th, tw = (np.array(p.tap_of, np.int64) for p in plans)  # (P_h, K_h), (P_w, K_w)
    c, m = w.shape[:2]
    ty, tx = th[:, None, :, None], tw[None, :, None, :]  # (P_h, P_w, K_h, K_w)
    taken = w[:, :, np.maximum(ty, 0), np.maximum(tx, 0)] * ((ty >= 0) & (tx >= 0))  # (C, M, P_h, P_w, K_h, K_w)
    return np.ascontiguousarray(taken.transpose(2, 3, 1, 4, 5, 0)).reshape(len(th) * len(tw) * m, th.shape[1], tw.shape[1], c)


def _build_pixel_map(spec: StageSpec, lanes: int, _: int) -> tuple:
    cache = spec.data.setdefault("_units", {})
    if lanes not in cache:
        cache[lanes] = replace(spec.data["params"], simd=lanes)
    return (cache[lanes],)


class _TransposeSpec(StageSpec):
    """The conv stage of an unrolled ConvTranspose: its folds are those whose MatVec tiles lie in one
    output pixel's ``M`` outputs and one input pixel's ``C`` inputs (``pe`` divides ``M``, ``simd``
    divides ``C``), when there are any: a tile of several pixels, which read different inputs,
    would carry the others' zeros."""

    def folds(self, in_lanes: int) -> list[tuple[int, ...] | None]:
        folds = super().folds(in_lanes)
        c, m = self.data["pixel_block"]
        aligned: list[tuple[int, ...] | None] = [f for f in folds if f is not None and c % f[0] == 0 and m % f[1] == 0]
        return aligned or folds


def _tiled(value: np.ndarray, times: int) -> np.ndarray:
    value = np.asarray(value, np.int64).reshape(-1)
    return value if value.size == 1 else np.tile(value, times)


@register("stage", "QConvTranspose")
def _conv_transpose(graph: Graph, node: Node, xs: list[Stream]) -> tuple[StageSpec, StageSpec]:
    x = xs[0]
    w = np.asarray(graph.initializers[node.inputs[1]], np.int64)
    if w.ndim == 3:
        w = w[:, :, None, :]
    rank = len(x.logical) - 1
    one = (lambda v: (1, int(v[0]))) if rank == 1 else (lambda v: (int(v[0]), int(v[1])))
    group, dilations = int(node.attr("group", 1)), one(node.attr("dilations") or [1] * rank)
    if group != 1 or dilations != (1, 1):
        raise CompileError(f"{node.name}: a transposed convolution needs group 1 and dilation 1 in hardware, "
                           f"not group {group} and dilations {dilations}")
    c, h, wd = _spatial(x, node)
    m = w.shape[1]
    strides = one(node.attr("strides") or [1] * rank)
    pads = [int(v) for v in node.attr("pads") or [0] * 2 * rank]
    begins = (0, pads[0]) if rank == 1 else (pads[0], pads[1])
    outs = one(node.attr("output_spatial"))
    plans = axis_plans((h, wd), (w.shape[2], w.shape[3]), strides, begins, outs, c * m)
    (th, pt, pb, rows, crop_top), (tw, pl, pr, cols, crop_left) = (
        (p.taps, p.pad_begin, p.pad_end, p.outputs, p.crop) for p in plans)
    phases = plans[0].phases * plans[1].phases
    weights = plan_weights(w, plans)
    rq: Requant = node.attr("requant")
    common = _weights_common(graph, node, x, "ConvTranspose")
    if rq is None:  # _weights_common refused it
        raise CompileError(f"{node.name}: ConvTranspose without a requant has no hardware stage")
    if common["bias"] is not None:
        common["bias"] = np.tile(common["bias"], phases)
    tiled = replace(rq, multiplier=_tiled(rq.multiplier, phases), shift=_tiled(rq.shift, phases))
    conv_node = replace(node, attrs={**node.attrs, "requant": tiled})
    x_zero = int(node.attr("x_zero_point", 0))
    trivial = (th, tw) == (1, 1) and not any((pt, pb, pl, pr))
    window = None if trivial else dict(channels=c, height=h, width=wd, kernel_h=th, kernel_w=tw, stride_h=1, stride_w=1,
                                       dilation_h=1, dilation_w=1, pad_top=pt, pad_left=pl, pad_bottom=pb, pad_right=pr,
                                       pad_value=x_zero, **_codes(x.quant))
    macs = transpose_macs(h, w.shape[2], strides[0], begins[0], outs[0]) * transpose_macs(
        wd, w.shape[3], strides[1], begins[1], outs[1]) * c * m
    data = dict(window=window, groups=1, in_features=th * tw * c, out_features=phases * m,
                weights=weights.reshape(phases * m, -1), **common)
    quant = quant_of(graph, node.outputs[0])
    mid: tuple[int, ...] = (phases * m, rows, cols) if rank == 2 else (phases * m, cols)
    unrolled = any(p.outputs == 1 and p.phases > 1 for p in plans)
    if unrolled:
        data["pixel_block"] = (c, m)
    conv = (_TransposeSpec if unrolled else StageSpec)("conv", conv_node, (x,), stream_shape(channels_last(mid)), quant,
                                                       _build_conv, data, macs=macs)
    params = DepthToSpaceParams(m, rows, cols, plans[0].phases, plans[1].phases, outs[0], outs[1], crop_top, crop_left,
                                **_codes(quant))
    d2s = StageSpec("depth_to_space", node, (Stream("", mid, channels_last(mid), quant),), (outs[0], outs[1], m), quant,
                    _build_pixel_map, dict(params=params))
    return conv, d2s


def _nearest_factors(graph: Graph, node: Node, x: Stream, out: tuple[int, ...]) -> tuple[int, int]:
    """The integer factors of a Resize/Upsample that repeats every pixel, checked on an index image
    through the op's own float kernel (every coordinate mode and rounding that comes to ``o // f``)."""
    c, h, w = _spatial(x, node)
    oh, ow = (1, out[-1]) if len(out) == 2 else out[1:]
    if oh % h or ow % w or out[0] != c:
        raise CompileError(f"{node.name}: {node.op} must upsample the spatial axes by integer factors, not {x.logical} -> {out}")
    fh, fw = oh // h, ow // w
    kernel: Callable[..., Any] | None = kernels("float").get(node.op)
    index = np.arange(h * w, dtype=np.float32).reshape((1, 1, h, w) if len(out) == 3 else (1, 1, w))
    consts = [graph.initializers.get(v) if v else None for v in node.inputs[1:]]
    if consts and any(v and consts[k] is None for k, v in enumerate(node.inputs[1:])):
        raise CompileError(f"{node.name}: {node.op} scales and sizes must be constants")
    got = None if kernel is None else np.asarray(kernel(node, [index, *consts])[0]).reshape(oh, ow)
    want = np.arange(h * w).reshape(h, w)[np.arange(oh)[:, None] // fh, np.arange(ow)[None, :] // fw]
    if got is None or got.shape != want.shape or not np.array_equal(got, want):
        raise CompileError(f"{node.name}: {node.op} must repeat each pixel (nearest, o // factor) in hardware, "
                           f"not mode {node.attr('mode', 'nearest')!r}")
    return fh, fw


@register("stage", "Resize", "Upsample")
def _upsample(graph: Graph, node: Node, xs: list[Stream]) -> StageSpec:
    x = xs[0]
    shape = graph.shape(node.outputs[0])
    if shape is None or not all(isinstance(d, int) for d in shape[1:]):
        raise CompileError(f"{node.name}: {node.op} output must have a static shape, not {shape}")
    out = tuple(int(d) for d in shape[1:])
    fh, fw = _nearest_factors(graph, node, x, out)
    c, h, w = _spatial(x, node)
    params = UpsampleParams(c, h, w, fh, fw, h * fh, w * fw, **_codes(x.quant))
    return StageSpec("upsample", node, (x,), (h * fh, w * fw, c), x.quant, _build_pixel_map, dict(params=params))


from . import lower_recurrent  # noqa: E402,F401  (registers the recurrent stage before the snapshot)

LOWER: dict[str, Callable[[Graph, Node, list[Stream]], Any]] = kernels("stage")


HWC_INPUTS = ("QConvTranspose", "Resize", "Upsample")  # the ops of this module: their input streams channels last


def channels_last_from_producer(graph: Graph, node: Node, producer: StageSpec | None, x: Stream) -> Stream:
    """``x`` streaming channels last: as it is, or with its producer's outputs permuted into HWC
    order (the weight rows, bias and per-channel requant of a MatVec stage), if nothing else reads
    them: a dense stage's one vector viewed as an image (a Linear before an Unflatten), or a conv's
    pixels whose channels a shuffle (Reshape, Transpose, Reshape) reordered the same way in every pixel."""
    want = channels_last(x.logical)
    if len(x.logical) < 2 or same_order(x.layout, want) or producer is None or producer.kind not in ("dense", "conv"):
        return x
    produced = producer.node.outputs[0]
    if len(graph.consumers(produced)) != 1 or len(graph.consumers(node.inputs[0])) != 1:
        return x
    old = np.argsort(stream_order(x.layout))  # C-order index -> current stream position
    rows = old[stream_order(want)]
    if producer.kind == "dense" and producer.shape[:2] != (1, 1):
        return x
    if producer.kind == "conv":  # the same channel order in every pixel, each pixel's channels in its own beats
        c = producer.shape[2]
        by_pixel = rows.reshape(-1, c) - (np.arange(rows.size // c) * c)[:, None]
        if by_pixel.min() < 0 or by_pixel.max() >= c or np.any(by_pixel != by_pixel[0]):
            return x
        rows = by_pixel[0]
    d = producer.data
    d["weights"] = np.asarray(d["weights"])[rows]
    if d.get("bias") is not None:
        d["bias"] = np.asarray(d["bias"])[rows]
    rq = producer.node.attr("requant")
    if rq is not None and rq.channels > 1:
        rq = replace(rq, multiplier=rq.multiplier[rows], shift=rq.shift[rows])
        producer.node = replace(producer.node, attrs={**producer.node.attrs, "requant": rq})
    return replace(x, layout=want)
