"""Fixed-point IR -> the layer list of the overlay cycle model (:mod:`hwaccel.perf.overlay`).

The same lowering as the streaming compiler (:func:`~.to_dataflow.lower_to_specs`), read before
folding: each stage spec's work (MACs, inputs per output, outputs, pixels), its weight bytes at
their code width (a grouped conv's block-diagonal zeros excluded; biases as 32-bit words) and
the bytes of the feature maps it reads and writes.

An op with no hardware unit between hardware layers (LRN in AlexNet, ZFNet and Inception v1) is
where a streaming design must stop; the overlay, which runs a layer at a time, hands the feature
map to the host through external memory instead. The graph is cut into segments at each such
island of host ops (its DequantizeLinear, float ops, QuantizeLinear); each segment lowers like a
network of its own, and the island becomes one ``host`` layer that writes its input out and reads
its output back (the host's own time is not the overlay's to count).
"""

from __future__ import annotations

import math
from dataclasses import replace

from ..errors import CompileError
from ..ir.graph import Graph, Node, TensorInfo
from ..ir.ops import FIXED_DOMAIN
from ..perf.overlay import MAC_KINDS, OverlayLayer
from ..units.dataflow import INPUT
from .lower_stages import StageSpec, Stream
from .partition import is_hardware, partition
from .to_dataflow import lower_to_specs

__all__ = ["overlay_layers", "lowered_layers", "BIAS_BYTES"]

BIAS_BYTES = 4  # a bias is an int32 word in external memory


def _bytes(stream: Stream) -> int:
    return math.ceil(math.prod(stream.logical) * stream.quant.bits / 8)


def _layer(spec: StageSpec) -> OverlayLayer:
    h, w, c = spec.shape
    d = spec.data
    out_bytes = math.ceil(h * w * c * spec.out_quant.bits / 8)
    inputs = tuple("input" if x.stage == INPUT else x.stage for x in spec.inputs)
    in_bytes = tuple(_bytes(x) for x in spec.inputs)
    groups = int(d.get("groups", 1) or 1)
    if spec.kind in ("conv", "dense"):
        k = int(d["in_features"]) // groups
        wbytes = math.ceil(k * c * int(d["bits_w"]) / 8) + BIAS_BYTES * c
        return OverlayLayer(spec.name, spec.kind, inputs, h * w, k, c, groups, spec.macs, wbytes, out_bytes, in_bytes)
    if spec.kind == "dwconv":
        taps = int(d["taps"])
        wbytes = math.ceil(taps * c * int(d["bits_w"]) / 8) + BIAS_BYTES * c
        return OverlayLayer(spec.name, spec.kind, inputs, h * w, taps, c, c, spec.macs or h * w * c * taps, wbytes,
                            out_bytes, in_bytes)
    if spec.macs:
        raise CompileError(f"{spec.node.name}: the overlay model does not cover {spec.kind} stages yet")
    window = int(d.get("window_size", 1) or 1)  # a pool reads its window; an add or a copy makes each output once
    return OverlayLayer(spec.name, spec.kind, inputs, h * w, 0, c, 1, 0, 0, out_bytes, in_bytes, vector_ops=h * w * c * window)


def overlay_layers(graph: Graph) -> list[OverlayLayer]:
    """The hardware of ``graph`` as overlay layers in execution order, host islands as ``host`` layers."""
    return [layer for layer, _ in lowered_layers(graph)]


def lowered_layers(graph: Graph) -> list[tuple[OverlayLayer, StageSpec | None]]:
    """Each overlay layer with the stage spec it came from (None for a host layer)."""
    layers: list[OverlayLayer] = []
    specs_of: list[StageSpec | None] = []
    pieces = _segments(graph)
    for k, (segment, island) in enumerate(pieces):
        prefix = f"s{k}." if len(pieces) > 1 else ""
        entry = layers[-1].name if layers else "input"
        _, specs, _ = lower_to_specs(segment, partition(segment))
        names = {s.name: prefix + s.name for s in specs}
        for spec in specs:
            l = _layer(spec)
            layers.append(replace(l, name=names[spec.name], inputs=tuple(entry if t == "input" else names[t] for t in l.inputs)))
            specs_of.append(spec)
        if island:  # its DequantizeLinear reads the codes of the segment's last layer, its QuantizeLinear writes codes
            last = layers[-1]
            ops = "+".join(n.op for n in island if n.op not in _QDQ) or "host"
            layers.append(OverlayLayer(f"host{k}.{ops}", "host", (last.name,), 0, 0, 0, 1, 0, 0,
                                       _bytes_of(graph, island[-1].outputs[0]), (last.out_bytes,)))
            specs_of.append(None)
    assert all(l.kind not in MAC_KINDS or l.k > 0 for l in layers)
    return list(zip(layers, specs_of))


_QDQ = ("QuantizeLinear", "DequantizeLinear")


def _bytes_of(graph: Graph, value: str) -> int:
    info = graph.values.get(value)
    if info is None or info.shape is None or not all(isinstance(d, int) for d in info.shape[1:]):
        raise CompileError(f"value {value!r} must have a static shape, not {None if info is None else info.shape}")
    bits = info.quant.bits if info.quant is not None else 8
    return math.ceil(math.prod(int(d) for d in info.shape[1:]) * bits / 8)


def _segments(graph: Graph) -> list[tuple[Graph, list[Node]]]:
    """``graph`` cut at each run of host ops between hardware layers: ``(segment, the island after it)``,
    the last island empty. An island runs from a DequantizeLinear to a QuantizeLinear; a segment is
    a graph of its own, from the float value its QuantizeLinear reads to the island's DequantizeLinear."""
    nodes = list(graph.nodes)
    hardware = [i for i, n in enumerate(nodes) if n.domain == FIXED_DOMAIN]
    islands: list[list[int]] = []
    for i in range(hardware[0], hardware[-1]) if hardware else ():
        if nodes[i].domain != FIXED_DOMAIN and not is_hardware(nodes[i], graph):
            if islands and islands[-1][-1] == i - 1:
                islands[-1].append(i)
            else:
                islands.append([i])
    for isl in islands:
        first, last = nodes[isl[0]], nodes[isl[-1]]
        if first.op != "DequantizeLinear" or last.op != "QuantizeLinear":
            raise CompileError(f"{graph.name}: the host ops {first.name!r} .. {last.name!r} between hardware layers must run "
                               f"from a DequantizeLinear to a QuantizeLinear, not from {first.op} to {last.op}")
    pieces: list[tuple[Graph, list[Node]]] = []
    begin, inputs = 0, graph.inputs
    ends: list[list[int] | None] = [*islands, None]
    for cut in ends:
        end = len(nodes) if cut is None else cut[0] + 1  # a segment keeps the island's DequantizeLinear as its host suffix
        outputs = graph.outputs if cut is None else (_info(graph, nodes[cut[0]].outputs[0]),)
        segment = graph.replace(name=graph.name if not pieces else f"{graph.name}.{len(pieces)}", nodes=tuple(nodes[begin:end]),
                                inputs=inputs, outputs=outputs)
        pieces.append((segment, [] if cut is None else [nodes[i] for i in cut]))
        if cut is not None:
            begin, inputs = cut[-1], (_info(graph, nodes[cut[-1]].inputs[0]),)
    return pieces


def _info(graph: Graph, value: str) -> TensorInfo:
    return graph.values.get(value) or TensorInfo(value, graph.shape(value))
