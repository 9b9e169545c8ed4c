"""The overlay cycle model: a network's layers time-multiplexed on one shared MAC array, weights and
spilled feature maps moving through external memory (an *estimate*: no RTL of the overlay yet).

The streaming dataflow (:mod:`.model`) gives every layer its own unit and keeps every weight on
chip; an ImageNet-class network fits neither the multipliers nor the memory of an embedded part.
The overlay runs one layer at a time on a ``rows x cols`` array (``rows`` output channels by
``cols`` inputs of one output a cycle, an adder tree per row), as Vitis AI's DPU or Gemmini's
weight-stationary mode do, with this schedule (the one this model counts):

* **Weights** are read from external memory exactly once per inference: a layer runs in tiles of
  ``rows`` output channels (per group); a tile's weights (``rows x k`` codes) sit in one half of a
  double buffer while the next tile's are fetched, so fetch overlaps compute.
* **Feature maps** stay on chip (a buffer of ``onchip_bytes`` minus the weight double buffer) while
  they fit; the live set is tracked over the layer order (a residual skip is live across its
  branch). When a layer's inputs, output and the other live maps do not fit, the other maps are
  written out (largest first) and read back when consumed; an input that alone does not fit is
  read from external memory once per output tile, and an output that does not fit is written out.
* A tile computes ``pixels x ceil(k / cols)`` cycles; a depthwise conv maps channels on rows and
  taps on columns; pooling, additions and copies run on a vector unit of ``rows`` lanes.
* A host layer (an op without a unit, between hardware layers) costs the transfer of its input out
  and its output back; the host's compute time is not counted (``host_layers`` says how many).
* A tile's time is the larger of its compute and its memory traffic at the port's bandwidth
  (:class:`~.memory.MemoryPort`); a layer adds :data:`LAYER_OVERHEAD` cycles plus the adder
  tree's depth (pipeline fill and drain between layers); the first tile of the network waits for
  its fetch (the latency), later first tiles are prefetched during the layer before.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

from ..errors import CompileError
from .memory import MemoryPort

__all__ = ["HOST", "LAYER_OVERHEAD", "OverlayLayer", "OverlayArray", "LayerTraffic", "OverlayReport", "overlay_schedule",
           "choose_array", "MAC_KINDS"]

LAYER_OVERHEAD = 8  # cycles between two layers besides the adder tree: operand, product, accumulate, requant registers
MAC_KINDS = ("conv", "dense", "dwconv")
HOST = "host"  # a layer the host computes: the overlay writes its input out and reads its output back


@dataclass(frozen=True)
class OverlayLayer:
    """One layer as the overlay sees it: work, weights and the feature maps it reads and writes.

    ``k`` is a MAC layer's inputs per output (per group); ``n`` its outputs (channels);
    ``vector_ops`` the element operations of a layer without MACs (a pool's window reads, an add's
    outputs). Bytes are at the codes' widths.
    """

    name: str
    kind: str
    inputs: tuple[str, ...]  # tensors read: producer layer names, or "input"
    pixels: int
    k: int
    n: int
    groups: int
    macs: int
    weight_bytes: int
    out_bytes: int
    in_bytes: tuple[int, ...]
    vector_ops: int = 0


@dataclass(frozen=True)
class OverlayArray:
    """The shared array and on-chip memory of an overlay at a clock."""

    rows: int
    cols: int
    onchip_bytes: int  # all on-chip memory the overlay may use: weight double buffer + feature maps
    weight_bits: int = 8

    @property
    def multipliers(self) -> int:
        return self.rows * self.cols

    def weight_buffer_bytes(self, layers: list[OverlayLayer]) -> int:
        """Two tiles of the widest layer: ``2 x rows x k`` codes."""
        k = max((l.k for l in layers if l.kind in MAC_KINDS), default=0)
        return 2 * self.rows * math.ceil(k * self.weight_bits / 8)


@dataclass(frozen=True)
class LayerTraffic:
    """One layer's schedule: cycles, external bytes, the bandwidth it needs to be compute-bound."""

    name: str
    kind: str
    macs: int
    tiles: int
    compute_cycles: int
    memory_cycles: int
    cycles: int
    weight_bytes: int
    activation_bytes: int  # feature-map bytes moved off chip and back for this layer (spills included)
    bytes: int
    need_gbytes_per_s: float  # bytes / compute time: the bandwidth that keeps the array busy
    bound: str  # "compute", "memory" or "host" (a host layer: only its transfers are counted)
    mac_utilization: float


