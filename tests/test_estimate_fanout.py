"""Fan-out replication (hwaccel/estimate/fanout.py) on hand-built and Yosys-synthesized netlists."""

from __future__ import annotations

import json

import pytest

from hwaccel.estimate.devices import device as get_device
from hwaccel.estimate.fanout import replicate_fanout
from hwaccel.estimate.fpga import estimate_fpga_verilog


def _module(loads: int) -> dict:
    """A LUT (output bit 2, inputs 1 and 3) driving the CE of ``loads`` flip-flops."""
    cells = {"lut": {"type": "LUT4", "parameters": {"INIT": "1010"}, "port_directions": {"A": "input", "Z": "output"},
                     "connections": {"A": [1], "B": [3], "Z": [2]}}}
    for k in range(loads):
        cells[f"ff{k:03d}"] = {"type": "TRELLIS_FF", "parameters": {},
                               "port_directions": {"CE": "input", "DI": "input", "Q": "output"},
                               "connections": {"CE": [2], "DI": [1], "Q": [100 + k]}}
    return {"ports": {}, "cells": cells, "netnames": {}}


def test_a_net_over_the_limit_gets_one_driver_per_limit_loads():
    module = _module(70)
    assert replicate_fanout(module, {"LUT4": "Z"}, limit=32) == 2  # 70 loads: 32 + 32 + 6
    cells = module["cells"]
    ce = {name: c["connections"]["CE"][0] for name, c in cells.items() if name.startswith("ff")}
    assert {bit for name, bit in ce.items() if name < "ff032"} == {2}  # the first 32 (by name) keep the original
    copies = [cells["lut$fanout1"], cells["lut$fanout2"]]
    assert [c["connections"]["Z"] for c in copies] == [[ce["ff032"]], [ce["ff064"]]]
    assert sum(bit == ce["ff064"] for bit in ce.values()) == 6
    for copy in copies:  # same function: same type, parameters and inputs as the original
        assert copy["type"] == "LUT4" and copy["parameters"] == {"INIT": "1010"}
        assert (copy["connections"]["A"], copy["connections"]["B"]) == ([1], [3])
    assert len(set(ce.values())) == 3 and all(b > 169 for b in ce.values() if b != 2)  # new bits are fresh


def test_nets_at_the_limit_or_driven_by_other_cells_are_left_alone():
    module = _module(32)
    before = json.dumps(module, sort_keys=True)
    assert replicate_fanout(module, {"LUT4": "Z"}, limit=32) == 0
    assert replicate_fanout(module, {"TRELLIS_FF": "Q"}, limit=4) == 0  # the LUT is not a listed driver
    assert json.dumps(module, sort_keys=True) == before


def _enable_fanout_verilog(width: int) -> str:
    """``width`` registers loading on one enable computed from two registers (the stall of a unit)."""
    return f"""module top(input clk, input rst, input a, input b, input [{width - 1}:0] d, output reg [{width - 1}:0] q);
  reg ra, rb;
  always @(posedge clk) begin ra <= a; rb <= b; if (ra | ~rb) q <= d; end
endmodule
"""


@pytest.mark.slow
def test_flow_replicates_the_enable_of_a_wide_register(tmp_path, monkeypatch):
    """Yosys's netlist of a 200-bit register with one enable: the enable LUT is copied (200 loads,
    32 a driver: 6 copies on ECP5) and the design still routes."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    est = estimate_fpga_verilog(_enable_fanout_verilog(200), "ecp5-85k", progress=False)
    assert est.routed and est.fmax_mhz and est.ffs >= 202
    assert est.fanout_copies >= 6
    assert ("LUT4", "Z") in get_device("ecp5-85k").fanout_drivers
    assert est.critical_path is None or est.critical_path["routing_ns"] <= est.critical_path["delay_ns"]
