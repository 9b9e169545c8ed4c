"""Output-register packing of ECP5 multipliers (Yosys JSON netlist), before place and route.

Every MatVec product and requantizer partial product is a multiplier followed by a register. An
ECP5 ``MULT18X18D`` has that register inside (``REG_OUTPUT_CLK``), and vendor synthesis (Lattice
LSE, Synplify) puts it there; Yosys's ``synth_ecp5`` leaves the block combinational and the register
in the fabric, so the multiplier's delay and two routes (operands in, product out) share one clock
period. This pass does what those tools do: when every used product bit of a block feeds exactly
one flip-flop, and those flip-flops share clock, enable and synchronous reset (and reset to 0), the
flip-flops are removed and the block's output register takes their place, driving their nets.
The function of the netlist is unchanged; nextpnr then times the block as registered.
"""

from __future__ import annotations

from typing import Any

__all__ = ["pack_output_registers"]

_FF = "TRELLIS_FF"
_MULT = "MULT18X18D"
# the flip-flop settings the block's output register can hold: rising edge, enable (or none),
# synchronous reset to 0
_PACKABLE = {"CLKMUX": {"CLK"}, "CEMUX": {"CE", "1"}, "LSRMUX": {"LSR"}, "REGSET": {"RESET"}, "SRMODE": {"LSR_OVER_CE"}}
_FF_DEFAULTS = {"CLKMUX": "CLK", "CEMUX": "CE", "LSRMUX": "LSR", "REGSET": "RESET", "SRMODE": "LSR_OVER_CE"}


def _setting(ff: dict[str, Any], key: str) -> str:
    """A flip-flop parameter (Yosys pads string parameters with spaces)."""
    return str(ff["parameters"].get(key, _FF_DEFAULTS[key])).strip()


def _loads(cells: dict[str, Any]) -> dict[int, list[tuple[str, str]]]:
    """Net bit -> (cell, input port) of every load."""
    loads: dict[int, list[tuple[str, str]]] = {}
    for name, cell in cells.items():
        for port, bits in cell["connections"].items():
            if cell.get("port_directions", {}).get(port) == "input":
                for bit in bits:
                    if isinstance(bit, int):
                        loads.setdefault(bit, []).append((name, port))
    return loads


def _output_flops(cells: dict[str, Any], mult: dict[str, Any], loads: dict[int, list[tuple[str, str]]],
                  port_bits: set[int]) -> dict[str, str] | None:
    """Product port -> the flip-flop it feeds, when the block's output register can replace them all."""
    flops: dict[str, str] = {}
    for port, bits in mult["connections"].items():
        if not port.startswith("P") or not isinstance(bits[0], int):
            continue
        users = loads.get(bits[0], [])
        if not users:
            continue  # unused product bit
        if bits[0] in port_bits or len(users) != 1 or users[0][1] != "DI" or cells[users[0][0]]["type"] != _FF:
            return None
        flops[port] = users[0][0]
    if not flops:
        return None
    controls = set()
    for name in flops.values():
        ff = cells[name]
        if any(_setting(ff, k) not in ok for k, ok in _PACKABLE.items()):
            return None
        conn = ff["connections"]
        enable = conn.get("CE", ["1"]) if _setting(ff, "CEMUX") == "CE" else ["1"]
        controls.add((tuple(conn["CLK"]), tuple(enable), tuple(conn.get("LSR", ["0"]))))
    return flops if len(controls) == 1 else None


def pack_output_registers(module: dict[str, Any]) -> int:
    """Move product registers into their ``MULT18X18D`` blocks (``module`` changed in place);
    returns the number of flip-flops packed."""
    cells = module["cells"]
    loads = _loads(cells)
    port_bits = {b for port in module.get("ports", {}).values() for b in port["bits"] if isinstance(b, int)}
    packed = 0
    for name in sorted(n for n, c in cells.items() if c["type"] == _MULT):
        mult = cells[name]
        flops = _output_flops(cells, mult, loads, port_bits)
        if flops is None:
            continue
        first = cells[next(iter(flops.values()))]
        conn = first["connections"]
        enable = conn.get("CE", ["1"]) if _setting(first, "CEMUX") == "CE" else ["1"]
        mult["parameters"].update(REG_OUTPUT_CLK="CLK0", REG_OUTPUT_CE="CE0", REG_OUTPUT_RST="RST0", RESETMODE="SYNC")
        mult["connections"].update(CLK0=list(conn["CLK"]), CE0=list(enable), RST0=list(conn.get("LSR", ["0"])))
        mult.setdefault("port_directions", {}).update(CLK0="input", CE0="input", RST0="input")
        for port, ff_name in flops.items():
            mult["connections"][port] = list(cells[ff_name]["connections"]["Q"])
            del cells[ff_name]
            packed += 1
    return packed
