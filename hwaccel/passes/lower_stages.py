"""Fixed-point IR nodes -> stage specs: what each stage computes, before folding picks its lanes.

Each handler registers as its op table row's ``stage`` kernel (:data:`LOWER` is that view; the
row's placement names it). A handler reads the node
and the streams of its inputs and returns a :class:`StageSpec` (or updates the stream state for
data movement and padding). ``StageSpec.build(in_lanes, out_lanes)`` makes the unit params.

Layout: conv and pool inputs must stream channels last (HWC); a MatMul reads its ``K`` features
in stream order, so its weight rows are permuted by :func:`~.stream_layout.stream_order`. A
depthwise conv (``group == C == M``) becomes a ``dwconv`` stage: the window's stream into a
Depthwise unit, one multiplier a lane, each busy every cycle; so does a MatMul by a diagonal
matrix (one tap, no window). Another grouped conv becomes one
block-diagonal MatVec: zero tiles cost no cycle and zero lanes no multiplier. A ``QPad`` folds into the next window's padding; a ``QLut`` folds into the
requant of the stage before it when it is that value's only consumer.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field, replace
from typing import Any, Callable

import numpy as np

from ..errors import CompileError
from ..fixedpoint import Requant
from ..golden.fixed_ops.pool import pool_output_extent, window_count_map
from ..units import (DepthwiseParams, EltwiseAddParams, EltwiseConcatParams, MatVecParams, PoolParams, RegroupParams,
                     RequantParams, WindowParams)
from ..units.common import ceil_div
from ..units.dataflow import Encoding
from ..ir.graph import Graph, Node, QuantParams
from ..ir.ops import kernels, macs_of, register
from .stream_layout import Layout, channels_last, same_order, stream_order, stream_shape
from .fold_options import depthwise_folds, matvec_folds, requant_lanes

__all__ = ["Stream", "StageSpec", "LOWER", "JOINS", "encoding_of", "quant_of", "conv_front", "conv_tail", "conv_tail_key"]


@dataclass(frozen=True)
class Stream:
    """A value on a stream: its producer stage, shape without batch, layout, codes, pending pads."""

    stage: str
    logical: tuple[int, ...]
    layout: Layout
    quant: QuantParams
    pads: tuple[int, int, int, int] = (0, 0, 0, 0)  # a folded QPad: (top, left, bottom, right)
    batch: int = 0  # the value's batch axis (a recurrent cell's sequences have it second, or third)

    @property
    def shape(self) -> tuple[int, int, int]:
        return stream_shape(self.layout)


@dataclass
class StageSpec:
    """A stage before folding. ``build(spec, in_lanes, out_lanes)`` returns its units."""

    kind: str
    node: Node
    inputs: tuple[Stream, ...]
    shape: tuple[int, int, int]
    quant: QuantParams
    build_fn: Callable[..., tuple]
    data: dict[str, Any] = field(default_factory=dict)
    lut: tuple[tuple[int, ...], int, QuantParams] | None = None  # folded table, its first index, output codes
    sources: list[str] = field(default_factory=list)
    macs: int = 0
    name: str = ""

    @property
    def passthrough(self) -> bool:
        """Input and output lanes are one choice (all but a MatVec's stage and a join, whose output a
        Regroup may widen or narrow, and a recurrent stage, whose unit writes any lanes)."""
        return self.kind not in ("conv", "dense", "recurrent") + JOINS

    @property
    def out_quant(self) -> QuantParams:
        return self.quant if self.lut is None else self.lut[2]

    def build(self, in_lanes: int, out_lanes: int, fold: tuple[int, ...] | None = None) -> tuple:
        """The units at these stream lanes; a conv/dense stage's ``fold`` is its MatVec's ``(simd, pe)``,
        a depthwise stage's its Depthwise's ``(lanes,)`` (default: the stream lanes), with a Regroup
        wherever a unit's lanes differ from its stream's."""
        return self.build_fn(self, in_lanes, out_lanes) if fold is None else self.build_fn(self, in_lanes, out_lanes, fold)

    def folds(self, in_lanes: int) -> list[tuple[int, ...] | None]:
        """The ``(simd, pe)`` worth trying for a conv/dense stage fed ``in_lanes`` lanes (see
        :func:`~.fold_options.matvec_folds`), a depthwise stage's Depthwise lanes
        (:func:`~.fold_options.depthwise_folds`); ``[None]`` for the other stages, whose lanes are the stream's."""
        d = self.data
        if self.kind == "dwconv":
            return depthwise_folds(d["channels"], in_lanes)
        if self.kind == "recurrent":  # the Recurrent unit's (simd, pe): simd is the stream's lanes
            return [(in_lanes, pe) for pe in d["pe_options"]]
        if self.kind not in ("conv", "dense"):
            return [None]
        return matvec_folds(d["in_features"], d["out_features"], ceil_div(d["in_features"], in_lanes))

    def requant(self, rq: Any, acc_bits: int, channels: int, lanes: int) -> RequantParams:
        """The stage's requant unit with the folded table, if any."""
        out = self.out_quant
        table, qmin = (None, 0) if self.lut is None else self.lut[:2]
        return RequantParams.from_requant(rq, acc_bits, out.bits, out.signed, channels, table, qmin, lanes)


