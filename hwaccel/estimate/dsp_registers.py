"""Output- and input-register packing of ECP5 multipliers (Yosys JSON netlist), before place and route.

Every MatVec product and requantizer partial product is a multiplier followed by a register. An
ECP5 ``MULT18X18D`` has that register inside (``REG_OUTPUT_CLK``), and vendor synthesis (Lattice
LSE, Synplify) puts it there; Yosys's ``synth_ecp5`` leaves the block combinational and the register
in the fabric, so the multiplier's delay and two routes (operands in, product out) share one clock
period. This pass does what those tools do: when every used product bit of a block feeds exactly
one flip-flop, and those flip-flops share clock, enable and synchronous reset (and reset to 0), the
flip-flops are removed and the block's output register takes their place, driving their nets.
The function of the netlist is unchanged; nextpnr then times the block as registered.

The operands are registers too (a MatVec lane's offset input and weight, a requantizer's value):
:func:`pack_input_registers` moves them into the block's input registers (``REG_INPUTA_CLK``,
``REG_INPUTB_CLK``), as the vendor tools do, so that the route to the block gets its own cycle
(the flip-flops stay where they have other loads). An operand bit tied to a constant goes through
the register too, which holds 0 until the first clock edge instead of the constant: the netlist
is for timing, not for a bitstream.
"""

from __future__ import annotations

from typing import Any

__all__ = ["pack_output_registers", "pack_input_registers"]

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


def _port_bits(module: dict[str, Any]) -> set[int]:
    """Net bits of the module's ports (a flip-flop driving one stays)."""
    return {b for port in module.get("ports", {}).values() for b in port["bits"] if isinstance(b, int)}


def _controls(ff: dict[str, Any]) -> tuple[tuple, tuple, tuple] | None:
    """``(clock, enable, reset)`` nets of a flip-flop a DSP register can hold, else None."""
    if any(_setting(ff, k) not in ok for k, ok in _PACKABLE.items()):
        return None
    conn = ff["connections"]
    enable = conn.get("CE", ["1"]) if _setting(ff, "CEMUX") == "CE" else ["1"]
    return tuple(conn["CLK"]), tuple(enable), tuple(conn.get("LSR", ["0"]))


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
    controls = {_controls(cells[name]) for name in flops.values()}
    return flops if len(controls) == 1 and None not in controls else None


def _control_slot(mult: dict[str, Any], controls: tuple[tuple, tuple, tuple]) -> int | None:
    """The block's clock/enable/reset set (0..3) wired to ``controls``, a free one wired now, or None."""
    conn = mult["connections"]
    for k in range(4):
        mine = (tuple(conn.get(f"CLK{k}", ())), tuple(conn.get(f"CE{k}", ())), tuple(conn.get(f"RST{k}", ())))
        if mine == controls:
            return k
        if f"CLK{k}" not in conn:
            conn.update({f"CLK{k}": list(controls[0]), f"CE{k}": list(controls[1]), f"RST{k}": list(controls[2])})
            mult.setdefault("port_directions", {}).update({f"CLK{k}": "input", f"CE{k}": "input", f"RST{k}": "input"})
            return k
    return None


def pack_output_registers(module: dict[str, Any]) -> int:
    """Move product registers into their ``MULT18X18D`` blocks (``module`` changed in place);
    returns the number of flip-flops packed."""
    cells = module["cells"]
    loads = _loads(cells)
    port_bits = _port_bits(module)
    packed = 0
    for name in sorted(n for n, c in cells.items() if c["type"] == _MULT):
        mult = cells[name]
        flops = _output_flops(cells, mult, loads, port_bits)
        if flops is None:
            continue
        controls = _controls(cells[next(iter(flops.values()))])  # not None: checked by _output_flops
        slot = None if controls is None else _control_slot(mult, controls)
        if slot is None:
            continue
        mult["parameters"].update(REG_OUTPUT_CLK=f"CLK{slot}", REG_OUTPUT_CE=f"CE{slot}", REG_OUTPUT_RST=f"RST{slot}",
                                  RESETMODE="SYNC")
        for port, ff_name in flops.items():
            mult["connections"][port] = list(cells[ff_name]["connections"]["Q"])
            del cells[ff_name]
            packed += 1
    return packed


def pack_input_registers(module: dict[str, Any]) -> int:
    """Move the operand registers of every ``MULT18X18D`` into its input registers (``module``
    changed in place): an operand whose every non-constant bit is a flip-flop's output, the
    flip-flops sharing a clock, enable and reset the block can hold, reads the flip-flops'
    inputs instead; flip-flops left without loads are removed. Returns the flip-flops removed."""
    cells = module["cells"]
    q_of = {cell["connections"]["Q"][0]: name for name, cell in cells.items()
            if cell["type"] == _FF and isinstance(cell["connections"]["Q"][0], int)}
    used: set[str] = set()
    for name in sorted(n for n, c in cells.items() if c["type"] == _MULT):
        mult = cells[name]
        for side in ("A", "B"):
            pins = [p for p in mult["connections"] if p[0] == side and p[1:].isdigit()]
            flops = {p: q_of.get(mult["connections"][p][0]) for p in pins if isinstance(mult["connections"][p][0], int)}
            if not flops or None in flops.values() or f"REG_INPUT{side}_CLK" in mult["parameters"]:
                continue
            found = {_controls(cells[ff]) for ff in flops.values() if ff is not None}
            shared = found.pop() if len(found) == 1 else None
            if shared is None:
                continue
            slot = _control_slot(mult, shared)
            if slot is None:
                continue
            mult["parameters"].update({f"REG_INPUT{side}_CLK": f"CLK{slot}", f"REG_INPUT{side}_CE": f"CE{slot}",
                                       f"REG_INPUT{side}_RST": f"RST{slot}", "RESETMODE": "SYNC"})
            for pin, ff in flops.items():
                assert ff is not None  # None was ruled out above
                mult["connections"][pin] = list(cells[ff]["connections"]["DI"])
                used.add(ff)
    loads = _loads(cells)
    port_bits = _port_bits(module)
    removed = 0
    for ff in sorted(used):
        q = cells[ff]["connections"]["Q"][0]
        if not loads.get(q) and q not in port_bits:
            del cells[ff]
            removed += 1
    return removed
