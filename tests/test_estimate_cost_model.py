"""The cost-model FPGA estimate (hwaccel/estimate/cost_model.py) of parts with no open place and
route: DSP48E2 counts (27x18, hand-derived), the labels in the table and JSON, the CLI path."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hwaccel.build_dir import read_build
from hwaccel.cli import main
from hwaccel.estimate.cost_model import BASIS, dsp_blocks, estimate_cost_model, estimate_dataflow
from hwaccel.estimate.devices import device, pnr_device
from hwaccel.estimate.tools import EstimateError
from hwaccel.units.common import Operand

ROOT = Path(__file__).resolve().parent.parent
S, U = (lambda w: Operand(w, True)), (lambda w: Operand(w, False))


@pytest.mark.parametrize("product, blocks", [
    ((S(9), S(8)), 1),  # an int8 MAC
    ((S(27), S(18)), 1),  # the whole block
    ((S(18), S(27)), 1),  # either operand on the 27-bit side
    ((S(28), S(18)), 2),  # 28 > 27: two blocks
    ((S(20), S(20)), 2),  # 20 > 18 on the narrow side: ceil(20/27) * ceil(20/18)
    ((S(30), S(30)), 4),  # ceil(30/27) * ceil(30/18) = 2 * 2
    ((S(40), S(20)), 3),  # 40 on the wide side: 2 x 2; better 20 on it: ceil(20/27) * ceil(40/18) = 3
    ((U(26), S(18)), 1),  # an unsigned operand beside a signed one takes a bit: 27
    ((U(27), S(18)), 2),  # ... 28
    ((S(16), 4), 0),  # a power of two: a shift
    ((S(16), 0), 0),
    ((S(16), -3), 1),
    ((S(1), S(16)), 0),  # narrower than 2 bits: logic
])
def test_dsp48e2_blocks(product, blocks):
    assert dsp_blocks([product], (27, 18)) == blocks
    assert dsp_blocks([product] * 5, (27, 18)) == 5 * blocks


def test_mlp_on_zu9eg_label_and_dsp():
    """rtl/mlp's multiplies are all at most 18 x 18 bits, so each takes one DSP48E2 as each takes one
    MULT18X18D: the count equals the units' own 18x18 count (units/common.mul_blocks)."""
    df, _ = read_build(ROOT / "rtl" / "mlp")
    products = [p for s in df.stages for u in s.units for p in u.products()]
    assert max(max(a.width, getattr(b, "width", 0)) for a, b in products) <= 18
    est = estimate_cost_model(ROOT / "rtl" / "mlp", "zu9eg")
    assert est.dsp == sum(u.dsp_blocks(18) for s in df.stages for u in s.units) == len(products)
    d = est.to_dict()
    assert d["method"] == "cost-model" and d["basis"] == BASIS == "cost model (no place and route for this part)"
    assert d["part"] == "XCZU9EG" and d["available"]["dsp"] == 2520 and d["available"]["RAMB36"] == 912
    assert d["utilization"]["dsp"] == pytest.approx(est.dsp / 2520)
    assert d["fmax_mhz"] is None and d["ffs"] is None
    assert d["memory_map"]["device"] == "zu9eg" and d["fits"] is True
    assert est.luts >= sum(u.lut_estimate() for s in df.stages for u in s.units)
    table = est.format_table()
    assert table.startswith("FPGA estimate, cost model (no place and route for this part): ")
    assert "DSP (27x18 multipliers)" in table and "19.2 GB/s" in table


def test_u250_reports_both_block_rams():
    est = estimate_dataflow(read_build(ROOT / "rtl" / "resnet")[0], "u250")
    assert set(est.bram) == {"RAMB36", "URAM288"} and est.available["URAM288"] == 1280
    assert est.bram["RAMB36"] == est.memory_map.used("RAMB36")


def test_cost_model_parts_do_not_pretend_to_place_and_route():
    assert device("u250").part == "XCU250"
    with pytest.raises(EstimateError, match="no open place and route exists for it"):
        pnr_device("zu9eg")
    with pytest.raises(EstimateError, match="cost-model device must be one of zu9eg, u250, not 'ecp5-85k'"):
        estimate_dataflow(read_build(ROOT / "rtl" / "mlp")[0], "ecp5-85k")


def test_cli_estimate_zu9eg_json(capsys):
    assert main(["estimate", str(ROOT / "rtl" / "mlp"), "--fpga", "zu9eg", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["fpga"]["method"] == "cost-model" and report["fpga"]["device"] == "zu9eg"
    assert main(["estimate", str(ROOT / "rtl" / "mlp"), "--fpga", "zu9"]) == 2
    assert "device must be one of ecp5-85k, ecp5-25k, ice40-up5k, zu9eg, u250, not 'zu9'" in capsys.readouterr().err