JOINS = ("add", "concat")  # stages whose inputs stream the same lanes, and whose output may differ


def quant_of(graph: Graph, value: str) -> QuantParams:
    """The encoding of codes ``value`` (every value in the hardware partition has one)."""
    info = graph.values.get(value)
    if info is None or info.quant is None:
        raise CompileError(f"value {value!r} must carry quantization parameters, not {info!r}")
    return info.quant


def encoding_of(quant: QuantParams, where: str) -> Encoding:
    if quant.per_channel or np.size(quant.zero_point) != 1:
        raise CompileError(f"{where}: activations must be quantized per tensor, not per channel")
    return Encoding(int(quant.bits), bool(quant.signed), int(np.asarray(quant.zero_point).reshape(-1)[0]),
                    float(np.asarray(quant.scale).reshape(-1)[0]))


def _codes(quant: QuantParams) -> dict:
    return {"bits": int(quant.bits), "signed": bool(quant.signed)}


def _spatial(x: Stream, node: Node) -> tuple[int, int, int]:
    """``(C, H, W)`` of a conv/pool input streaming channels last (1-D: ``H = 1``)."""
    if len(x.logical) not in (2, 3):
        raise CompileError(f"{node.name}: {node.op} input must be (C, W) or (C, H, W), not {x.logical}")
    if not same_order(x.layout, channels_last(x.logical)):
        raise CompileError(f"{node.name}: {node.op} input must stream channels last, not in layout {x.layout}")
    c, *hw = x.logical
    return (c, 1, hw[0]) if len(hw) == 1 else (c, hw[0], hw[1])


def _window_geometry(node: Node, x: Stream, kernel: tuple[int, int], extra_end: tuple[int, int] = (0, 0)) -> dict:
    """WindowParams geometry of ``node`` (ONNX attrs, 1-D as height 1) plus a folded QPad."""
    rank = len(x.logical) - 1
    pick = (lambda v: (1, v[0])) if rank == 1 else (lambda v: (v[0], v[1]))
    strides, dilations = pick(node.attr("strides") or [1] * rank), pick(node.attr("dilations") or [1] * rank)
    pads = list(node.attr("pads") or [0] * 2 * rank)
    if node.attr("auto_pad", "NOTSET") not in ("NOTSET", b"NOTSET"):
        raise CompileError(f"{node.name}: auto_pad must be resolved to explicit pads, not {node.attr('auto_pad')!r}")
    top, left, bottom, right = (0, pads[0], 0, pads[1]) if rank == 1 else tuple(pads)
    top, left, bottom, right = top + x.pads[0], left + x.pads[1], bottom + x.pads[2] + extra_end[0], right + x.pads[3] + extra_end[1]
    c, h, w = _spatial(x, node)
    return dict(channels=c, height=h, width=w, kernel_h=kernel[0], kernel_w=kernel[1], stride_h=strides[0],
                stride_w=strides[1], dilation_h=dilations[0], dilation_w=dilations[1], pad_top=top, pad_left=left,
                pad_bottom=bottom, pad_right=right)


def _out_stream_shape(spec_out: tuple[int, ...]) -> tuple[int, int, int]:
    return stream_shape(channels_last(spec_out))


# -- conv / dense ------------------------------------------------------------------------------

