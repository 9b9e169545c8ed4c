"""Overlay builds (``compile --weights external``): a network too large for a streaming design runs
layer by layer on one shared array, weights from external memory (:mod:`hwaccel.perf.overlay`).

What such a build holds today: the quantized model, the external memory's weight image
(:data:`DDR_IMAGE`, laid out as the array reads it, :mod:`hwaccel.passes.overlay_image`) and a
manifest with its address map, the chosen array, the memory, the part's budget and the schedule
per layer (cycles, external bytes, bandwidth need, compute- or memory-bound). The overlay's RTL is
not generated yet, so ``verify`` and ``estimate --fpga`` refuse it; ``simulate`` reports its schedule.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..build_dir import MANIFEST, read_manifest, write_plain_build
from ..errors import CompileError, HwaccelError
from ..estimate.budgets import Budget
from ..estimate.devices import device, part_names
from ..ir.graph import Graph
from ..passes.overlay_image import overlay_image
from ..passes.overlay_layers import lowered_layers, overlay_layers
from ..perf.memory import memory as memory_named
from ..perf.overlay import LayerTraffic, OverlayReport, choose_array
from .compiler import MODEL_FILE

__all__ = ["DDR_IMAGE", "PARTS", "DEFAULT_PART", "check_part", "REQUANT_MULTIPLIERS", "OverlayResult", "compile_overlay", "simulate_overlay", "onchip_bytes",
           "weights_fit_on_chip", "is_overlay", "format_overlay"]

PARTS: tuple[str, ...] = tuple(part_names())
DEFAULT_PART = "ecp5-85k"
DDR_IMAGE = "ddr_weights.bin"  # the external memory's weight regions (passes/overlay_image.py), the manifest maps them
REQUANT_MULTIPLIERS = 2  # a row's requantizer: a 32 x 16 product, two 18x18 (or 27x18) DSP blocks


def onchip_bytes(part: str) -> int:
    """Block RAM bytes of ``part`` (every block RAM kind, at its largest aspect ratio)."""
    budget = _part(part)
    return sum(r.count * r.bits for r in budget.block_rams) // 8


def check_part(part: str) -> str:
    """``part`` when it is a part hwaccel knows, else the one-line error."""
    if part not in PARTS:
        raise CompileError(f"--fpga must be one of {', '.join(PARTS)}, not {part!r}")
    return part


def _part(part: str) -> Budget:
    return device(check_part(part)).budget


def weights_fit_on_chip(fixed: Graph, part: str) -> bool:
    """``--weights auto``: whether the fixed-point network's weights and biases alone fit the part's block RAM."""
    return sum(l.weight_bytes for l in overlay_layers(fixed)) <= onchip_bytes(part)


@dataclass(frozen=True)
class OverlayResult:
    """An overlay build (or its schedule read back by ``simulate``)."""

    model: str
    output: Path
    files: list[str]
    part: str
    report: OverlayReport

    def to_dict(self) -> dict[str, Any]:
        return {"model": self.model, "output": str(self.output), "files": self.files, "architecture": "overlay",
                "fpga": self.part, **self.report.to_dict()}


def compile_overlay(model: str | os.PathLike[str], out: Path, *, lowered: tuple[Graph, bytes], memory: str,
                    part: str, multipliers: int | None, clock_mhz: float, force: bool) -> OverlayResult:
    """Schedule ``model`` (``lowered``: its fixed-point graph and QDQ file, from
    :func:`~hwaccel.frontend.fixed_model.fixed_model`) on the fastest overlay array within ``part``'s
    multipliers (or ``multipliers``) and block RAM, with ``memory`` (a preset or
    ``GBPS[,LATENCY_NS[,DATA_BYTES]]``), and write the build."""
    budget = _part(part)
    port = memory_named(memory).port(clock_mhz)
    limit = budget.dsp_blocks if multipliers is None else multipliers
    fixed, qdq = lowered
    pairs = lowered_layers(fixed)
    layers = [layer for layer, _ in pairs]
    image, regions = overlay_image(pairs)
    bits = max((int(n.attr("w_bits", 8)) for n in fixed.nodes if n.attr("w_bits") is not None), default=8)
    report = choose_array(layers, limit, onchip_bytes(part), port, weight_bits=bits, row_cost=REQUANT_MULTIPLIERS)
    manifest = {"architecture": "overlay", "name": fixed.name, "fpga": part, "multiplier_budget": limit,
                "requant_multipliers_per_row": REQUANT_MULTIPLIERS, "overlay": report.to_dict(),
                "external_memory": {"file": DDR_IMAGE, "bytes": len(image), "regions": regions},
                "note": "schedule estimate of perf/overlay.py; the overlay's RTL is not generated yet"}
    files = write_plain_build(out, manifest, {MODEL_FILE: qdq, DDR_IMAGE: image}, force=force)
    return OverlayResult(str(model), out, files, part, report)


def is_overlay(build: str | os.PathLike[str]) -> bool:
    """Whether ``build`` is an overlay build (its manifest says so)."""
    return read_manifest(build).get("architecture") == "overlay"


def simulate_overlay(build: str | os.PathLike[str], clock_mhz: float | None = None) -> OverlayResult:
    """The overlay schedule of ``build``; a different ``clock_mhz`` reschedules the same array."""
    manifest = read_manifest(build)
    saved = manifest["overlay"]
    report = OverlayReport(**{**saved, "layers": [LayerTraffic(**l) for l in saved["layers"]]})
    if clock_mhz is not None and not math.isclose(clock_mhz, report.clock_mhz):
        raise HwaccelError(f"{build}: an overlay build is scheduled at {report.clock_mhz:g} MHz; compile it again "
                           f"with --clock-mhz {clock_mhz:g}")
    files = sorted(p.name for p in Path(build).iterdir() if p.is_file())
    assert MANIFEST in files
    return OverlayResult(manifest.get("name", ""), Path(build), files, manifest["fpga"], report)


def format_overlay(r: OverlayReport) -> str:
    """The schedule as a table, then the totals."""
    head = ("layer", "kind", "tiles", "cycles", "compute", "memory", "ext bytes", "need GB/s", "bound")
    rows = [head] + [(l.name, l.kind, str(l.tiles), str(l.cycles), str(l.compute_cycles), str(l.memory_cycles), f"{l.bytes:,}",
                      f"{l.need_gbytes_per_s:.2f}" if math.isfinite(l.need_gbytes_per_s) else "-", l.bound) for l in r.layers]
    widths = [max(len(row[i]) for row in rows) for i in range(len(head))]
    lines = ["  " + "  ".join(v.rjust(w) if i >= 2 else v.ljust(w) for i, (v, w) in enumerate(zip(row, widths))) for row in rows]
    mem = r.memory
    lines += [f"overlay {r.rows}x{r.cols} ({r.multipliers} MAC multipliers) at {r.clock_mhz:g} MHz, memory {mem['name']} "
              f"({mem['bytes_per_cycle']:g} bytes/cycle, {mem['latency_cycles']} cycles latency): {r.cycles:,} cycles an inference "
              f"({r.throughput_fps:,.1f} inferences/s, {r.latency_us:,.1f} us), {r.bound_fraction:.1%} of the multiplier bound",
              f"external memory per inference: {r.bytes_per_inference:,} bytes ({r.weight_bytes:,} weights, "
              f"{r.activation_bytes:,} feature maps); {r.memory_bound_layers} of {len(r.layers)} layers memory-bound"
              + (f"; {r.host_layers} host layers (ops without a unit): their transfers are counted, the host's compute is not"
                 if r.host_layers else ""),
              "estimate of the overlay schedule (perf/overlay.py); the overlay's RTL is not generated yet"]
    return "\n".join(lines)
