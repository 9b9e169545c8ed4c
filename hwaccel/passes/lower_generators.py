"""Stage specs of the generators' layers: transposed convolution (polyphase) and nearest Resize.

A ConvTranspose (kernel ``k``, stride ``s``, begin pad ``b``, output ``out`` per axis) is two
stages, no multiply of an inserted zero: a stride-1 ``conv`` over the input with kernel ``K =
ceil(k / s)`` (more where the crop needs it) and ``s_h * s_w * M`` outputs, one group of ``M``
per output phase, whose tap ``u`` of phase ``p`` holds the transposed kernel's tap ``(K - 1 - u)
* s + p`` (zero past the kernel: a zero tile costs no cycle, a zero lane no multiplier); then a
``depth_to_space`` stage (:class:`~hwaccel.units.DepthToSpaceParams`) that puts each phase in
its output pixel and crops the border. Conv output row ``a`` holds the full result's rows ``(a +
q0) * s + p``, ``q0 = b // s``. A Resize by integer factors that maps output pixel ``o`` to
input pixel ``o // factor`` on every axis is an ``upsample`` stage.

:data:`LOWER` is the complete view of the stage builders (those of :mod:`.lower_stages` and these).
"""

from __future__ import annotations

from dataclasses import replace
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

__all__ = ["LOWER", "HWC_INPUTS", "channels_last_from_dense", "phase_axis", "polyphase_weights", "transpose_macs"]


def phase_axis(size: int, k: int, s: int, begin: int, out: int) -> tuple[int, int, int, int, int]:
    """``(K, pad_begin, pad_end, conv_outputs, crop)`` of one axis: the stride-1 conv over ``size``
    inputs padded by ``pad_begin``/``pad_end`` gives ``conv_outputs`` pixels of ``s`` phases; the
    transposed convolution's output ``o`` is phase ``(o + crop) % s`` of conv output ``(o + crop) // s``."""
    q0, q_last = begin // s, (begin + out - 1) // s
    taps = max(ceil_div(k, s), q0 + 1, q_last - size + 2)
    pad_begin, pad_end = taps - 1 - q0, max(0, q_last - size + 1)
    return taps, pad_begin, pad_end, size + pad_begin + pad_end - taps + 1, begin - q0 * s


def polyphase_weights(w: np.ndarray, strides: tuple[int, int], taps: tuple[int, int]) -> np.ndarray:
    """``(C, M, kh, kw)`` transposed-conv weights -> ``(s_h * s_w * M, K_h, K_w, C)`` conv weights
    (output ``(py * s_w + px) * M + m``, tap ``(u, v)``), zero where a tap falls past the kernel."""
    c, m, kh, kw = w.shape
    (sh, sw), (th, tw) = strides, taps
    out = np.zeros((sh, sw, m, th, tw, c), np.int64)
    for py in range(sh):
        for u in range(th):
            t = (th - 1 - u) * sh + py
            if t >= kh:
                continue
            for px in range(sw):
                for v in range(tw):
                    r = (tw - 1 - v) * sw + px
                    if r < kw:
                        out[py, px, :, u, v, :] = w[:, :, t, r].T
    return out.reshape(sh * sw * m, th, tw, c)


def transpose_macs(size: int, k: int, s: int, begin: int, out: int) -> int:
    """Per axis: the ``(input, tap)`` pairs that land on a kept output (``i * s + t - begin``)."""
    i, t = np.meshgrid(np.arange(size), np.arange(k), indexing="ij")
    o = i * s + t - begin
    return int(((o >= 0) & (o < out)).sum())


def _build_pixel_map(spec: StageSpec, lanes: int, _: int) -> tuple:
    cache = spec.data.setdefault("_units", {})
    if lanes not in cache:
        cache[lanes] = replace(spec.data["params"], simd=lanes)
    return (cache[lanes],)


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
    axes = [phase_axis(n, k, s, b, o) for n, k, s, b, o in zip((h, wd), w.shape[2:], strides, begins, outs)]
    (th, pt, pb, rows, crop_top), (tw, pl, pr, cols, crop_left) = axes
    phases = strides[0] * strides[1]
    weights = polyphase_weights(w, strides, (th, tw))
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
    conv = StageSpec("conv", conv_node, (x,), stream_shape(channels_last(mid)), quant, _build_conv, data, macs=macs)
    params = DepthToSpaceParams(m, rows, cols, strides[0], strides[1], outs[0], outs[1], crop_top, crop_left, **_codes(quant))
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


LOWER: dict[str, Callable[[Graph, Node, list[Stream]], Any]] = kernels("stage")


HWC_INPUTS = ("QConvTranspose", "Resize", "Upsample")  # the ops of this module: their input streams channels last


def channels_last_from_dense(graph: Graph, node: Node, producer: StageSpec | None, x: Stream) -> Stream:
    """``x`` streaming channels last: as it is, or, when it is a dense stage's one vector viewed as
    an image (a Linear before an Unflatten), with that stage's outputs permuted into HWC order
    (its weight rows, bias and per-channel requant), if nothing else reads them."""
    want = channels_last(x.logical)
    if len(x.logical) < 2 or same_order(x.layout, want) or producer is None or producer.kind != "dense":
        return x
    produced = producer.node.outputs[0]
    if producer.shape[:2] != (1, 1) or len(graph.consumers(produced)) != 1 or len(graph.consumers(node.inputs[0])) != 1:
        return x
    old = np.argsort(stream_order(x.layout))  # C-order index -> current stream position
    rows = old[stream_order(want)]
    d = producer.data
    d["weights"] = np.asarray(d["weights"])[rows]
    if d.get("bias") is not None:
        d["bias"] = np.asarray(d["bias"])[rows]
    rq = producer.node.attr("requant")
    if rq is not None and rq.channels > 1:
        rq = replace(rq, multiplier=rq.multiplier[rows], shift=rq.shift[rows])
        producer.node = replace(producer.node, attrs={**producer.node.attrs, "requant": rq})
    return replace(x, layout=want)