def _matvec(spec: StageSpec, simd: int, pe: int) -> MatVecParams:
    """The stage's MatVec at ``(simd, pe)``: built (and its weights validated) once, then refolded."""
    d = spec.data
    if "_matvec" not in d:
        d["_matvec"] = MatVecParams(d["in_features"], d["out_features"], d["weights"], d["bias"], bits_x=d["bits_x"],
                                    signed_x=d["signed_x"], x_zero_point=d["x_zero_point"], bits_w=d["bits_w"])
    cache = d.setdefault("_units", {})
    if ("matvec", simd, pe) not in cache:
        cache["matvec", simd, pe] = d["_matvec"].refold(pe, simd)
    return cache["matvec", simd, pe]


@functools.lru_cache(maxsize=4096)
def _regroup(length: int, lanes_in: int, lanes_out: int, bits: int, signed: bool, vectors: int = 1) -> RegroupParams:
    """A Regroup (the folding search asks for the same ones many times)."""
    return RegroupParams(length, lanes_in, lanes_out, bits, signed, vectors)


def _build_conv(spec: StageSpec, lanes_in: int, lanes_out: int, fold: tuple[int, ...] | None = None) -> tuple:
    """Window (``lanes_in``), Regroup to ``simd``, MatVec, the shared requant (:func:`_requant_units`)
    to ``lanes_out``; a Regroup only where the lanes differ."""
    fold = (lanes_in, lanes_out) if fold is None else fold
    return conv_front(spec, lanes_in, fold) + conv_tail(spec, fold, lanes_out)


def conv_front(spec: StageSpec, lanes_in: int, fold: tuple[int, ...]) -> tuple:
    """The units of a conv/dense stage up to its MatVec (their figures do not depend on the output lanes)."""
    simd, pe = fold
    mv = _matvec(spec, simd, pe)
    cache = spec.data.setdefault("_units", {})
    units: list = []
    if spec.data["window"] is not None:
        key = ("window", lanes_in)
        if key not in cache:
            cache[key] = WindowParams(**spec.data["window"], simd=lanes_in)
        units.append(cache[key])
    if simd != lanes_in:
        units.append(_regroup(mv.in_features, lanes_in, simd, mv.bits_x, mv.signed_x))
    units.append(mv)
    return tuple(units)


def conv_tail(spec: StageSpec, fold: tuple[int, ...], lanes_out: int) -> tuple:
    """The units of a conv/dense stage after its MatVec: a function of :func:`conv_tail_key`."""
    mv = _matvec(spec, *fold)
    return tuple(_requant_units(spec, mv.out_features, mv.acc_bits, fold[1], lanes_out, _input_cycles(spec, fold)))


def conv_tail_key(spec: StageSpec, fold: tuple[int, ...], lanes_out: int) -> tuple[int, int, int]:
    """What :func:`conv_tail`'s units depend on: the MatVec's output lanes, the requant's and the stream's."""
    return fold[1], requant_lanes(spec.data["out_features"], _input_cycles(spec, fold), lanes_out), lanes_out


def _input_cycles(spec: StageSpec, fold: tuple[int, ...]) -> int:
    """Cycles between the MatVec's input vectors at ``fold`` (:meth:`~hwaccel.units.matvec.MatVecParams.input_cycles`)."""
    cache = spec.data.setdefault("_units", {})
    if ("cycles", *fold) not in cache:
        cache[("cycles", *fold)] = _matvec(spec, *fold).input_cycles()
    return cache[("cycles", *fold)]  # type: ignore[no-any-return]


def _requant_units(spec: StageSpec, channels: int, acc_bits: int, lanes_acc: int, lanes_out: int, cycles: int) -> list:
    """Accumulators (``lanes_acc`` a beat, ``channels`` every ``cycles`` cycles) to codes on
    ``lanes_out`` lanes through a requant of :func:`~.fold_options.requant_lanes` lanes: a requant runs once per
    output, so a slow MatVec's needs only a lane or two, each a few DSP blocks (Regroups to and
    from it where the lanes differ)."""
    lanes = requant_lanes(channels, cycles, lanes_out)
    cache = spec.data.setdefault("_units", {})
    key = ("requant", lanes)
    if key not in cache:
        cache[key] = spec.requant(spec.node.attr("requant"), acc_bits, channels, lanes)
    units: list = [] if lanes == lanes_acc else [_regroup(channels, lanes_acc, lanes, acc_bits, True)]
    units.append(cache[key])
    if lanes != lanes_out:
        out = spec.out_quant
        units.append(_regroup(channels, lanes, lanes_out, int(out.bits), bool(out.signed)))
    return units


