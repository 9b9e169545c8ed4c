"""Fan-out replication of a synthesized netlist (Yosys JSON), before place and route.

nextpnr places and routes the netlist as it is; vendor flows split a net with thousands of loads by
copying its driver (Vivado's ``MAX_FANOUT`` and ``phys_opt_design``, Quartus's ``max_fanout``).
Without it a net such as a MatVec's tile counter or a pipeline stage's valid bit, read by every
lane of the unit, crosses the whole unit from a single driver and sets the clock. This pass
does what those flows do: a net driven by a LUT or flip-flop with more than ``limit`` loads gets
one copy of its driver (same inputs, same parameters) per further ``limit`` loads. The loads are
grouped in the order of their cell names, so that the bits of one register (which sit together)
share a copy. The function of the netlist is unchanged.
"""

from __future__ import annotations

from typing import Any

__all__ = ["replicate_fanout", "DEFAULT_FANOUT_LIMIT"]

DEFAULT_FANOUT_LIMIT = 32


def replicate_fanout(module: dict[str, Any], drivers: dict[str, str], limit: int = DEFAULT_FANOUT_LIMIT) -> int:
    """Split the high-fan-out nets of ``module`` (a Yosys JSON module, changed in place).

    ``drivers`` maps the replicable cell types to their output port (``{"LUT4": "Z", ...}``).
    Returns the number of driver copies added.
    """
    cells = module["cells"]
    loads: dict[int, list[tuple[str, str, int]]] = {}
    driver_of: dict[int, str] = {}
    top_bit = 1
    for name, cell in cells.items():
        for port, bits in cell["connections"].items():
            for k, bit in enumerate(bits):
                if not isinstance(bit, int):
                    continue
                top_bit = max(top_bit, bit)
                if cell.get("port_directions", {}).get(port) == "input":
                    loads.setdefault(bit, []).append((name, port, k))
                elif drivers.get(cell["type"]) == port:
                    driver_of[bit] = name
    port_bits = {b for port in module.get("ports", {}).values() for b in port["bits"] if isinstance(b, int)}
    copies = 0
    for bit, users in sorted(loads.items()):
        source = driver_of.get(bit)
        if source is None or len(users) <= limit or bit in port_bits:
            continue
        users.sort()
        original = cells[source]
        out_port = drivers[original["type"]]
        for group in range(1, -(-len(users) // limit)):
            top_bit += 1
            copy = {**original, "connections": {p: list(b) for p, b in original["connections"].items()}}
            copy["connections"][out_port] = [top_bit]
            cells[f"{source}$fanout{group}"] = copy
            module.setdefault("netnames", {})[f"$fanout{bit}_{group}"] = {"hide_name": 1, "bits": [top_bit],
                                                                         "attributes": {}}
            for name, port, k in users[group * limit:(group + 1) * limit]:
                cells[name]["connections"][port][k] = top_bit
            copies += 1
    return copies
