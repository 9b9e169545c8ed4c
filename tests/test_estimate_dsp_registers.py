"""Output- and input-register packing of ECP5 multipliers: the netlist rewrites by hand, then the real flow."""

from __future__ import annotations

import dataclasses
import json

import pytest

from hwaccel.estimate import devices
from hwaccel.estimate.dsp_registers import pack_input_registers, pack_output_registers
from hwaccel.estimate.fpga import estimate_fpga_verilog

CLK, CE, RST = 2, 3, 4


def _ff(d: int, q: int, ce: object = CE, **params: str) -> dict:
    settings = {"CEMUX": "CE", "CLKMUX": "CLK", "GSR": "DISABLED", "LSRMUX": "LSR", "REGSET": "RESET",
                "SRMODE": "LSR_OVER_CE", **params}
    return {"type": "TRELLIS_FF", "parameters": settings,
            "port_directions": {"CLK": "input", "CE": "input", "LSR": "input", "DI": "input", "Q": "output"},
            "connections": {"CLK": [CLK], "CE": [ce], "LSR": [RST], "DI": [d], "Q": [q]}}


def _module(**ff_params: str) -> dict:
    """A multiplier whose product bits 0..2 (nets 10..12) feed three flip-flops (Q: nets 20..22),
    read by a LUT; product bit 3 (net 13) is unused."""
    mult = {"type": "MULT18X18D", "parameters": {},
            "port_directions": {"A0": "input", "B0": "input", **{f"P{k}": "output" for k in range(4)}},
            "connections": {"A0": [5], "B0": [6], **{f"P{k}": [10 + k] for k in range(4)}}}
    cells = {"mul": mult, **{f"prod_{k}": _ff(10 + k, 20 + k, **ff_params) for k in range(3)},
             "lut": {"type": "LUT4", "parameters": {}, "port_directions": {"A": "input", "B": "input", "C": "input", "Z": "output"},
                     "connections": {"A": [20], "B": [21], "C": [22], "Z": [30]}}}
    return {"ports": {}, "cells": cells}


def test_product_flip_flops_move_into_the_block():
    module = _module()
    assert pack_output_registers(module) == 3
    mult = module["cells"]["mul"]
    assert sorted(module["cells"]) == ["lut", "mul"]
    assert [mult["connections"][f"P{k}"] for k in range(4)] == [[20], [21], [22], [13]]  # the register drives the flops' nets
    assert mult["parameters"] == {"REG_OUTPUT_CLK": "CLK0", "REG_OUTPUT_CE": "CE0", "REG_OUTPUT_RST": "RST0", "RESETMODE": "SYNC"}
    assert (mult["connections"]["CLK0"], mult["connections"]["CE0"], mult["connections"]["RST0"]) == ([CLK], [CE], [RST])
    assert {mult["port_directions"][p] for p in ("CLK0", "CE0", "RST0")} == {"input"}


def test_an_always_enabled_flop_packs_with_a_constant_enable():
    module = _module(CEMUX="1 ")  # Yosys pads string parameters
    assert pack_output_registers(module) == 3 and module["cells"]["mul"]["connections"]["CE0"] == ["1"]


@pytest.mark.parametrize("change", ["other_load", "other_enable", "set", "falling_edge", "async"])
def test_blocks_whose_flops_the_register_cannot_replace_stay_as_they_are(change):
    module = _module(**{"set": {"REGSET": "SET"}, "falling_edge": {"CLKMUX": "INV"}, "async": {"SRMODE": "ASYNC"}}.get(change, {}))
    if change == "other_load":  # product bit 1 also feeds logic besides its flop
        module["cells"]["lut"]["connections"]["C"] = [11]
    if change == "other_enable":
        module["cells"]["prod_2"]["connections"]["CE"] = [7]
    before = json.dumps(module, sort_keys=True)
    assert pack_output_registers(module) == 0 and json.dumps(module, sort_keys=True) == before


