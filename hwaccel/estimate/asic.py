"""ASIC estimate of a compiled build: energy per inference, area, power, throughput (an *estimate*).

Counts come from the build (:func:`hwaccel.build_dir.read_build`): every unit's params say how
many multiplies, additions, register writes and memory accesses one inference takes and what
hardware it builds (:meth:`hwaccel.units.base.Unit.asic_counts`); timing comes from the exact cycle model (:func:`hwaccel.perf.model.cycle_model`)
at the clock. Costs come from published per-operation figures at 45 nm, scaled to 28 nm, below.
Dynamic energy only: leakage, clock tree, control logic and wires are not counted.

Per inference (``pixels`` = output pixels of a stage):

* MatVec: ``macs`` multiplies of ``(bits_x + 1) x bits_w`` bits (``x - zero_point`` needs one more
  bit) and ``macs`` additions of ``acc_bits`` bits (adder tree + accumulator: one per product);
  the weight ROM read once per tile step (``pixels x rom bits``); the input buffer (``output_folds
  > 1``) written once per input and read once per step; operand, tree and accumulator registers.
* Requant (also inside Pool/Eltwise/Concat): one ``acc_bits x mult_bits`` multiply and two additions
  per lane and beat, the product and output registers, the activation table read per code.
* Max pool: one comparison (an addition) per window element; average pool: one addition.
  Eltwise add: two input multiplies and an addition per lane and beat.
* SlidingWindow line buffer: every input code written once, every window code read once.
  Stream FIFOs: every beat written and read once.

Memories below :data:`FLIPFLOP_MAX_BITS` are built from flip-flops; larger ones are SRAM, whose
read energy per bit depends on the array size. Writes cost as much as reads (assumption).
"""

from __future__ import annotations

import math
import os
from dataclasses import asdict, dataclass, field
from typing import Any

from ..build_dir import read_build
from ..errors import HwaccelError
from ..perf.model import cycle_model
from ..units.base import AsicCount
from ..units.dataflow import INPUT, Dataflow

__all__ = ["NODES", "Tech", "tech", "AsicEstimate", "estimate_asic", "CATEGORIES", "DRAM_PJ_PER_BIT"]

NODES = ("45nm", "28nm")
KB = 8 * 1024  # bits

# -- 45 nm figures (0.9 V). Horowitz, "Computing's Energy Problem (and what we can do about it)",
# ISSCC 2014, energy/area tables. Energies checked against two independent reproductions of the
# table (stillwater-sc/universal generic_45nm.hpp; Front. Neurol. PMC8934428 Table 3: int32 add
# 0.1 pJ, mult 3.1 pJ, 8 KB 64-bit cache read 10 pJ); areas are as widely quoted (e.g. Sze et al.,
# Proc. IEEE 2017) and were NOT checked against the paper here.
ADD_PJ = ((8, 0.03), (32, 0.1))  # 8b add 0.03 pJ, 32b add 0.1 pJ
MULT_PJ = ((8 * 8, 0.2), (32 * 32, 3.1))  # keyed by a x b bits: 8b mult 0.2 pJ, 32b mult 3.1 pJ
ADD_UM2 = ((8, 36.0), (32, 137.0))  # 8b add 36 um^2, 32b add 137 um^2 (unverified)
MULT_UM2 = ((8 * 8, 282.0), (32 * 32, 3495.0))  # 8b mult 282 um^2, 32b mult 3495 um^2 (unverified)
# 64-bit read of an 8 KB, 32 KB, 1 MB SRAM/cache: 10, 20, 100 pJ -> pJ per bit by array size (bits)
SRAM_PJ_PER_BIT = ((8 * KB, 10 / 64), (32 * KB, 20 / 64), (1024 * KB, 100 / 64))
# DRAM: 1.3-2.6 nJ per 64-bit access (Horowitz 2014); the midpoint, per bit. A separate chip: not scaled by node.
DRAM_PJ_PER_BIT = (1300 + 2600) / 2 / 64
# Flip-flop: not in Horowitz's table. Energy per bit written: Aladdin's 40 nm register model (Shao et al.,
# ISCA 2014; 0.009 pJ, used unscaled at 45 nm: assumption). Area: NanGate 45 nm Open Cell Library DFF_X1, 4.522 um^2.
REGISTER_PJ_PER_BIT = 0.009
REGISTER_UM2_PER_BIT = 4.522
# SRAM area per bit: 6T cell of 0.346 um^2 at 45 nm (Intel, Mistry et al., IEDM 2007; not checked here)
# over an assumed 50 % array efficiency (decoders, sense amplifiers of small macros): assumption.
SRAM_UM2_PER_BIT = 0.346 / 0.5
FLIPFLOP_MAX_BITS = 2048  # assumption: smaller memories are flip-flop arrays, larger ones SRAM macros
ONCHIP_WEIGHT_BITS = 4 * 1024 * KB  # assumption: a 4 MB on-chip weight budget; beyond it weights live in DRAM
DRAM_GBYTES_PER_S = 12.8  # one 64-bit DDR3-1600 channel, for the weights-off-chip interval bound

