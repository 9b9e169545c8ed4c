"""ASIC estimate of an overlay build (``compile --weights external``): energy per inference by
category, area, throughput from its schedule (an *estimate*, with :mod:`.asic`'s published figures).

Per inference, from the schedule's layers (:mod:`hwaccel.perf.overlay`) at the array's widths
(``x - x_zero_point`` is 9 bits for 8-bit codes, weights ``weight_bits``, accumulators 32 bits):

* multiply / accumulate: one ``9 x weight_bits`` product and one 32-bit addition per MAC; a
  vector op (pool element, add) one 32-bit addition;
* weight memory: every MAC reads its weight from the weight double buffer (an SRAM of its size),
  every weight byte fetched is written into it once;
* activation memory: each array cycle reads ``cols`` input codes (shared by the rows), each
  output code is written once, in an SRAM of the on-chip feature-map buffer's size;
* off chip: every byte the schedule moves (weights, spilled maps, host layers' maps) at
  :data:`~.asic.DRAM_PJ_PER_BIT`;
* area: the multipliers and adders of the array, the two buffers as SRAM.
"""

from __future__ import annotations

import math
import os

from ..perf.overlay import MAC_KINDS, OverlayReport
from .asic import CATEGORIES, DRAM_PJ_PER_BIT, AsicEstimate, tech

__all__ = ["estimate_overlay_asic"]

ACC_BITS = 32


def estimate_overlay_asic(build: str | os.PathLike[str], report: OverlayReport, node: str, weight_bits: int = 8,
                          act_bits: int = 8) -> AsicEstimate:
    """The ASIC estimate of the overlay ``report`` (its schedule, read from ``build``) at ``node``."""
    t = tech(node)
    energy = dict.fromkeys(CATEGORIES, 0.0)
    area = dict.fromkeys(CATEGORIES, 0.0)
    x_bits = act_bits + 1
    wbuf_bits = max(8 * report.weight_buffer_bytes, 1)
    act_buffer_bits = max(8 * (report.onchip_bytes - report.weight_buffer_bytes), 1)
    layers = []
    for l in report.layers:
        e = dict.fromkeys(CATEGORIES, 0.0)
        if l.kind in MAC_KINDS:
            e["multiply"] = l.macs * t.mult_pj(x_bits, weight_bits)
            e["accumulate"] = l.macs * t.add_pj(ACC_BITS)
            e["weight_memory"] = (l.macs * weight_bits + 8 * l.weight_bytes) * t.mem_pj_per_bit(wbuf_bits)
            e["activation_memory"] = math.ceil(l.macs / report.rows) * act_bits * t.mem_pj_per_bit(act_buffer_bits)
        elif l.kind != "host":
            e["other_arithmetic"] = l.compute_cycles * report.rows * t.add_pj(ACC_BITS)
            e["activation_memory"] = 2 * l.compute_cycles * report.rows * act_bits * t.mem_pj_per_bit(act_buffer_bits)
        e["off_chip"] = 8 * l.bytes * DRAM_PJ_PER_BIT
        layers.append({"name": l.name, "kind": l.kind, "energy_nJ": sum(e.values()) / 1e3, "area_mm2": 0.0})
        for k in CATEGORIES:
            energy[k] += e[k]
    area["multiply"] = report.multipliers * t.mult_um2(x_bits, weight_bits)
    area["accumulate"] = report.multipliers * t.add_um2(ACC_BITS)
    area["weight_memory"] = t.mem_um2(wbuf_bits)
    area["activation_memory"] = t.mem_um2(act_buffer_bits)
    assumptions = [
        "an overlay schedule's estimate (perf/overlay.py): its RTL is not generated yet",
        "dynamic energy only: no leakage, clock tree, control logic or wires; SRAM writes cost as much as reads",
        f"DRAM at {DRAM_PJ_PER_BIT:.2f} pJ/bit (Horowitz, ISSCC 2014: 1.3-2.6 nJ per 64-bit access, the midpoint), "
        "for every byte the schedule moves",
    ]
    if report.host_layers:
        assumptions.append(f"{report.host_layers} host layers: their transfers are counted, the host's compute is not")
    return AsicEstimate(str(build), node, report.clock_mhz, t.energy_scale, t.area_scale, energy, area, layers, report.macs,
                        float(report.cycles), report.cycles, 8 * report.weight_bytes, True, report.cycles / (report.clock_mhz * 1e6),
                        assumptions, dram_bytes=float(report.bytes_per_inference))
