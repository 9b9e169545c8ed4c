"""Per-unit figures from the params' closed forms: cycles per image, multipliers, memory bits.

``unit_image_cycles`` is the standalone initiation interval of a unit (input always valid, output
always ready): ``total_cycles(n + 1) - total_cycles(n)`` per unit input, times the unit inputs
per image. Multipliers are what ``--dsp`` budgets: the 18 x 18 DSP blocks that Yosys maps the
unit's multiplies to (:func:`products`, :func:`mul_blocks`; a test checks the count against
Yosys): one per live MatVec lane, one per partial product of a requant lane's 17-bit chunks, the
input multipliers of an Add.
``array_lanes`` is the PE x SIMD array a layer's structure uses, the denominator of MAC
utilization; ``scheduled_mac_fraction`` the share of the MACs the schedule performs, the numerator's.
``lut_estimate`` is a rough soft-logic figure used only to honour a ``--luts`` budget.

MatVec figures come from one NumPy pass over the weights (:func:`tile_map`, kept per params
object while it lives): ``fold_lengths`` is the params' ``schedule`` fold by fold and
``live_lane_count`` is ``len(live_lanes)``, the same definitions without the per-lane Python loops.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass
from typing import Any

import numpy as np
from amaranth.hdl import Shape, signed

from ..hw.eltwise import eltwise_products
from ..hw.requant import requant_products
from ..hw.params import (EltwiseAddParams, EltwiseConcatParams, FifoParams, MatVecParams, PoolParams, RequantParams,
                         WindowParams, signed_width)

__all__ = ["TileMap", "tile_map", "fold_lengths", "live_lane_count", "unit_inputs_per_image", "unit_image_cycles",
           "multipliers", "mac_multipliers", "products", "mul_blocks", "dsp_blocks", "DSP_WIDTH", "array_lanes", "scheduled_mac_fraction", "memory_bits", "lut_estimate"]


@dataclass(frozen=True)
class TileMap:
    """Where a MatVec's non-zero weights lie: per ``(output fold, input fold)`` tile and per ``(p, s)`` lane."""

    tiles: np.ndarray  # (output_folds, input_folds) bool
    lanes: np.ndarray  # (pe, simd) bool


_TILE_MAPS: dict[int, tuple[weakref.ref, TileMap]] = {}


def tile_map(params: MatVecParams) -> TileMap:
    """The :class:`TileMap` of ``params`` (computed once per params object)."""
    key = id(params)
    hit = _TILE_MAPS.get(key)
    if hit is not None and hit[0]() is params:
        return hit[1]
    w = np.asarray(params.weights, dtype=np.int64)
    if params.codebook is not None:
        w = np.asarray(params.codebook, dtype=np.int64)[w]
    nz = np.zeros((params.output_folds * params.pe, params.input_folds * params.simd), dtype=bool)
    nz[:params.out_features, :params.in_features] = w != 0
    t = nz.reshape(params.output_folds, params.pe, params.input_folds, params.simd)
    result = TileMap(np.asarray(t.any(axis=(1, 3))), np.asarray(t.any(axis=(0, 2))))

    def forget(_: object) -> None:
        _TILE_MAPS.pop(key, None)

    _TILE_MAPS[key] = (weakref.ref(params, forget), result)
    return result


def fold_lengths(params: MatVecParams) -> tuple[int, ...]:
    """Tiles of each output fold in the schedule: every input fold for fold 0, the non-zero tiles
    (at least one) for the others; ``sum`` is the cycles per vector."""
    live = tile_map(params).tiles[1:].sum(axis=1)
    return (params.input_folds,) + tuple(int(n) or 1 for n in live)


def live_lane_count(params: MatVecParams) -> int:
    """Multipliers a MatVec builds: lanes with a non-zero weight in some tile."""
    return int(tile_map(params).lanes.sum())


def _step(params: Any) -> int:
    """Cycles per unit input in steady state (the closed form's slope; a MatVec's is its schedule length)."""
    if isinstance(params, MatVecParams):
        return sum(fold_lengths(params))
    return params.total_cycles(2) - params.total_cycles(1)


def unit_inputs_per_image(params: Any, shape: tuple[int, int, int]) -> int:
    """Unit inputs (its closed form's unit of ``n_inputs``) per image; ``shape`` is the stage output."""
    h, w, c = shape
    if isinstance(params, WindowParams):
        return 1
    if isinstance(params, (EltwiseAddParams, FifoParams)):
        return h * w * c // params.lanes
    return h * w  # MatVec vectors, Requant pixels, Pool windows, Concat pixels


def unit_image_cycles(params: Any, shape: tuple[int, int, int]) -> int:
    """Standalone cycles between images of a unit in a stage with output ``shape``."""
    if isinstance(params, WindowParams):
        return params.image_cycles
    return _step(params) * unit_inputs_per_image(params, shape)


def mac_multipliers(params: Any) -> int:
    """MAC multipliers a unit builds (MatVec live lanes; 0 otherwise)."""
    return live_lane_count(params) if isinstance(params, MatVecParams) else 0