def _weights_common(graph: Graph, node: Node, x: Stream, what: str) -> dict:
    if node.attr("requant") is None:
        raise CompileError(f"{node.name}: {node.op} without a requant (raw int32 accumulators) has no hardware stage")
    zw = np.asarray(node.attr("w_zero_point", 0)).reshape(-1)
    if np.any(zw != 0):
        raise CompileError(f"{node.name}: {what} weights must be symmetric (zero point 0), not zero points {zw[zw != 0][:4].tolist()}")
    bias = graph.initializers.get(node.inputs[2]) if len(node.inputs) > 2 and node.inputs[2] else None
    w_bits = int(node.attr("w_bits", 8))
    return dict(bias=None if bias is None else np.asarray(bias, np.int64).reshape(-1), bits_x=int(x.quant.bits),
                signed_x=bool(x.quant.signed), x_zero_point=int(node.attr("x_zero_point", 0)), bits_w=w_bits)


def _build_dwconv(spec: StageSpec, lanes: int, out_lanes: int, fold: tuple[int, ...] | None = None) -> tuple:
    """Window (``lanes``), Regroup of each tap to the Depthwise's lanes (``fold``, default ``lanes``),
    Depthwise, the shared requant (:func:`_requant_units`) to ``lanes``; a Regroup only where the lanes differ."""
    d = spec.data
    if out_lanes != lanes:
        raise CompileError(f"{spec.node.name}: a depthwise stage's output lanes must equal its input lanes {lanes}, "
                           f"not {out_lanes!r}")
    dw_lanes = lanes if fold is None else fold[0]
    cache = spec.data.setdefault("_units", {})
    if ("dw", dw_lanes) not in cache:
        cache["dw", dw_lanes] = DepthwiseParams(d["channels"], d["taps"], d["weights"], d["bias"], lanes=dw_lanes, bits_x=d["bits_x"],
                                                signed_x=d["signed_x"], x_zero_point=d["x_zero_point"], bits_w=d["bits_w"])
    dw = cache["dw", dw_lanes]
    units: list = [] if d["window"] is None else [WindowParams(**d["window"], simd=lanes)]
    if dw_lanes != lanes:
        units.append(_regroup(dw.channels, lanes, dw_lanes, dw.bits_x, dw.signed_x, dw.taps))
    units.append(dw)
    return tuple(units + _requant_units(spec, dw.channels, dw.acc_bits, dw_lanes, lanes, dw.pixel_cycles))


@register("stage", "QConv")
def _conv(graph: Graph, node: Node, xs: list[Stream]) -> StageSpec:
    x = xs[0]
    w = np.asarray(graph.initializers[node.inputs[1]], np.int64)
    if w.ndim == 3:
        w = w[:, :, None, :]
    m, cg, kh, kw = w.shape
    group = int(node.attr("group", 1))
    geo = _window_geometry(node, x, (kh, kw))
    c = geo["channels"]
    depthwise = group == c == m
    trivial = (kh, kw) == (1, 1) and all(geo[k] == 1 for k in ("stride_h", "stride_w")) and not any(
        geo[k] for k in ("pad_top", "pad_left", "pad_bottom", "pad_right"))
    probe = WindowParams(**geo, pad_value=int(node.attr("x_zero_point", 0)), **_codes(x.quant))
    out = (m, probe.out_height, probe.out_width) if len(x.logical) == 3 else (m, probe.out_width)
    window = None if trivial else dict(geo, pad_value=probe.pad_value, **_codes(x.quant))
    common = _weights_common(graph, node, x, "conv")
    if depthwise:  # weights (C, 1, kh, kw): per channel, its taps in the window's (ky, kx) order
        data = dict(window=window, groups=group, channels=c, taps=kh * kw, weights=w.reshape(c, kh * kw), **common)
        return StageSpec("dwconv", node, (x,), _out_stream_shape(out), quant_of(graph, node.outputs[0]), _build_dwconv,
                         data, macs=macs_of(node, graph))
    full = np.zeros((m, kh, kw, c), np.int64)  # (out, ky, kx, c): block-diagonal over groups
    for o in range(m):
        g = o // (m // group)
        full[o, :, :, g * cg:(g + 1) * cg] = w[o].transpose(1, 2, 0)
    data = dict(window=window, groups=group, in_features=kh * kw * c, out_features=m, weights=full.reshape(m, -1), **common)
    return StageSpec("conv", node, (x,), _out_stream_shape(out), quant_of(graph, node.outputs[0]), _build_conv, data,
                     macs=macs_of(node, graph))


