"""ASIC estimate: energies recomputed by hand from the published 45 nm figures on a one-Gemm build,
28 nm scaling from the Stillmaker & Baas coefficients, monotonic in bit width, typed errors."""

from __future__ import annotations

import json
import math

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from hwaccel.build_dir import read_build
from hwaccel.cli import main
from hwaccel.errors import HwaccelError
from hwaccel.estimate.asic import estimate_asic, tech
from hwaccel.perf.model import cycle_model

from conftest import make_model

IN, OUT = 64, 16  # one Gemm: MACs = IN x OUT


def _gemm_model(seed: int = 0) -> onnx.ModelProto:
    """y = x W + b with no weight small enough to quantize to 0 (every lane and tile is live)."""
    rng = np.random.default_rng(seed)
    w = (rng.uniform(0.5, 1.0, (IN, OUT)) * rng.choice([-1, 1], (IN, OUT))).astype(np.float32)
    b = rng.normal(size=OUT).astype(np.float32)
    node = helper.make_node("Gemm", ["x", "w", "b"], ["y"], name="fc")
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", IN])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", OUT])
    return make_model([node], [x], [y], [numpy_helper.from_array(w, "w"), numpy_helper.from_array(b, "b")])


@pytest.fixture(scope="module")
def builds(tmp_path_factory):
    """Builds of the one-Gemm model with 8-bit and 4-bit weights (8-bit activations): bits -> directory."""
    root = tmp_path_factory.mktemp("asic")
    onnx.save(_gemm_model(), root / "fc.onnx")
    np.save(root / "calib.npy", np.random.default_rng(1).uniform(-1, 1, (128, IN)).astype(np.float32))
    out = {}
    for bits in (8, 4):
        qdq = root / f"fc{bits}.qdq.onnx"
        assert main(["quantize", str(root / "fc.onnx"), "--calib", str(root / "calib.npy"), "-o", str(qdq),
                     "--weight-bits", str(bits)]) == 0
        assert main(["compile", str(qdq), "-o", str(root / f"b{bits}"), "--dsp", "16"]) == 0
        out[bits] = root / f"b{bits}"
    return out


def _layer(build) -> dict:
    manifest = json.loads((build / "manifest.json").read_text())
    [dense] = [layer for layer in manifest["layers"] if layer["kind"] == "dense"]
    return dense


# Horowitz, ISSCC 2014, 45 nm: typed in again here, independent of the module's tables
def _mult_pj(a: int, b: int) -> float:  # 8x8 bits 0.2 pJ, 32x32 bits 3.1 pJ, power law in a*b
    return 0.2 * (a * b / 64) ** (math.log(3.1 / 0.2) / math.log(1024 / 64))


def _add_pj(bits: int) -> float:  # 8 bits 0.03 pJ, 32 bits 0.1 pJ, power law in bits
    return 0.03 * (bits / 8) ** (math.log(0.1 / 0.03) / math.log(32 / 8))


def _sram_pj_per_bit(size_bits: int) -> float:  # 64-bit reads: 8 KB 10 pJ, 32 KB 20 pJ; below 8 KB the same slope
    return 10 / 64 * (size_bits / (8 * 8192)) ** (math.log(2) / math.log(4))


def test_energy_by_hand_45nm(builds):
    build = builds[8]
    layer = _layer(build)
    pe, simd, acc = layer["pe"], layer["simd"], layer["acc_bits"]
    est = estimate_asic(build, "45nm")
    assert est.macs == IN * OUT
    # each MAC: a 9 x 8 bit multiply (x - zero point needs 9 bits) and an acc_bits addition
    assert est.energy_pj["multiply"] == pytest.approx(IN * OUT * _mult_pj(9, 8), rel=1e-12)
    assert est.energy_pj["accumulate"] == pytest.approx(IN * OUT * _add_pj(acc), rel=1e-12)
    # the weight ROM (every lane live, padded tiles included) is read once per inference, as SRAM of its size
    rom = math.ceil(OUT / pe) * math.ceil(IN / simd) * pe * simd * 8
    assert rom >= 2048  # an SRAM, not flip-flops
    assert est.weight_bits == rom
    assert est.energy_pj["weight_memory"] == pytest.approx(rom * _sram_pj_per_bit(rom), rel=1e-12)
    assert est.energy_pj["off_chip"] == 0 and not est.weights_off_chip
    assert est.energy_nj == pytest.approx(sum(est.energy_pj.values()) / 1e3)
    # area: one multiplier and one adder per live lane (8x8 bits: 282 um^2 at 64 bit-products; 8 b add 36 um^2)
    assert est.area_um2["multiply"] == pytest.approx(pe * simd * 282 * (72 / 64) ** (math.log(3495 / 282) / math.log(16)))
    assert est.area_um2["accumulate"] == pytest.approx(pe * simd * 36 * (acc / 8) ** (math.log(137 / 36) / math.log(4)))
    # timing from the cycle model at the compile clock (100 MHz); power = energy x rate
    report = cycle_model(read_build(build)[0], 1)
    assert est.inferences_per_s == pytest.approx(100e6 / report.interval_cycles)
    assert est.latency_us == pytest.approx(report.total_cycles / 100)
    assert est.power_mw == pytest.approx(est.energy_nj * 1e-9 * est.inferences_per_s * 1e3)
    assert estimate_asic(build, "45nm", clock_mhz=200).inferences_per_s == pytest.approx(2 * est.inferences_per_s)