def _structure(params: MatVecParams, groups: int, channels: int | None) -> np.ndarray:
    """``(output_folds, pe, input_folds, simd)`` mask of the weights the layer's structure has
    (quantization zeros count, the block-diagonal zeros of a grouped convolution do not). Input
    ``k`` is channel ``k % channels`` (window taps are ``channels`` apart)."""
    out, k = params.out_features, params.in_features
    channels = k if channels is None else channels
    o = np.arange(params.output_folds * params.pe)[:, None]
    i = np.arange(params.input_folds * params.simd)[None, :]
    mask = (o < out) & (i < k) & (o * groups // out == (i % channels) * groups // channels)
    return mask.reshape(params.output_folds, params.pe, params.input_folds, params.simd)


def array_lanes(params: MatVecParams, groups: int = 1, channels: int | None = None) -> int:
    """Lanes of the PE x SIMD array that the layer's structure uses: every ``(p, s)`` that meets a
    weight of its output's own group in some tile, whatever the weight's value."""
    return int(_structure(params, groups, channels).any(axis=(0, 2)).sum())


def scheduled_mac_fraction(params: MatVecParams, groups: int = 1, channels: int | None = None) -> float:
    """The share of the layer's MACs that fall in tiles the schedule visits (:func:`fold_lengths`:
    all of output fold 0, the non-zero tiles of the others). The rest are pruned away and take no
    cycle, so they do not count as work done by the array."""
    t = _structure(params, groups, channels)
    visited = tile_map(params).tiles.copy()
    visited[0] = True
    total = int(t.sum())
    return float(t.sum(axis=(1, 3))[visited].sum()) / total if total else 0.0


def multipliers(params: Any) -> int:
    """DSP multipliers (18 x 18) of a unit: what Yosys maps its multiplies to (:func:`dsp_blocks`)."""
    return dsp_blocks(params)


def _multiplying_lanes(params: Any) -> int:
    """Lanes of a unit that multiply (a MatVec's live lanes; three products per Add lane)."""
    if isinstance(params, MatVecParams):
        return live_lane_count(params)
    if isinstance(params, RequantParams):
        return params.lanes
    if isinstance(params, PoolParams):
        return 0 if params.requant is None else params.lanes
    if isinstance(params, EltwiseAddParams):
        return 3 * params.lanes
    if isinstance(params, EltwiseConcatParams):
        return params.lanes
    return 0


DSP_WIDTH = 18  # signed operand width of the DSP multipliers counted (ECP5 MULT18X18D, iCE40 is 16)


def products(params: Any) -> list[tuple[Shape, Shape | int]]:
    """The multiplies a unit builds: ``(a, b)`` operand shapes, ``b`` an ``int`` when constant."""
    if isinstance(params, MatVecParams):
        return [(signed(params.bits_x + 1), signed(params.bits_w))] * live_lane_count(params)
    if isinstance(params, RequantParams):
        return requant_products(signed(params.acc_bits), [list(row) for row in params.entries()])
    if isinstance(params, PoolParams) and params.requant is not None:
        return requant_products(signed(params.sum_bits), [list(row) for row in params.requant.entries()])
    if isinstance(params, (EltwiseAddParams, EltwiseConcatParams)):
        return eltwise_products(params)
    return []


def mul_blocks(a: Shape, b: Shape | int, width: int = DSP_WIDTH) -> int:
    """DSP multipliers of ``width`` x ``width`` signed operands that Yosys maps ``a * b`` to: none
    for a constant 0 or power of two (a shift), otherwise ``ceil(a/width) * ceil(b/width)`` of the
    operand widths as signed (an unsigned operand beside a signed one gains a bit; a constant has
    its shortest width); none for a product narrower than 2 x 2 (Yosys keeps it in logic)."""
    if isinstance(b, int):
        if b == 0 or (b > 0 and b & (b - 1) == 0):
            return 0
        b = Shape(signed_width(b, b), True) if b < 0 or a.signed else Shape(b.bit_length(), False)
    widths = [s.width + int(not s.signed and (a.signed or b.signed)) for s in (a, b)]
    if min(widths) < 2:
        return 0
    return -(-widths[0] // width) * -(-widths[1] // width)


def dsp_blocks(params: Any, width: int = DSP_WIDTH) -> int:
    """DSP multipliers (``width`` x ``width``) a unit needs (:func:`products`, :func:`mul_blocks`)."""
    return sum(mul_blocks(a, b, width) for a, b in products(params))


def memory_bits(params: Any) -> int:
    """On-chip memory bits: line buffers, weight ROMs and input buffers, tables, FIFO storage."""
    if isinstance(params, WindowParams):
        return params.buffer_rows * params.width * params.groups * params.simd * params.bits
    if isinstance(params, MatVecParams):
        rom = sum(fold_lengths(params)) * live_lane_count(params) * params.index_bits
        inbuf = params.input_folds * params.simd * params.bits_x if params.output_folds > 1 else 0
        return rom + inbuf
    rq = params.requant if isinstance(params, (PoolParams, EltwiseAddParams)) else params
    if isinstance(rq, RequantParams) and rq.lut is not None:
        return (rq.hi - rq.lo + 1) * rq.out_bits
    if isinstance(params, FifoParams):
        return params.depth * params.lanes * params.bits
    return 0


def lut_estimate(params: Any) -> int:
    """Rough LUT count of a unit's arithmetic (soft multipliers ~ a*b, adders ~ width)."""
    if isinstance(params, MatVecParams):
        return live_lane_count(params) * ((params.bits_x + 1) * params.bits_w + params.acc_bits)
    rq = params.requant if isinstance(params, (PoolParams, EltwiseAddParams)) else params
    if isinstance(rq, RequantParams):
        mult = max(max(abs(m) for m in rq.multipliers).bit_length(), 1)
        return _multiplying_lanes(params) * (rq.acc_bits * mult // 2 + rq.acc_bits)
    return 0