def _operand_module() -> dict:
    """A multiplier whose A0/A1 read flip-flops ``fa0``/``fa1`` (D: nets 40, 41; Q: 50, 51; A2..A3 the
    sign bit again, A4 tied to 0), whose B0 reads a LUT, and ``fa1`` also feeds a LUT."""
    mult = {"type": "MULT18X18D", "parameters": {},
            "port_directions": {**{f"A{k}": "input" for k in range(5)}, "B0": "input", "P0": "output"},
            "connections": {"A0": [50], "A1": [51], "A2": [51], "A3": [51], "A4": ["0"], "B0": [60], "P0": [70]}}
    lut = {"type": "LUT4", "parameters": {}, "port_directions": {"A": "input", "B": "input", "Z": "output"},
           "connections": {"A": [51], "B": [9], "Z": [60]}}
    return {"ports": {}, "cells": {"mul": mult, "fa0": _ff(40, 50, ce="1"), "fa1": _ff(41, 51, ce="1"), "lut": lut}}


def test_operand_flip_flops_move_into_the_input_register():
    module = _operand_module()
    assert pack_input_registers(module) == 1  # fa0 goes; fa1 stays for the LUT
    mult = module["cells"]["mul"]
    assert sorted(module["cells"]) == ["fa1", "lut", "mul"]
    assert [mult["connections"][f"A{k}"] for k in range(5)] == [[40], [41], [41], [41], ["0"]]  # the flops' D nets
    assert mult["connections"]["B0"] == [60]  # a LUT's output: no register to take
    assert mult["parameters"] == {"REG_INPUTA_CLK": "CLK0", "REG_INPUTA_CE": "CE0", "REG_INPUTA_RST": "RST0", "RESETMODE": "SYNC"}
    assert (mult["connections"]["CLK0"], mult["connections"]["CE0"], mult["connections"]["RST0"]) == ([CLK], ["1"], [RST])


def test_input_registers_take_their_own_control_set_beside_the_output_register():
    module = _operand_module()
    module["cells"]["mul"]["connections"].update(CLK0=[CLK], CE0=[CE], RST0=[RST])  # the output register's, enabled by CE
    assert pack_input_registers(module) == 1
    mult = module["cells"]["mul"]
    assert mult["parameters"]["REG_INPUTA_CLK"] == "CLK1" and mult["connections"]["CE1"] == ["1"]


def test_operands_of_mixed_controls_stay_in_the_fabric():
    module = _operand_module()
    module["cells"]["fa1"]["parameters"]["REGSET"] = "SET"
    before = json.dumps(module, sort_keys=True)
    assert pack_input_registers(module) == 0 and json.dumps(module, sort_keys=True) == before


MULTIPLY_REGISTERED = """
module top(input clk, input rst, input [8:0] a, input [7:0] b, output reg [16:0] p);
  reg signed [8:0] ar; reg signed [7:0] br;
  always @(posedge clk) begin ar <= a; br <= b; p <= (ar + 9'sd1) * br; end
endmodule
"""


@pytest.mark.slow
def test_packing_keeps_the_multiply_in_the_timed_path(tmp_path, monkeypatch):
    """Registers, an adder on one operand, one multiply, a register out: packed, the 17 product flops
    leave the fabric, so do b's (the input register B; the operand after the adder is no register),
    but the multiply is still timed (nextpnr's setup of the operands to the output register, ~3.5 ns
    at ECP5 speed grade 6). With both registers packed nextpnr times no path inside the block; this
    figure is what its multiply costs."""
    monkeypatch.setenv("HWACCEL_CACHE_DIR", str(tmp_path))
    packed = estimate_fpga_verilog(MULTIPLY_REGISTERED, "ecp5-85k", progress=False)
    plain_device = dataclasses.replace(devices.DEVICES["ecp5-85k"], name="ecp5-85k", dsp_registers=False)
    monkeypatch.setitem(devices.DEVICES, "ecp5-85k", plain_device)
    plain = estimate_fpga_verilog(MULTIPLY_REGISTERED, "ecp5-85k", progress=False, force=True)
    assert packed.dsp == plain.dsp == 1 and packed.dsp_packed_ffs == 17 + 8 and plain.dsp_packed_ffs == 0  # product, b's register
    assert packed.critical_path["to"].endswith("MULT18X18D_P0")  # the path ends at the block's register
    cell_ns = packed.critical_path["delay_ns"] - packed.critical_path["routing_ns"]
    assert cell_ns > 3.0  # clock-to-out plus the multiplier's setup: not a free register
    assert packed.fmax_mhz > plain.fmax_mhz
