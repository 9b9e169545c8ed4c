"""The hardware units without Amaranth: one module per unit with its params, cycles and costs.

Each params class (a :class:`~.base.Unit`) gives the unit's closed-form cycles, its multipliers,
DSP blocks, LUT estimate, memory bits and ASIC counts; :mod:`.registry` maps kind names to the
classes; :mod:`.dataflow` is the graph of units the compiler builds. ``hw/<unit>.py`` generates
the hardware from the same params objects.
"""

from ..fixedpoint import code_range
from .base import AsicCount, Unit
from .common import COPY_GROUP_LANES, DSP_WIDTH, Operand, int_tuple, mul_blocks
from .depth_to_space import DepthToSpaceParams
from .depthwise import DEPTHWISE_LATENCY, DepthwiseParams
from .eltwise import ADD_RESCALE_STAGES, EltwiseAddParams, EltwiseConcatParams
from .fifo import FifoParams
from .matvec import ADDER_LEVELS_PER_STAGE, MatVecParams, adder_tree_stages, fold_lengths, live_lane_count, tile_map
from .pixel_map import PixelMapParams
from .pool import PoolParams
from .queue import queue_credits
from .recurrent import RecurrentParams
from .regroup import RegroupParams
from .registry import UNITS, UNIT_TYPES, params_from_dict, params_to_dict, unit_class
from .requant import REQUANT_LATENCY, RequantEntry, RequantParams
from .upsample import UpsampleParams
from .window import WindowParams

__all__ = [
    "Unit", "AsicCount", "Operand", "code_range", "int_tuple", "mul_blocks", "DSP_WIDTH", "COPY_GROUP_LANES",
    "WindowParams", "MatVecParams", "DepthwiseParams", "DEPTHWISE_LATENCY", "RequantParams", "RequantEntry",
    "PoolParams", "RecurrentParams", "RegroupParams", "PixelMapParams", "DepthToSpaceParams", "UpsampleParams", "EltwiseAddParams", "EltwiseConcatParams", "FifoParams", "ADDER_LEVELS_PER_STAGE", "adder_tree_stages", "ADD_RESCALE_STAGES",
    "REQUANT_LATENCY", "fold_lengths", "live_lane_count", "tile_map", "queue_credits",
    "UNITS", "UNIT_TYPES", "unit_class", "params_to_dict", "params_from_dict",
]
