"""Streaming hardware units (Amaranth ``wiring.Component``\\ s with ``amaranth.lib.stream`` ports).

Each unit is built from one frozen params dataclass of :mod:`.params` (pure Python, shared with the
cycle model); :func:`unit_for` maps a params object to its unit.
"""

from __future__ import annotations

from amaranth.lib import wiring

from ..errors import CompileError
from .emit import verilog, write_verilog
from .fifo import StreamFifo
from .matvec import MatVec
from .params import FifoParams, MatVecParams, WindowParams
from .window import SlidingWindow

__all__ = ["SlidingWindow", "MatVec", "StreamFifo", "WindowParams", "MatVecParams", "FifoParams", "unit_for",
           "verilog", "write_verilog", "UNITS"]

UNITS: dict[type, type[wiring.Component]] = {WindowParams: SlidingWindow, MatVecParams: MatVec, FifoParams: StreamFifo}


def unit_for(params: object) -> wiring.Component:
    """The hardware unit that ``params`` describes."""
    unit = UNITS.get(type(params))
    if unit is None:
        raise CompileError(f"params must be one of {sorted(t.__name__ for t in UNITS)}, not {type(params).__name__!r}")
    return unit(params)