# -- Node scaling. Stillmaker & Baas, "Scaling equations for the accurate prediction of CMOS device
# performance from 180 nm to 7 nm", Integration 58 (2017): energy factor a V^2 + b V + c of the PTM
# high-performance models (45, 32, 20 nm; the 32 nm row is confirmed by the authors' erratum example)
# and area factors relative to 45 nm (values as tabulated in UCLA NanoCAD's nodeScale.py). The paper
# has no 28 nm node: factors are interpolated log-linearly in feature size between 32 and 20 nm
# (assumption), all at Horowitz's 0.9 V (assumption: same supply at every node).
_SB_ENERGY = {45: (1.018, -0.3107, 0.1539), 32: (0.8367, -0.4341, 0.1701), 20: (0.373, -0.1582, 0.04104)}
_SB_AREA = {45: 1.0, 32: 0.46, 20: 0.21}
VDD = 0.9

CATEGORIES = ("multiply", "accumulate", "other_arithmetic", "registers", "weight_memory", "activation_memory",
              "off_chip")
GROUPS = {"compute": ("multiply", "accumulate", "other_arithmetic", "registers"),
          "on_chip_memory": ("weight_memory", "activation_memory"), "off_chip": ("off_chip",)}


def loglog(x: float, points: tuple[tuple[float, float], ...]) -> float:
    """Piecewise power law through ``points`` (sorted by x), extended past the ends by the end segments.

    Between two published points ``(x0, y0), (x1, y1)``: ``y = y0 * (x / x0) ** k`` with
    ``k = log(y1 / y0) / log(x1 / x0)``. Adders (x = bits) come out near linear (k = 0.87 energy,
    0.96 area), multipliers (x = a * b bits) near linear in the bit product, i.e. ~quadratic in
    the width (k = 0.99 energy, 0.91 area), SRAM near the square root of the size.
    """
    if x <= 0:
        raise HwaccelError(f"size must be positive, not {x!r}")
    k = 0
    while k < len(points) - 2 and x > points[k + 1][0]:
        k += 1
    (x0, y0), (x1, y1) = points[k], points[k + 1]
    return y0 * (x / x0) ** (math.log(y1 / y0) / math.log(x1 / x0))


def _node_factor(table: dict[int, float], nm: int) -> float:
    """``table[nm]``, or log-linear interpolation in feature size between the nodes around ``nm``."""
    if nm in table:
        return table[nm]
    hi = min(n for n in table if n > nm)
    lo = max(n for n in table if n < nm)
    t = math.log(nm / hi) / math.log(lo / hi)
    return table[hi] * (table[lo] / table[hi]) ** t


def _energy_factor(nm: int) -> float:
    a, b, c = _SB_ENERGY[45]
    base = a * VDD ** 2 + b * VDD + c
    return _node_factor({n: (a * VDD ** 2 + b * VDD + c) / base for n, (a, b, c) in _SB_ENERGY.items()}, nm)


@dataclass(frozen=True)
class Tech:
    """Per-operation energy (pJ) and area (um^2) at one node: the 45 nm figures times the node's factors."""

    node: str
    energy_scale: float
    area_scale: float

    def mult_pj(self, a: int, b: int) -> float:
        return self.energy_scale * loglog(a * b, MULT_PJ)

    def add_pj(self, bits: int) -> float:
        return self.energy_scale * loglog(bits, ADD_PJ)

    def mult_um2(self, a: int, b: int) -> float:
        return self.area_scale * loglog(a * b, MULT_UM2)

    def add_um2(self, bits: int) -> float:
        return self.area_scale * loglog(bits, ADD_UM2)

    def reg_pj(self, bits: int) -> float:
        return self.energy_scale * REGISTER_PJ_PER_BIT * bits

    def reg_um2(self, bits: int) -> float:
        return self.area_scale * REGISTER_UM2_PER_BIT * bits

    def mem_pj_per_bit(self, size_bits: int) -> float:
        """Energy of one bit read (or written) in a memory of ``size_bits``."""
        if size_bits < FLIPFLOP_MAX_BITS:
            return self.energy_scale * REGISTER_PJ_PER_BIT
        return self.energy_scale * loglog(size_bits, SRAM_PJ_PER_BIT)

    def mem_um2(self, size_bits: int) -> float:
        per_bit = REGISTER_UM2_PER_BIT if size_bits < FLIPFLOP_MAX_BITS else SRAM_UM2_PER_BIT
        return self.area_scale * per_bit * size_bits


