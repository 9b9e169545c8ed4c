"""Cost-model FPGA estimate, for parts with no open place and route (:data:`.budgets.COST_MODEL_PARTS`).

Nothing is synthesized: DSP blocks are counted from the units' multiplies (``products()``: operand
widths as signed, an unsigned operand beside a signed one gaining a bit, constants at their
shortest width, none for a zero or a power of two or a product under 2 x 2) tiled over the part's
multiplier (27 x 18 on a DSP48E2, either operand on the 27-bit side); LUTs are the units'
``lut_estimate()`` plus the memories the mapper (:mod:`.memory_map`) leaves in LUTs (a 64-bit LUT
RAM or ROM per LUT); block RAMs are the mapper's. There is no fmax and no flip-flop count. Every
report says "cost model (no place and route for this part)"; the JSON has ``"method": "cost-model"``.
"""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from ..build_dir import read_build
from ..units.common import Operand, Product, signed_bits
from ..units.dataflow import Dataflow
from .budgets import COST_MODEL_PARTS, CostModelPart
from .memory_map import LOGIC, MemoryMap, map_memories
from .tools import EstimateError

__all__ = ["CostModelEstimate", "estimate_cost_model", "estimate_dataflow", "dsp_blocks", "BASIS", "METHOD"]

BASIS = "cost model (no place and route for this part)"
METHOD = "cost-model"
_LUT_BITS = 64  # bits of a LUT6 used as distributed RAM or ROM


def _operand_bits(a: Operand, b: Operand | int) -> tuple[int, int] | None:
    """Signed operand widths of ``a * b`` as a DSP block sees them; None when no block is needed."""
    if isinstance(b, int):
        if b == 0 or (b > 0 and b & (b - 1) == 0):
            return None
        b = Operand(signed_bits(b, b), True) if b < 0 or a.signed else Operand(b.bit_length(), False)
    widths = [s.width + int(not s.signed and (a.signed or b.signed)) for s in (a, b)]
    return None if min(widths) < 2 else (widths[0], widths[1])


def dsp_blocks(products: list[Product], widths: tuple[int, int]) -> int:
    """DSP blocks of ``widths = (wide, narrow)`` signed operands for ``products``: per product the
    better orientation of ``ceil(a / wide) * ceil(b / narrow)``."""
    wide, narrow = widths
    total = 0
    for (a, b), n in Counter(products).items():
        bits = _operand_bits(a, b)
        if bits is not None:
            x, y = bits
            total += n * min(-(-x // wide) * -(-y // narrow), -(-y // wide) * -(-x // narrow))
    return total


@dataclass(frozen=True)
class CostModelEstimate:
    """Resources of one build on a cost-model part (see the module docstring)."""

    device: str
    part: str
    description: str
    source: str
    build: str
    multipliers: int
    dsp: int
    luts: int
    bram: dict[str, int]
    available: dict[str, int]
    memory_map: MemoryMap
    dram: str | None
    dram_gbytes_per_s: float | None
    assumptions: list[str] = field(default_factory=list)

    @property
    def basis(self) -> str:
        return BASIS

    @property
    def over(self) -> list[str]:
        used = {"dsp": self.dsp, "luts": self.luts, **self.bram}
        return sorted(k for k, v in used.items() if v > self.available.get(k, v))

    @property
    def fits(self) -> bool:
        return not self.over

    def utilization(self) -> dict[str, float]:
        used = {"dsp": self.dsp, "luts": self.luts, **self.bram}
        return {k: v / self.available[k] for k, v in used.items() if self.available.get(k)}

    def to_dict(self) -> dict[str, Any]:
        return {"method": METHOD, "basis": BASIS, "device": self.device, "part": self.part,
                "description": self.description, "source": self.source, "build": self.build,
                "multipliers": self.multipliers, "dsp": self.dsp, "luts": self.luts, "ffs": None,
                "bram": dict(self.bram), "available": dict(self.available), "utilization": self.utilization(),
                "fits": self.fits, "over": self.over, "fmax_mhz": None, "dram": self.dram,
                "dram_gbytes_per_s": self.dram_gbytes_per_s, "memory_map": self.memory_map.to_dict(),
                "assumptions": list(self.assumptions)}

    def format_table(self) -> str:
        lines = [f"FPGA estimate, {BASIS}: {self.build} on {self.device} ({self.part}, {self.description}; {self.source})",
                 f"  {'resource':<26}{'used':>9}{'available':>11}{'util':>8}"]
        util = self.utilization()
        rows = [("DSP (27x18 multipliers)", "dsp", self.dsp), ("LUTs (estimate)", "luts", self.luts)]
        rows += [(f"block RAM ({k})", k, v) for k, v in self.bram.items()]
        for label, key, used in rows:
            share = f"{util[key]:.1%}" if key in util else ""
            lines.append(f"  {label:<26}{used:>9}{self.available.get(key, 0):>11}{share:>8}")
        lines.append(f"  multipliers: {self.multipliers}; flip-flops and fmax: not estimated (no synthesis)")
        if self.dram:
            lines.append(f"  external memory: {self.dram}, {self.dram_gbytes_per_s:g} GB/s")
        lines.append(f"  on-chip memory: {self.memory_map.message}")
        lines.append(f"  fits: {'yes' if self.fits else 'no (' + ', '.join(self.over) + ' over capacity)'}")
        return "\n".join(lines)


def estimate_dataflow(dataflow: Dataflow, device: str, build: str = "") -> CostModelEstimate:
    """The cost-model estimate of ``dataflow`` on the cost-model part ``device``.

    Raises
    ------
    EstimateError
        ``device`` is not a cost-model part.
    """
    if device not in COST_MODEL_PARTS:
        raise EstimateError(f"cost-model device must be one of {', '.join(COST_MODEL_PARTS)}, not {device!r}")
    part: CostModelPart = COST_MODEL_PARTS[device]
    budget = part.budget
    units = [u for s in dataflow.stages for u in s.units] + [e.fifo for e in dataflow.edges if e.fifo is not None]
    products = [p for u in units for p in u.products()]
    mm = map_memories(dataflow, device)
    in_luts = sum(-(-p.memory.bits // _LUT_BITS) for s in mm.stages for p in s.placements
                  if p.kind == LOGIC or (budget.lut_ram is not None and p.kind == budget.lut_ram.name))
    rams = {r.name: r.count for r in budget.block_rams if r.count}
    available = {"dsp": budget.dsp_blocks, "luts": budget.luts, "ffs": budget.ffs, **rams}
    assumptions = ["DSP blocks: every multiply in a DSP block, tiled over its 27x18 operands (no packing of two "
                   "narrow products into one block)",
                   "LUTs: the units' arithmetic estimates plus a LUT per 64 bits of memory left in logic or LUT RAM",
                   "block RAM: the memory mapper's placement with Yosys memory_libmap costs"]
    return CostModelEstimate(device, part.part, part.description, part.source, build, len(products),
                             dsp_blocks(products, budget.dsp_widths), sum(u.lut_estimate() for u in units) + in_luts,
                             {k: mm.used(k) for k in rams}, available, mm, budget.dram, budget.dram_gbytes_per_s,
                             assumptions)


def estimate_cost_model(build_dir: str | os.PathLike[str], device: str) -> CostModelEstimate:
    """The cost-model estimate of a build directory written by ``hwaccel compile`` on ``device``."""
    dataflow, _ = read_build(build_dir)
    return estimate_dataflow(dataflow, device, str(build_dir))