def test_28nm_scaling(builds):
    def energy_factor(a, b, c, v=0.9):
        return a * v * v + b * v + c

    # Stillmaker & Baas 2017, PTM HP energy polynomials; area factors vs 45 nm; 28 nm between 32 and 20 nm
    e45, e32, e20 = (energy_factor(1.018, -0.3107, 0.1539), energy_factor(0.8367, -0.4341, 0.1701),
                     energy_factor(0.373, -0.1582, 0.04104))
    t = math.log(28 / 32) / math.log(20 / 32)
    energy28 = e32 / e45 * (e20 / e32) ** t
    area28 = 0.46 * (0.21 / 0.46) ** t
    assert 0.45 < energy28 < 0.6 and 0.3 < area28 < 0.45
    a, b = estimate_asic(builds[8], "45nm"), estimate_asic(builds[8], "28nm")
    assert b.energy_nj < a.energy_nj and b.area_mm2 < a.area_mm2
    for category in ("multiply", "accumulate", "weight_memory", "registers"):
        assert b.energy_pj[category] == pytest.approx(a.energy_pj[category] * energy28, rel=1e-12)
        assert b.area_um2[category] == pytest.approx(a.area_um2[category] * area28, rel=1e-12)
    assert b.inferences_per_s == a.inferences_per_s  # same clock


def test_monotonic_in_bit_width(builds):
    t = tech("45nm")
    widths = range(2, 33)
    assert all(t.add_pj(n) < t.add_pj(n + 1) and t.add_um2(n) < t.add_um2(n + 1) for n in widths)
    assert all(t.mult_pj(a, b) < t.mult_pj(a + 1, b) and t.mult_um2(a, b) < t.mult_um2(a, b + 1) for a in widths for b in widths)
    assert all(t.mem_pj_per_bit(s) <= t.mem_pj_per_bit(2 * s) for s in (4096, 65536, 1 << 20, 1 << 24))
    four, eight = estimate_asic(builds[4], "45nm"), estimate_asic(builds[8], "45nm")
    assert four.energy_pj["multiply"] == pytest.approx(IN * OUT * _mult_pj(9, 4), rel=1e-12)
    assert four.energy_pj["multiply"] < eight.energy_pj["multiply"]
    assert four.energy_pj["weight_memory"] < eight.energy_pj["weight_memory"]
    assert four.energy_nj < eight.energy_nj and four.area_mm2 < eight.area_mm2


def test_weights_off_chip(builds):
    est = estimate_asic(builds[8], "45nm", onchip_weight_bits=1000, dram_gbytes_per_s=1e-3)
    assert est.weights_off_chip
    # DRAM 1.3-2.6 nJ per 64-bit access: the midpoint per bit, once per inference
    assert est.energy_pj["off_chip"] == pytest.approx(est.weight_bits * 1950 / 64)
    assert est.interval_s == pytest.approx(est.weight_bits / 8 / 1e6)  # 1 MB/s: the DRAM transfer bounds the rate
    assert est.to_dict()["energy_groups_nJ"]["off_chip"] == pytest.approx(est.energy_pj["off_chip"] / 1e3)
    # a byte from DRAM: 8 bits x 1950 pJ / 64 bits = 243.75 pJ, labelled as DRAM in the table
    assert est.to_dict()["off_chip_bytes"] == est.weight_bits / 8
    assert est.energy_pj["off_chip"] == pytest.approx(est.to_dict()["off_chip_bytes"] * 243.75)
    assert "off_chip: DRAM reads" in est.format_table() and "30.47 pJ/bit" in est.format_table()


def test_report_is_labelled_estimate(builds):
    est = estimate_asic(builds[8], "28nm")
    d = est.to_dict()
    assert d["label"] == "estimate" and d["node"] == "28nm"
    assert {"energy_per_inference_nJ", "area_mm2", "power_mW", "inferences_per_s", "latency_us", "clock_MHz",
            "energy_breakdown_nJ", "area_breakdown_mm2"} <= set(d)
    assert sum(d["energy_breakdown_nJ"].values()) == pytest.approx(d["energy_per_inference_nJ"])
    assert sum(layer["energy_nJ"] for layer in d["layers"]) == pytest.approx(d["energy_per_inference_nJ"])
    json.dumps(d)
    text = est.format_table()
    assert "estimate" in text and "28nm" in text and "mW" in text


@pytest.mark.parametrize("node", ["7nm", "45", "", None])
def test_unknown_node(builds, node):
    with pytest.raises(HwaccelError, match=r"node must be one of \['45nm', '28nm'\], not"):
        estimate_asic(builds[8], node)


def test_not_a_build(tmp_path):
    with pytest.raises(HwaccelError, match="not a build directory"):
        estimate_asic(tmp_path, "45nm")