def tech(node: str) -> Tech:
    """The :class:`Tech` of ``node`` (one of :data:`NODES`)."""
    if node not in NODES:
        raise HwaccelError(f"node must be one of {list(NODES)}, not {node!r}")
    nm = int(node.removesuffix("nm"))
    return Tech(node, _energy_factor(nm), _node_factor(_SB_AREA, nm))


class _Tally:
    """Energy per inference (pJ) and area (um^2) by category."""

    def __init__(self) -> None:
        self.energy = dict.fromkeys(CATEGORIES, 0.0)
        self.area = dict.fromkeys(CATEGORIES, 0.0)

    def add(self, category: str, energy_pj: float = 0.0, area_um2: float = 0.0) -> None:
        self.energy[category] += energy_pj
        self.area[category] += area_um2

    def count(self, t: Tech, c: AsicCount) -> None:
        """Add one :class:`~hwaccel.units.base.AsicCount`: its energy per inference and its area."""
        if c.op == "mult":
            self.add(c.category, c.uses * t.mult_pj(*c.size), c.instances * t.mult_um2(*c.size))
        elif c.op == "add":
            self.add(c.category, c.uses * t.add_pj(*c.size), c.instances * t.add_um2(*c.size))
        elif c.op == "reg":
            self.add(c.category, c.uses * t.reg_pj(*c.size), c.instances * t.reg_um2(*c.size))
        elif c.op == "mem":
            size_bits, = c.size  # ``uses``: bits read and written; no memory, no cost
            if size_bits:
                self.add(c.category, c.uses * t.mem_pj_per_bit(size_bits), c.instances * t.mem_um2(size_bits))
        else:
            raise HwaccelError(f"count op must be 'mult', 'add', 'reg' or 'mem', not {c.op!r}")


def _edge_shape(df: Dataflow, src: str) -> tuple[int, int, int]:
    """The ``(H, W, C)`` of the stream leaving ``src``."""
    return df.input.shape if src == INPUT else df.stage(src).shape


@dataclass(frozen=True)
class AsicEstimate:
    """An ASIC estimate: energy per inference by category, area by category, timing at the clock."""

    build: str
    node: str
    clock_mhz: float
    energy_scale: float  # relative to 45 nm
    area_scale: float
    energy_pj: dict[str, float]
    area_um2: dict[str, float]
    layers: list[dict[str, Any]]  # per stage: name, kind, energy_nJ, area_mm2
    macs: int
    interval_cycles: float
    latency_cycles: int  # batch 1: cycles until the last output beat
    weight_bits: int
    weights_off_chip: bool
    interval_s: float  # per inference in steady state (the cycle model, or DRAM bandwidth when weights are off chip)
    assumptions: list[str] = field(default_factory=list)
    dram_bytes: float | None = None  # an overlay's DRAM traffic (weights and spilled maps); None: the weights when off chip

    @property
    def off_chip_bytes(self) -> float:
        """Bytes moved to or from DRAM per inference (the weights, when they live off chip, or an
        overlay's traffic), charged in ``off_chip`` at :data:`DRAM_PJ_PER_BIT`."""
        if self.dram_bytes is not None:
            return self.dram_bytes
        return self.weight_bits / 8 if self.weights_off_chip else 0.0

    @property
    def energy_nj(self) -> float:
        return sum(self.energy_pj.values()) / 1e3

    @property
    def area_mm2(self) -> float:
        return sum(self.area_um2.values()) / 1e6

    @property
    def inferences_per_s(self) -> float:
        return 1.0 / self.interval_s

    @property
    def latency_us(self) -> float:
        return self.latency_cycles / self.clock_mhz

    @property
    def power_mw(self) -> float:
        """Dynamic power at full throughput: energy per inference x inferences per second."""
        return self.energy_nj * 1e-9 * self.inferences_per_s * 1e3

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d.pop("energy_pj"), d.pop("area_um2")
        d.update(label="estimate", off_chip_bytes=self.off_chip_bytes, dram_pJ_per_bit=DRAM_PJ_PER_BIT,
                 energy_per_inference_nJ=self.energy_nj, area_mm2=self.area_mm2,
                 power_mW=self.power_mw, inferences_per_s=self.inferences_per_s, latency_us=self.latency_us,
                 energy_breakdown_nJ={k: v / 1e3 for k, v in self.energy_pj.items()},
                 energy_groups_nJ={g: sum(self.energy_pj[k] for k in ks) / 1e3 for g, ks in GROUPS.items()},
                 area_breakdown_mm2={k: v / 1e6 for k, v in self.area_um2.items()})
        return {("clock_MHz" if k == "clock_mhz" else k): v for k, v in d.items()}

    def format_table(self) -> str:
        """The estimate as text."""
        lines = [f"ASIC estimate (estimate, not measured) of {self.build} at {self.node}, {self.clock_mhz:g} MHz "
                 f"(x{self.energy_scale:.3f} energy, x{self.area_scale:.3f} area vs 45 nm)"]
        width = max(len(c) for c in CATEGORIES)
        lines.append(f"  {'category'.ljust(width)}  {'energy nJ/inf':>13}  {'area mm^2':>10}")
        for c in CATEGORIES:
            lines.append(f"  {c.ljust(width)}  {self.energy_pj[c] / 1e3:13.4f}  {self.area_um2[c] / 1e6:10.5f}")
        lines.append(f"  {'total'.ljust(width)}  {self.energy_nj:13.4f}  {self.area_mm2:10.5f}")
        lines.append("  energy: " + ", ".join(f"{g.replace('_', ' ')} {sum(self.energy_pj[k] for k in ks) / 1e3:.4f} nJ"
                                         for g, ks in GROUPS.items()))
        lines.append(f"  {self.macs} MACs/inference, {self.energy_nj * 1e3 / max(self.macs, 1):.3f} pJ/MAC overall; "
                     f"weights {self.weight_bits} bits {'OFF chip (DRAM)' if self.weights_off_chip else 'on chip'}")
        if self.weights_off_chip:
            lines.append(f"  off_chip: DRAM {'reads' if self.dram_bytes is None else 'reads and writes'}, {self.off_chip_bytes:,.0f} bytes/inference at {DRAM_PJ_PER_BIT:.2f} pJ/bit "
                         "(Horowitz, ISSCC 2014: 1.3-2.6 nJ per 64-bit access, the midpoint)")
        lines.append(f"  {self.inferences_per_s:,.0f} inferences/s, latency {self.latency_us:.2f} us (batch 1), "
                     f"power {self.power_mw:.3f} mW at full throughput (dynamic only)")
        return "\n".join(lines)