@register("stage", "QMatMul")
def _matmul(graph: Graph, node: Node, xs: list[Stream]) -> StageSpec:
    x = xs[0]
    w = np.asarray(graph.initializers[node.inputs[1]], np.int64)  # (K, M)
    if w.ndim != 2:
        raise CompileError(f"{node.name}: MatMul weights must be a (K, M) matrix, not shape {w.shape}")
    k, m = w.shape
    if len(x.logical) == 1:  # one vector in any stream order: permute the weight rows
        weights = w.T[:, stream_order(x.layout)]
        pixels = 1
    elif same_order(x.layout, ((math.prod(x.logical[:-1]), k), (0, 1))):  # one vector a pixel
        weights, pixels = w.T, math.prod(x.logical[:-1])
    else:
        raise CompileError(f"{node.name}: MatMul input {x.logical} must stream its {k} features innermost, not layout {x.layout}")
    common = _weights_common(graph, node, x, "MatMul")
    if pixels == 1 and k == m and not np.any(weights - np.diag(np.diag(weights))) and same_order(x.layout, ((k,), (0,))):
        # a diagonal matrix (a per-feature scale, e.g. a BatchNormalization kept behind its own Q/DQ pair) is a
        # depthwise product of one tap: one multiplier a lane instead of a pruned MatVec's two passes
        data = dict(window=None, groups=k, channels=k, taps=1, weights=np.diag(weights).reshape(k, 1), **common)
        return StageSpec("dwconv", node, (x,), (1, 1, m), quant_of(graph, node.outputs[0]), _build_dwconv, data)
    data = dict(window=None, in_features=k, out_features=m, weights=weights, **common)
    return StageSpec("dense", node, (x,), (1, pixels, m), quant_of(graph, node.outputs[0]), _build_conv, data,
                     macs=macs_of(node, graph))


# -- pools ------------------------------------------------------------------------------------

def _build_pool(spec: StageSpec, lanes: int, _: int) -> tuple:
    d = spec.data
    pool = PoolParams("max", d["window_size"], d["bits"], d["signed"], d["channels"], d["x_zero_point"], lanes=lanes)
    if d["kind"] == "avg":  # one requant per distinct window count, chosen per output pixel by its class
        rqs = [spec.requant(r, pool.sum_bits, d["channels"], lanes) for r in d["requants"]]
        if any(replace(r, multipliers=rqs[0].multipliers, shifts=rqs[0].shifts) != rqs[0] for r in rqs):
            raise CompileError(f"{spec.node.name}: the requants of an average pool's window counts must differ in scale only")
        scales = (tuple(r.multipliers for r in rqs), tuple(r.shifts for r in rqs)) if len(rqs) > 1 else ((), ())
        pool = replace(pool, kind="avg", requant=rqs[0], class_multipliers=scales[0], class_shifts=scales[1],
                       pixel_classes=d["pixel_classes"])
    window = [] if d["window"] is None else [WindowParams(**d["window"], simd=lanes)]
    return tuple(window + [pool])