@dataclass(frozen=True)
class OverlayReport:
    """The overlay's answer for one inference (batch 1)."""

    rows: int
    cols: int
    multipliers: int
    clock_mhz: float
    memory: dict
    onchip_bytes: int
    weight_buffer_bytes: int
    cycles: int
    throughput_fps: float
    latency_us: float
    macs: int
    multiplier_bound_cycles: int  # macs / multipliers: every multiplier busy every cycle
    bound_fraction: float  # multiplier_bound_cycles / cycles
    weight_bytes: int
    activation_bytes: int
    bytes_per_inference: int
    memory_bound_layers: int
    layers: list[LayerTraffic] = field(default_factory=list)
    host_layers: int = 0  # layers the host computes: their transfers are in ``cycles``, their compute is not

    def to_dict(self) -> dict:
        return asdict(self)


def _compute(l: OverlayLayer, a: OverlayArray) -> tuple[int, int]:
    """``(tiles, cycles per tile)`` of ``l`` on the array."""
    if l.kind == "dwconv":
        return math.ceil(l.n / a.rows), l.pixels * math.ceil(l.k / a.cols)
    if l.kind in MAC_KINDS:
        return l.groups * math.ceil(l.n // max(1, l.groups) / a.rows), l.pixels * math.ceil(l.k / a.cols)
    return 1, math.ceil(l.vector_ops / a.rows)


def _residency(layers: list[OverlayLayer], budget: int) -> tuple[dict[str, int], dict[str, int], dict[str, bool]]:
    """Per layer: bytes spilled (written out) before it, bytes read back for it; per tensor whether
    an input that alone does not fit streams from external memory on every tile pass."""
    last_use: dict[str, int] = {}
    for i, l in enumerate(layers):
        for t in l.inputs:
            last_use[t] = i
    size = {l.name: l.out_bytes for l in layers}
    for l in layers:
        for t, b in zip(l.inputs, l.in_bytes):
            size.setdefault(t, b)
    on_chip: dict[str, int] = {"input": size.get("input", 0)} if size.get("input", 0) <= budget else {}
    off_chip = set() if on_chip else {"input"}
    spilled: dict[str, int] = {}
    read_back: dict[str, int] = {}
    streamed: dict[str, bool] = {}
    for i, l in enumerate(layers):
        spill = back = 0
        for t in l.inputs:  # bring a spilled input back when it fits
            if t in off_chip and sum(on_chip.values()) + size[t] <= budget:
                off_chip.discard(t)
                on_chip[t] = size[t]
                back += size[t]
        for t in sorted((t for t in on_chip if t not in l.inputs), key=lambda t: -on_chip[t]):
            if sum(on_chip.values()) + l.out_bytes <= budget:
                break
            spill += on_chip.pop(t)  # a live map another layer reads later goes out
            off_chip.add(t)
        if sum(on_chip.values()) + l.out_bytes <= budget:
            on_chip[l.name] = l.out_bytes
        else:
            off_chip.add(l.name)
            spill += l.out_bytes
        for t in l.inputs:
            streamed[f"{l.name}:{t}"] = t in off_chip
        for t in list(on_chip):
            if last_use.get(t, -1) <= i and t != l.name:
                del on_chip[t]
        spilled[l.name], read_back[l.name] = spill, back
    return spilled, read_back, streamed


def overlay_schedule(layers: list[OverlayLayer], array: OverlayArray, port: MemoryPort) -> OverlayReport:
    """The overlay's cycles and external traffic for one inference of ``layers`` (in execution order)."""
    if not layers:
        raise CompileError("the overlay needs at least one layer")
    wbuf = array.weight_buffer_bytes(layers)
    budget = array.onchip_bytes - wbuf
    if budget < 0:
        raise CompileError(f"on-chip memory {array.onchip_bytes:,} bytes must hold the weight double buffer "
                           f"({wbuf:,} bytes for {array.rows} rows), not less")
    spilled, read_back, streamed = _residency(layers, budget)
    tree = math.ceil(math.log2(array.cols)) if array.cols > 1 else 0
    rows, total = [], port.latency_cycles  # the first tile's fetch latency; later fetches overlap compute
    for l in layers:
        tiles, per_tile = _compute(l, array)
        passes = tiles if l.kind in MAC_KINDS and l.kind != "dwconv" else 1
        act = read_back[l.name] + spilled[l.name] + sum(
            b * passes for t, b in zip(l.inputs, l.in_bytes) if streamed[f"{l.name}:{t}"])
        if l.kind == HOST:  # its input goes out to the host, its output comes back
            act += sum(b for t, b in zip(l.inputs, l.in_bytes) if not streamed[f"{l.name}:{t}"]) + l.out_bytes
        nbytes = l.weight_bytes + act
        mem_per_tile = math.ceil(nbytes / port.bytes_per_cycle / tiles) if nbytes else 0
        compute = tiles * per_tile
        cycles = tiles * max(per_tile, mem_per_tile) + LAYER_OVERHEAD + tree
        total += cycles
        rows.append(LayerTraffic(
            l.name, l.kind, l.macs, tiles, compute, tiles * mem_per_tile, cycles, l.weight_bytes, act, nbytes,
            port.gbytes_per_s(nbytes, compute), HOST if l.kind == HOST else "memory" if mem_per_tile > per_tile else "compute",
            l.macs / (array.multipliers * cycles) if l.macs else 0.0))
    macs = sum(l.macs for l in layers)
    bound = math.ceil(macs / array.multipliers)
    wbytes, abytes = sum(r.weight_bytes for r in rows), sum(r.activation_bytes for r in rows)
    return OverlayReport(array.rows, array.cols, array.multipliers, port.clock_mhz, port.to_dict(), array.onchip_bytes, wbuf,
                         total, port.clock_mhz * 1e6 / total, total / port.clock_mhz, macs, bound, bound / total,
                         wbytes, abytes, wbytes + abytes, sum(r.bound == "memory" for r in rows), rows,
                         sum(r.bound == HOST for r in rows))


_SIDES = (1, 2, 4, 8, 12, 16, 24, 32, 48, 64, 96, 128, 192, 256)


def choose_array(layers: list[OverlayLayer], multipliers: int, onchip_bytes: int, port: MemoryPort,
                 weight_bits: int = 8, row_cost: int = 0) -> OverlayReport:
    """The ``rows x cols`` array that finishes an inference soonest (fewer multipliers on a tie), among
    sides that suit channel counts (1, 2, then multiples of 4 up to 256), with ``rows x (cols + row_cost)`` at
    most ``multipliers`` (``row_cost``: multipliers of a row's requantizer, e.g. 2 DSP blocks)."""
    best: OverlayReport | None = None
    for cols in _SIDES:
        for rows in _SIDES:
            if rows * (cols + row_cost) > multipliers:
                continue
            array = OverlayArray(rows, cols, onchip_bytes, weight_bits)
            if array.weight_buffer_bytes(layers) > onchip_bytes:
                continue
            r = overlay_schedule(layers, array, port)
            if best is None or (r.cycles, r.multipliers) < (best.cycles, best.multipliers):
                best = r
    if best is None:
        raise CompileError(f"no overlay array of at most {multipliers} multipliers fits {onchip_bytes:,} bytes of on-chip memory")
    return best