def estimate_asic(build_dir: str | os.PathLike[str], node: str, clock_mhz: float | None = None,
                  onchip_weight_bits: int = ONCHIP_WEIGHT_BITS, dram_gbytes_per_s: float = DRAM_GBYTES_PER_S) -> AsicEstimate:
    """Estimate energy per inference, area and power of a compiled build as an ASIC at ``node``.

    Parameters
    ----------
    build_dir
        A build directory written by ``hwaccel compile``.
    node
        ``"45nm"`` or ``"28nm"``.
    clock_mhz
        Clock for throughput, latency and power; default the clock the build was compiled for.
    onchip_weight_bits
        When the weights need more bits, they are read from DRAM once per inference (no reuse
        across inferences) and the interval is at least their transfer time at ``dram_gbytes_per_s``.

    Returns
    -------
    AsicEstimate
        Always an estimate from published per-operation figures; see the module docstring.
    """
    t = tech(node)
    df, _ = read_build(build_dir)
    report = cycle_model(df, 1, clock_mhz)
    total = _Tally()
    layers = []
    for s in df.stages:
        y = _Tally()
        for unit in s.units:
            for count in unit.asic_counts(s.shape, s.macs):
                y.count(t, count)
        layers.append({"name": s.name, "kind": s.kind, "energy_nJ": sum(y.energy.values()) / 1e3,
                       "area_mm2": sum(y.area.values()) / 1e6})
        for c in CATEGORIES:
            total.add(c, y.energy[c], y.area[c])
    for e in df.edges:
        if e.fifo is not None:
            for count in e.fifo.asic_counts(_edge_shape(df, e.src), 0):
                total.count(t, count)
    weight_bits = sum(u.weight_bits() for s in df.stages for u in s.units)
    interval_s = report.interval_cycles / (report.clock_mhz * 1e6)
    off_chip = weight_bits > onchip_weight_bits
    if off_chip:
        total.add("off_chip", weight_bits * DRAM_PJ_PER_BIT)
        interval_s = max(interval_s, weight_bits / 8 / (dram_gbytes_per_s * 1e9))
    assumptions = [
        "dynamic energy only: no leakage, clock tree, control logic or wires",
        f"memories under {FLIPFLOP_MAX_BITS} bits are flip-flops, larger ones SRAM; writes cost as much as reads",
        "zero weights are counted as MACs (only lanes and tiles that are all zero are skipped in hardware)",
    ]
    if node != "45nm":
        assumptions.append("45 nm figures scaled by Stillmaker & Baas (2017) factors, 28 nm interpolated between 32 and 20 nm, "
                           "0.9 V at every node")
    return AsicEstimate(str(build_dir), node, report.clock_mhz, t.energy_scale, t.area_scale, total.energy, total.area,
                        layers, report.macs, report.interval_cycles, report.total_cycles, weight_bits, off_chip,
                        interval_s, assumptions)