@register("stage", "QMaxPool", "QAveragePool")
def _pool(graph: Graph, node: Node, xs: list[Stream]) -> StageSpec:
    x = xs[0]
    kernel = tuple(node.attr("kernel_shape"))
    kernel = (1, kernel[0]) if len(kernel) == 1 else kernel
    c, h, w = _spatial(x, node)
    avg = node.op == "QAveragePool"
    probe = _window_geometry(node, x, kernel)
    ceil_mode = bool(node.attr("ceil_mode", 0))
    ends = []
    for size, k, s, d, b, e in ((h, kernel[0], probe["stride_h"], probe["dilation_h"], probe["pad_top"], probe["pad_bottom"]),
                                (w, kernel[1], probe["stride_w"], probe["dilation_w"], probe["pad_left"], probe["pad_right"])):
        count = pool_output_extent(size, k, s, d, b, e, ceil_mode)
        ends.append(max((count - 1) * s + (k - 1) * d + 1 - (size + b + e), 0))
    geo = _window_geometry(node, x, kernel, (ends[0], ends[1]))
    zx = int(node.attr("x_zero_point", 0)) if avg else 0
    requants, classes = [], np.zeros(0, np.int64)
    if avg:  # the golden pools the (QPad-)padded input: count its windows the same way
        padded = (h + x.pads[0] + x.pads[2], w + x.pads[1] + x.pads[3])
        counts, classes = np.unique(window_count_map(padded if len(x.logical) == 3 else padded[1:], node.attrs),
                                    return_inverse=True)
        requants = [node.attr("requants")[int(c)] for c in counts]
        pad_value = zx
    else:
        own = any(node.attr("pads") or []) or any(ends)
        if any(x.pads) and own:
            raise CompileError(f"{node.name}: a max pool with its own padding cannot also absorb a Pad")
        pad_value = int(x.quant.zero_point[0]) if any(x.pads) else x.quant.qmin
    window = dict(geo, pad_value=pad_value, **_codes(x.quant))
    out_w = WindowParams(**window)
    out: tuple[int, ...] = (c, out_w.out_height, out_w.out_width) if len(x.logical) == 3 else (c, out_w.out_width)
    data = dict(kind="avg" if avg else "max", window=window, window_size=kernel[0] * kernel[1], channels=c,
                x_zero_point=zx, requants=requants, pixel_classes=tuple(classes.reshape(-1).tolist()) if len(requants) > 1 else (),
                **_codes(x.quant))
    return StageSpec("avgpool" if avg else "maxpool", node, (x,), _out_stream_shape(out),
                     quant_of(graph, node.outputs[0]), _build_pool, data)


@register("stage", "QGlobalAveragePool", "QGlobalMaxPool")
def _global_pool(graph: Graph, node: Node, xs: list[Stream]) -> StageSpec:
    x = xs[0]
    c, h, w = _spatial(x, node)
    avg = node.op == "QGlobalAveragePool"
    data = dict(kind="avg" if avg else "max", window=None, window_size=h * w, channels=c,
                x_zero_point=int(node.attr("x_zero_point", 0)) if avg else 0,
                requants=[node.attr("requants")[h * w]] if avg else [], pixel_classes=(), **_codes(x.quant))
    return StageSpec("gpool", node, (x,), (1, 1, c), quant_of(graph, node.outputs[0]), _build_pool, data)


def _pointwise(kind: str) -> Callable[[Graph, Node, list[Stream]], StageSpec]:
    """QLut / QRequant as a one-element average pool: ``requant(x - x_zero_point)`` (+ table)."""
    def lower(graph: Graph, node: Node, xs: list[Stream]) -> StageSpec:
        x = xs[0]
        c = x.shape[2]
        if kind == "lut":
            q = x.quant
            rq = Requant(np.array([1]), np.array([0]), 0, q.qmin, q.qmax)
            data = dict(kind="avg", window=None, window_size=1, channels=c, x_zero_point=0, requants=[rq], pixel_classes=(),
                        **_codes(q))
            spec = StageSpec(kind, node, (x,), x.shape, q, _build_pool, data)
            spec.lut = (tuple(int(v) for v in node.attr("table")), int(node.attr("in_qmin")), quant_of(graph, node.outputs[0]))
            return spec
        data = dict(kind="avg", window=None, window_size=1, channels=c, x_zero_point=int(node.attr("x_zero_point", 0)),
                    requants=[node.attr("requant")], pixel_classes=(), **_codes(x.quant))
        return StageSpec(kind, node, (x,), x.shape, quant_of(graph, node.outputs[0]), _build_pool, data)
    return lower


# -- joins ------------------------------------------------------------------------------------

def _to_lanes(spec: StageSpec, join: Any, lanes: int, lanes_out: int) -> tuple:
    """A join unit, then a Regroup of its output codes to ``lanes_out`` lanes where they differ (an
    add runs at the lanes its rate needs, not at those of the window after it)."""
    if lanes_out == lanes:
        return (join,)
    bits, signed = join.out_codes
    return join, _regroup(spec.shape[2], lanes, lanes_out, bits, signed)


