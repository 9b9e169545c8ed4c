"""Streaming hardware units (Amaranth ``wiring.Component``\\ s with ``amaranth.lib.stream`` ports).

Each unit is built from one frozen params dataclass of :mod:`hwaccel.units` (pure Python, shared with
the cycle model); :data:`UNITS` maps a params type to its generator and :func:`unit_for` a params
object to its unit.
"""

from __future__ import annotations

from amaranth.lib import wiring

from ..errors import CompileError
from .depthwise import Depthwise
from .eltwise import EltwiseAdd, EltwiseConcat
from .emit import verilog, write_verilog
from .fifo import StreamFifo
from .matvec import MatVec
from ..units import (DepthToSpaceParams, DepthwiseParams, EltwiseAddParams, EltwiseConcatParams, FifoParams, MatVecParams,
                     PoolParams, RecurrentParams, RegroupParams, RequantParams, UpsampleParams, WindowParams)
from .pixel_map import PixelMap
from .pool import Pool
from .recurrent import Recurrent
from .regroup import Regroup
from .requant import Requant
from .window import SlidingWindow

__all__ = ["SlidingWindow", "MatVec", "Depthwise", "StreamFifo", "Requant", "Pool", "EltwiseAdd", "EltwiseConcat", "Regroup", "PixelMap", "Recurrent",
           "WindowParams", "MatVecParams", "DepthwiseParams", "FifoParams", "RequantParams", "PoolParams", "EltwiseAddParams",
           "EltwiseConcatParams", "RegroupParams", "unit_for", "verilog", "write_verilog", "UNITS"]

UNITS: dict[type, type[wiring.Component]] = {
    WindowParams: SlidingWindow, MatVecParams: MatVec, DepthwiseParams: Depthwise, FifoParams: StreamFifo, RequantParams: Requant,
    PoolParams: Pool, EltwiseAddParams: EltwiseAdd, EltwiseConcatParams: EltwiseConcat, RegroupParams: Regroup,
    DepthToSpaceParams: PixelMap, UpsampleParams: PixelMap, RecurrentParams: Recurrent,
}


def unit_for(params: object) -> wiring.Component:
    """The hardware unit that ``params`` describes."""
    unit = UNITS.get(type(params))
    if unit is None:
        raise CompileError(f"params must be one of {sorted(t.__name__ for t in UNITS)}, not {type(params).__name__!r}")
    return unit(params)
