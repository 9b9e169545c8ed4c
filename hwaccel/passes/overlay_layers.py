"""Fixed-point IR -> the layer list of the overlay cycle model (:mod:`hwaccel.perf.overlay`).

The same lowering as the streaming compiler (:func:`~.to_dataflow.lower_to_specs`), read before
folding: each stage spec's work (MACs, inputs per output, outputs, pixels), its weight bytes at
their code width (a grouped conv's block-diagonal zeros excluded; biases as 32-bit words) and
the bytes of the feature maps it reads and writes.
"""

from __future__ import annotations

import math

from ..errors import CompileError
from ..ir.graph import Graph
from ..perf.overlay import MAC_KINDS, OverlayLayer
from ..units.dataflow import INPUT
from .lower_stages import StageSpec, Stream
from .partition import partition
from .to_dataflow import lower_to_specs

__all__ = ["overlay_layers"]

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
    """The hardware partition of ``graph`` as overlay layers, in execution order."""
    _, specs, _ = lower_to_specs(graph, partition(graph))
    layers = [_layer(s) for s in specs]
    assert all(l.kind not in MAC_KINDS or l.k > 0 for l in layers)
    return layers