def _build_add(spec: StageSpec, lanes: int, lanes_out: int) -> tuple:
    d = spec.data
    a, b = spec.inputs
    sides = dict(a_bits=a.quant.bits, a_signed=a.quant.signed, a_zero_point=d["za"], a_multiplier=d["ma"],
                 b_bits=b.quant.bits, b_signed=b.quant.signed, b_zero_point=d["zb"], b_multiplier=d["mb"], lanes=lanes)
    probe = EltwiseAddParams(**sides, requant=RequantParams(48, 8, True, (1,), (0,), 0, -128, 127, channels=lanes, lanes=lanes))
    return _to_lanes(spec, EltwiseAddParams(**sides, requant=spec.requant(d["requant"], probe.sum_bits, lanes, lanes)), lanes, lanes_out)


@register("stage", "QAdd")
def _add(graph: Graph, node: Node, xs: list[Stream]) -> StageSpec:
    a, b = xs
    if a.logical != b.logical or not same_order(a.layout, b.layout) or any(a.pads) or any(b.pads):
        raise CompileError(f"{node.name}: Add inputs must have one shape and stream order (no broadcasting), not {a.logical} and {b.logical}")
    ma, mb = (int(v) for v in node.attr("multipliers"))
    data = dict(za=int(node.attr("a_zero_point", 0)), zb=int(node.attr("b_zero_point", 0)), ma=ma, mb=mb,
                requant=node.attr("requant"))
    return StageSpec("add", node, (a, b), a.shape, quant_of(graph, node.outputs[0]), _build_add, data)


def _build_concat(spec: StageSpec, lanes: int, lanes_out: int) -> tuple:
    a, b = spec.inputs
    out = spec.out_quant
    rqs = [None if rq is None else RequantParams.from_requant(rq, x.quant.bits + 1, out.bits, out.signed, x.shape[2], lanes=lanes)
           for rq, x in zip(spec.data["requants"], (a, b))]
    join = EltwiseConcatParams(a.shape[2], b.shape[2], a.quant.bits, a.quant.signed, b.quant.bits, b.quant.signed, out.bits,
                               out.signed, spec.data["zps"][0], spec.data["zps"][1], rqs[0], rqs[1], lanes)
    return _to_lanes(spec, join, lanes, lanes_out)


@register("stage", "QConcat")
def _concat(graph: Graph, node: Node, xs: list[Stream]) -> StageSpec | tuple[StageSpec, ...]:
    """Two inputs: one concat stage. More: a chain of them, each joining the next input to the codes
    so far, which are already in the output's encoding (no second requant: exact)."""
    if len(xs) < 2:
        raise CompileError(f"{node.name}: Concat must join at least two inputs, not {len(xs)}")
    rank = len(xs[0].logical) + 1
    if int(node.attr("axis")) % rank != 1 or any(x.shape[:2] != xs[0].shape[:2] for x in xs):
        raise CompileError(f"{node.name}: Concat must join channels (axis 1) of equal spatial shapes, not axis {node.attr('axis')}")
    for x in xs:
        if len(x.logical) > 1:
            _spatial(x, node)
    out = quant_of(graph, node.outputs[0])
    requants, zps = tuple(node.attr("requants")), tuple(int(z) for z in node.attr("x_zero_points"))
    h, w, _ = xs[0].shape
    chain, acc, acc_rq, acc_zp = [], xs[0], requants[0], zps[0]
    for k, b in enumerate(xs[1:], 1):
        channels = acc.shape[2] + b.shape[2]
        chain.append(StageSpec("concat", node, (acc, b), (h, w, channels), out, _build_concat,
                               dict(requants=(acc_rq, requants[k]), zps=(acc_zp, zps[k]))))
        logical = (channels,) + tuple(xs[0].logical[1:])
        acc, acc_rq, acc_zp = Stream("", logical, channels_last(logical), out), None, int(out.zero_point[0])
    return chain[0] if len(chain) == 1 else tuple(chain)


register("stage", "QLut")(_pointwise("lut"))
register("stage", "QRequant")(_pointwise("requant"))

# fixed-point op -> stage builder, from the op table (every op it places on hardware has one)
LOWER: dict[str, Callable[[Graph, Node, list[Stream]], StageSpec]] = kernels("stage")
