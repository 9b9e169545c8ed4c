"""The result of an FPGA estimate (:mod:`.fpga`): resources, post-route fmax, fit, and its report."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

from .devices import pnr_device as get_device

__all__ = ["FpgaEstimate", "BASIS", "METHOD"]

BASIS = "post-route (nextpnr)"
METHOD = "place-and-route"


@dataclass(frozen=True)
class FpgaEstimate:
    """Resources and post-route fmax of one design on one device (see :mod:`.fpga` for the method).

    Counts are nextpnr's utilisation after packing (``luts``: LUT4 slots, ``TRELLIS_COMB`` on
    ECP5 or logic cells ``ICESTORM_LC`` on iCE40; ``dsp``, ``bram``: hard blocks), except ``ffs``
    (flip-flop cells of the synthesized netlist), ``dist_ram`` (distributed RAM cells of 16x4 bits;
    None where the family has none) and ``ios`` (top-level port bits). ``soft_multipliers`` counts
    the multipliers built from logic because the design needs more DSP blocks than the device has
    (see :func:`.fpga.multipliers_for_logic`); ``dsp_packed_ffs`` the flip-flops (counted in ``ffs``) that
    place and route saw as DSP output or input registers, ``fanout_copies`` the drivers added by fan-out splitting.
    ``available`` holds the device's capacity for the same keys (``ios``: the package's user I/O). ``yosys_cells`` are the
    synthesized cell counts, ``rtl_cells`` the coarse cells before technology mapping (``$mul``...).
    ``fmax_mhz`` is the slowest clock's post-route fmax (None when place and route failed or the
    design has no clock); ``critical_path`` names its end cells and delay. With a seed sweep the
    result is that of the best ``seed``; ``seed_fmax_mhz`` has every seed's fmax and ``pnr_seconds``
    their total. ``memory_map`` is the memory mapper's placement of the build's memories on the part
    (:meth:`.memory_map.MemoryMap.to_dict`; None for Verilog without a build).
    """

    device: str
    part: str
    package: str
    top: str
    design_sha256: str
    target_mhz: float
    seed: int
    routed: bool
    fmax_mhz: float | None
    clocks_mhz: dict[str, float]
    critical_path: dict[str, Any] | None
    luts: int
    ffs: int
    dsp: int
    bram: int
    dist_ram: int | None
    ios: int
    soft_multipliers: int
    available: dict[str, int]
    over: list[str]
    core_fits: bool
    fits: bool
    pnr_error: str | None
    bels: dict[str, dict[str, int]]
    yosys_cells: dict[str, int]
    rtl_cells: dict[str, int]
    tools: dict[str, str]
    synth_seconds: float
    pnr_seconds: float
    fanout_copies: int = 0
    dsp_packed_ffs: int = 0
    seed_fmax_mhz: dict[str, float | None] = field(default_factory=dict)
    seconds: float = 0.0
    cached: bool = False
    memory_map: dict[str, Any] | None = None

    @property
    def basis(self) -> str:
        """How the numbers were obtained (every report carries it)."""
        return BASIS if self.routed else "synthesized (yosys); place and route failed (nextpnr)"

    def utilization(self) -> dict[str, float | None]:
        """Used / available for ``luts``, ``ffs``, ``dsp``, ``bram``, ``ios``."""
        used = {"luts": self.luts, "ffs": self.ffs, "dsp": self.dsp, "bram": self.bram, "ios": self.ios}
        return {k: (v / self.available[k] if self.available.get(k) else None) for k, v in used.items()}

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict: the fields, plus ``method``, ``basis`` and ``utilization``."""
        out = {f.name: getattr(self, f.name) for f in fields(self)}
        return {"method": METHOD, **out, "basis": self.basis, "utilization": self.utilization()}

    @classmethod
    def from_dict(cls, data: dict[str, Any], **changes: Any) -> FpgaEstimate:
        """Inverse of :meth:`to_dict` (derived keys ignored); ``changes`` replace fields."""
        return cls(**{**{f.name: data[f.name] for f in fields(cls) if f.name in data}, **changes})

    def format_table(self) -> str:
        """Readable report: resources against capacity, fmax, fit, cells, time."""
        dev = get_device(self.device)
        sweep = (f" (best of seeds {', '.join(f'{s}: {f:.1f}' if f else f'{s}: -' for s, f in self.seed_fmax_mhz.items())} MHz)"
                 if len(self.seed_fmax_mhz) > 1 else "")
        lines = [f"FPGA estimate, {self.basis}: {self.top} on {self.device} ({self.part} {self.package}), "
                 f"target {self.target_mhz:g} MHz, seed {self.seed}{sweep}",
                 f"  {'resource':<26}{'used':>9}{'available':>11}{'util':>8}"]
        rows = [(f"LUTs ({dev.lut_bel})", "luts"), (f"FFs ({dev.ff_cell}*)", "ffs"), (f"DSP ({dev.dsp_bel})", "dsp"),
                (f"BRAM ({dev.bram_bel})", "bram"), ("I/O (port bits as pins)", "ios")]
        util = self.utilization()
        for label, key in rows:
            share = util[key]
            lines.append(f"  {label:<26}{getattr(self, key):>9}{self.available[key]:>11}"
                         f"{'' if share is None else f'{share:.1%}':>8}")
        if self.soft_multipliers:
            lines.append(f"  multipliers in logic: {self.soft_multipliers} (the narrowest; DSP demand over capacity)")
        if self.dsp_packed_ffs:
            lines.append(f"  registers in DSP blocks: {self.dsp_packed_ffs} flip-flops (counted in FFs)")
        if self.dist_ram is not None:
            lines.append(f"  {'LUT RAM (16x4 cells)':<26}{self.dist_ram:>9}")
        if self.fmax_mhz is None:
            lines.append(f"  fmax: none ({self.pnr_error or 'no clock in the design'})")
        else:
            met = "met" if self.fmax_mhz >= self.target_mhz else "not met"
            lines.append(f"  fmax: {self.fmax_mhz:.1f} MHz (target {self.target_mhz:g} MHz {met})")
            if self.critical_path:
                cp = self.critical_path
                routing = f", {cp['routing_ns']:.2f} ns of it routing" if "routing_ns" in cp else ""
                lines.append(f"  critical path: {cp['from']} -> {cp['to']} ({cp['delay_ns']:.2f} ns{routing})")
        fit = "yes" if self.fits else f"no ({', '.join(self.over) or 'place and route failed'} over capacity)"
        lines.append(f"  fits: {fit}" + ("; the core fits with its data ports as internal nets"
                                         if self.core_fits and not self.fits else ""))
        if self.memory_map is not None:
            lines.append(f"  on-chip memory (mapper): {self.memory_map['message']}")
        lines.append("  yosys cells: " + ", ".join(f"{t} {n}" for t, n in self.yosys_cells.items()))
        lines.append(f"  synthesis {self.synth_seconds:.1f} s, place and route {self.pnr_seconds:.1f} s"
                     + ("; cached result" if self.cached else ""))
        return "\n".join(lines)
