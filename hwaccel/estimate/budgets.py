"""What each FPGA part offers: LUTs, flip-flops, DSP blocks and their operand widths, block RAMs with
their aspect ratios, distributed (LUT) RAM, and the external memory interface where the part has
one. The memory mapper (:mod:`.memory_map`) and the cost model (:mod:`.cost_model`) read these;
the Yosys + nextpnr flow (:mod:`.fpga`) reads its counts from nextpnr instead.

Sources. Lattice ECP5/ECP5-5G family data sheet FPGA-DS-02012, table 1.1 (LUTs, sysMEM EBR blocks of
18 Kb, distributed RAM bits, 18x18 multipliers); iCE40 UltraPlus data sheet FPGA-DS-02008, table 1.1
(5,280 LUTs, 30 EBR of 4 Kb, 4 SPRAM of 256 Kb, 8 DSP). LUT and flip-flop counts of the ECP5 parts are
the ``TRELLIS_COMB`` / ``TRELLIS_FF`` bels nextpnr-ecp5 reports available (83,640 and 24,288).
Xilinx DS891 (Zynq UltraScale+ MPSoC data sheet: overview), XCZU9EG column: 274,080 CLB LUTs,
548,160 flip-flops, 912 block RAMs of 36 Kb (32.1 Mb), no UltraRAM, 2,520 DSP48E2 slices (27x18
multipliers); the processing system's DDR4 controller is 64 bits wide (DDR4-2400: 19.2 GB/s).
Xilinx DS962 (Alveo U200 and U250 data sheet), U250: 1,728,000 LUTs, 3,456,000 registers, 2,688
block RAMs of 36 Kb (94.5 Mb), 1,280 UltraRAMs of 288 Kb (360 Mb), 12,288 DSP slices, four DDR4-2400
x72 channels (64 data bits each, 77 GB/s in all). The Xilinx figures are the data sheets' as quoted in
issue 23's brief; they were NOT re-checked against the data sheet text here (no copy of DS891 or
DS962 was at hand), nor were the ECP5 distributed RAM figures (669 Kb and 194 Kb).

Costs. Which memory goes to block RAM follows Yosys's ``memory_libmap``: each candidate has a cost
(a block RAM's from the Yosys library of the family: DP16KD 128, iCE40 RAM4K 64, RAMB36 257,
UltraRAM 1024; a distributed RAM cell's: TRELLIS_DPR16X4 4, an UltraScale 64x4 LUT RAM 16), a
memory built from logic costs 1/16 per bit for a ROM and 1 per bit for a RAM, and the cheapest wins.
Distributed RAM holds no ROMs on these families (Yosys's ``prune_rom``), and UltraRAM no initial
contents (``init zero``).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["RamPrimitive", "Budget", "CostModelPart", "ECP5_85K", "ECP5_25K", "ICE40_UP5K", "ZU9EG", "U250",
           "COST_MODEL_PARTS", "LOGIC_COST_ROM", "LOGIC_COST_RAM"]

LOGIC_COST_ROM = 1 / 16  # Yosys memory_libmap's default cost of a ROM bit built from logic
LOGIC_COST_RAM = 1.0  # ... and of a RAM bit


@dataclass(frozen=True)
class RamPrimitive:
    """One kind of memory block: its name, how many the part has, its ``(depth, width)`` aspect
    ratios, its Yosys cost, whether it can hold a ROM (initial contents) and whether its read is
    synchronous (block RAM) or asynchronous (distributed RAM)."""

    name: str
    count: int
    shapes: tuple[tuple[int, int], ...]
    cost: float
    rom: bool = True
    sync_read: bool = True
    ports: int = 2  # ports a block offers (a RAM uses one to write)
    byte: int = 0  # write-enable granularity (bits), 0: none

    @property
    def bits(self) -> int:
        """Storage bits of one block."""
        return max(d * w for d, w in self.shapes)

    def layouts(self, depth: int, width: int, packed: bool = False) -> list[tuple[int, int]]:
        """``(blocks, multiplexed bits)`` of each way to build a ``depth`` x ``width`` memory: per
        aspect ratio, blocks side by side for the width and stacked for the depth (a read
        multiplexer picks the row); also the rows' words side by side in one row of blocks, as
        Yosys's ``memory_libmap`` swizzles them: a ROM's (``packed``) as they are (1070x48 in four
        512x36), a RAM's each rounded up to whole write-enable bytes (1070x48 in five)."""
        out = []
        for d, w in self.shapes:
            rows = -(-depth // d)
            out.append((rows * -(-width // w), (rows - 1) * width))
            byte = min(self.byte, w)
            word = width if packed else -(-width // byte) * byte if byte else 0
            if word and rows > 1:
                out.append((-(-(rows * word) // w), (rows - 1) * width))
        return out

    def best(self, depth: int, width: int, packed: bool = False) -> tuple[int, float]:
        """``(blocks, cost)`` of the cheapest layout: the blocks' cost plus half a unit per
        multiplexed bit (``memory_libmap``'s FACTOR_MUX)."""
        return min(((n, n * self.cost + 0.5 * mux) for n, mux in self.layouts(depth, width, packed)),
                   key=lambda o: (o[1], o[0]))

    def blocks(self, depth: int, width: int, packed: bool = False) -> int:
        """Blocks of the cheapest layout of a ``depth`` x ``width`` memory (see :meth:`layouts`)."""
        return self.best(depth, width, packed)[0]


@dataclass(frozen=True)
class Budget:
    """The resources of one part (see the module docstring for the sources)."""

    luts: int
    ffs: int
    dsp_blocks: int
    dsp_widths: tuple[int, int]  # signed operand bits (a, b) of one DSP multiplier
    block_rams: tuple[RamPrimitive, ...]  # cheapest per bit first
    lut_ram: RamPrimitive | None  # the distributed RAM cell, None where the family has none
    lut_ram_bits: int | None  # distributed RAM capacity (None: not checked)
    dram: str | None = None  # the external memory interface, None where the part has no hard one
    dram_gbytes_per_s: float | None = None


@dataclass(frozen=True)
class CostModelPart:
    """A part without an open place-and-route flow: estimated by the cost model only."""

    name: str
    part: str
    description: str
    source: str
    budget: Budget


_DP16KD = ((16384, 1), (8192, 2), (4096, 4), (2048, 9), (1024, 18), (512, 36))  # 512x36: the PDPW16KD mode
_DPR16X4 = RamPrimitive("TRELLIS_DPR16X4", 0, ((16, 4),), 4, rom=False, sync_read=False, ports=1)


def _ecp5(luts: int, ebr: int, dist_kbits: int, dsp: int) -> Budget:
    return Budget(luts, luts, dsp, (18, 18), (RamPrimitive("DP16KD", ebr, _DP16KD, 128, byte=9),), _DPR16X4,
                  dist_kbits * 1024)


ECP5_85K = _ecp5(83640, 208, 669, 156)
ECP5_25K = _ecp5(24288, 56, 194, 28)
# SPRAM is listed but holds no ROM and is single ported; synth_ice40 uses it only with -spram (hwaccel's flow does not)
ICE40_UP5K = Budget(5280, 5280, 8, (16, 16),
                    (RamPrimitive("SB_RAM40_4K", 30, ((2048, 2), (1024, 4), (512, 8), (256, 16)), 64),
                     RamPrimitive("SB_SPRAM256KA", 0, ((16384, 16),), 2048, rom=False, ports=1)), None, None)

_RAMB36 = RamPrimitive("RAMB36", 0, ((32768, 1), (16384, 2), (8192, 4), (4096, 9), (2048, 18), (1024, 36), (512, 72)),
                       257, byte=9)
_LUTRAM_XCU = RamPrimitive("LUTRAM64X4", 0, ((64, 4),), 16, rom=False, sync_read=False, ports=1)


def _with_count(ram: RamPrimitive, count: int) -> RamPrimitive:
    return RamPrimitive(ram.name, count, ram.shapes, ram.cost, ram.rom, ram.sync_read, ram.ports, ram.byte)


ZU9EG = Budget(274080, 548160, 2520, (27, 18), (_with_count(_RAMB36, 912),), _LUTRAM_XCU, None,
               dram="DDR4-2400 x64 (processing system)", dram_gbytes_per_s=19.2)
U250 = Budget(1728000, 3456000, 12288, (27, 18),
              (_with_count(_RAMB36, 2688), RamPrimitive("URAM288", 1280, ((4096, 72),), 1024, rom=False, byte=9)),
              _LUTRAM_XCU, None, dram="4x DDR4-2400 x72 (64 data bits)", dram_gbytes_per_s=76.8)

COST_MODEL_PARTS: dict[str, CostModelPart] = {
    "zu9eg": CostModelPart("zu9eg", "XCZU9EG", "Zynq UltraScale+ ZU9EG-class MPSoC",
                           "Xilinx DS891 (Zynq UltraScale+ MPSoC data sheet: overview)", ZU9EG),
    "u250": CostModelPart("u250", "XCU250", "Alveo U250-class accelerator card",
                          "Xilinx DS962 (Alveo U200 and U250 data center accelerator cards data sheet)", U250),
}
