"""The overlay's external memory image: every MAC layer's weights in the order its port reads them,
and the address map the manifest records.

A layer's region starts on a 4 KB boundary (an AXI4 burst never crosses one) and holds its weight
codes as one little-endian bit stream (``bits`` a code, two's complement, LSB first), then its
biases as int32 little-endian words. Codes run output channel by output channel, group by group,
so the tile of ``rows`` channels the array fetches next is the next ``rows x k`` codes of the
stream whatever ``rows`` is: a conv's ``k`` codes of a channel in window order (kernel row,
kernel column, then the group's input channels: the HWC order its inputs stream in); a dense
layer's in its input stream's order; a depthwise conv's taps of each channel. The region's sizes
are the schedule's ``weight_bytes`` (:mod:`hwaccel.perf.overlay`), byte for byte.
"""

from __future__ import annotations

import math

import numpy as np

from ..perf.memory import AXI_BOUNDARY_BYTES
from ..perf.overlay import MAC_KINDS, OverlayLayer
from .lower_stages import StageSpec
from .overlay_layers import BIAS_BYTES

__all__ = ["overlay_image", "layer_codes", "pack_codes", "unpack_codes"]


def layer_codes(spec: StageSpec) -> np.ndarray:
    """``(n, k)`` weight codes of a MAC stage in the order the overlay reads them."""
    d = spec.data
    w = np.asarray(d["weights"], np.int64)
    if spec.kind == "dwconv" or spec.kind == "dense":
        return w.reshape(w.shape[0], -1)
    groups = int(d.get("groups", 1) or 1)
    m = w.shape[0]
    c = int(d["window"]["channels"]) if d.get("window") else w.shape[1]
    taps = w.shape[1] // c
    per_in, per_out = c // groups, m // groups
    full = w.reshape(m, taps, c)
    return np.concatenate([full[g * per_out:(g + 1) * per_out, :, g * per_in:(g + 1) * per_in].reshape(per_out, -1)
                           for g in range(groups)])


def pack_codes(codes: np.ndarray, bits: int) -> bytes:
    """``codes`` (any shape, C order) as a little-endian bit stream of ``bits`` a code."""
    flat = np.asarray(codes, np.int64).reshape(-1) & ((1 << bits) - 1)
    if bits == 8:
        return flat.astype(np.uint8).tobytes()
    stream = ((flat[:, None] >> np.arange(bits)) & 1).astype(np.uint8).reshape(-1)
    return np.packbits(stream, bitorder="little").tobytes()


def unpack_codes(data: bytes, bits: int, count: int) -> np.ndarray:
    """The signed codes of :func:`pack_codes`, ``count`` of them."""
    stream = np.unpackbits(np.frombuffer(data, np.uint8), bitorder="little")[: count * bits].reshape(count, bits)
    values = (stream.astype(np.int64) << np.arange(bits)).sum(axis=1)
    return np.where(values >= 1 << (bits - 1), values - (1 << bits), values)


def overlay_image(lowered: list[tuple[OverlayLayer, StageSpec | None]]) -> tuple[bytes, list[dict]]:
    """The weight image of an overlay's layers (:func:`~.overlay_layers.lowered_layers`) and its address
    map (one entry a MAC layer)."""
    image = bytearray()
    regions = []
    for layer, spec in lowered:
        if spec is None or layer.kind not in MAC_KINDS:
            continue
        bits = int(spec.data["bits_w"])
        codes = layer_codes(spec)
        assert codes.shape == (layer.n, layer.k), (layer.name, codes.shape)
        bias = spec.data.get("bias")
        bias = np.zeros(layer.n, np.int64) if bias is None else np.asarray(bias, np.int64)
        weights, words = pack_codes(codes, bits), bias.astype("<i4").tobytes()
        offset = len(image)
        image += weights + words
        assert len(weights) + len(words) == layer.weight_bytes == math.ceil(codes.size * bits / 8) + BIAS_BYTES * layer.n
        regions.append({"layer": layer.name, "offset": offset, "weight_bytes": len(weights), "bias_offset": offset + len(weights),
                        "bias_bytes": len(words), "bits": bits, "outputs": layer.n, "k": layer.k, "groups": layer.groups})
        image += bytes(-len(image) % AXI_BOUNDARY_BYTES)
    return bytes(image), regions
