"""MatVec: a folded matrix-vector product with pruned tiles and lanes, raw accumulators out.

The NumPy figures (:func:`tile_map`, kept per params object while it lives) give the schedule
fold by fold (:func:`fold_lengths`) and the live lanes (:func:`live_lane_count`), the same
definitions as :attr:`MatVecParams.schedule` and :attr:`MatVecParams.live_lanes` without the
per-lane Python loops.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from functools import cached_property
from fractions import Fraction
from typing import Any

import numpy as np

from ..errors import CompileError
from ..fixedpoint import accumulator_bits, bias_terms
from .base import AsicCount, Shape3, Unit
from .common import Operand, Product, ceil_div, check_code, check_int, int_tuple

__all__ = ["ADDER_LEVELS_PER_STAGE", "adder_tree_stages", "MatVecParams", "TileMap", "tile_map", "fold_lengths",
           "live_lane_count"]

ADDER_LEVELS_PER_STAGE = 2  # adder-tree levels between two MatVec pipeline registers


def adder_tree_stages(terms: int) -> int:
    """Register stages of a MatVec adder tree over ``terms`` products: ``ADDER_LEVELS_PER_STAGE``
    pairwise levels a stage, at least one (the sum register)."""
    depth = (max(terms, 1) - 1).bit_length()  # ceil(log2(terms))
    return max(1, ceil_div(depth, ADDER_LEVELS_PER_STAGE))


@dataclass(frozen=True)
class MatVecParams(Unit):
    """MatVec: ``acc[o] = bias[o] + sum_k (x[k] - x_zero_point) * w[o][k]``, raw accumulators out.

    Input: ``in_features`` codes in ``input_folds = ceil(in_features / simd)`` beats of ``simd``
    lanes (lanes past ``in_features`` in the last beat are ignored). Output: ``output_folds =
    ceil(out_features / pe)`` beats of ``pe`` signed ``acc_bits`` lanes (lanes past
    ``out_features`` are 0). One input is one vector.

    ``weights`` (``out_features x in_features``) are signed ``bits_w`` codes, or with a
    ``codebook`` indices into it (weight sharing). A *tile* is the ``pe x simd`` block of output
    fold ``nf`` and input fold ``sf``. Pruning: a lane position ``(p, s)`` whose weight is zero in
    every tile gets no multiplier, and a tile of zeros takes no cycle except in output fold 0,
    which reads the input (see :attr:`schedule`); dense weights take ``output_folds * input_folds``
    cycles per vector.
    """

    unit_kind = "matvec"
    stored_fields = ("weights",)

    in_features: int
    out_features: int
    weights: tuple
    bias: Any = None  # stored as a tuple of ``out_features`` int32 codes (zeros when ``None``)
    pe: int = 1
    simd: int = 1
    bits_x: int = 8
    signed_x: bool = False
    x_zero_point: int = 0
    bits_w: int = 8
    codebook: tuple | None = None

    def __post_init__(self) -> None:
        check_int(self.in_features, "in_features", 1)
        check_int(self.out_features, "out_features", 1)
        check_int(self.pe, "pe", 1, self.out_features)
        check_int(self.simd, "simd", 1, self.in_features)
        check_int(self.bits_x, "bits_x", 2, 16)
        check_int(self.bits_w, "bits_w", 2, 16)
        check_code(self.x_zero_point, "x_zero_point", self.bits_x, self.signed_x)
        weights = int_tuple(self.weights, "weights", 2)
        if np.shape(weights) != (self.out_features, self.in_features):
            raise CompileError(f"weights must have shape {(self.out_features, self.in_features)}, not {np.shape(weights)!r}")
        object.__setattr__(self, "weights", weights)
        bias = (0,) * self.out_features if self.bias is None else int_tuple(self.bias, "bias")
        if len(bias) != self.out_features or any(not -(1 << 31) <= b < 1 << 31 for b in bias):
            raise CompileError(f"bias must be {self.out_features} int32 codes, not {self.bias!r}")
        object.__setattr__(self, "bias", bias)
        if self.codebook is not None:
            codebook = int_tuple(self.codebook, "codebook")
            if not codebook:
                raise CompileError(f"codebook must not be empty, not {self.codebook!r}")
            for v in codebook:
                check_code(v, "codebook entry", self.bits_w, True)
            object.__setattr__(self, "codebook", codebook)
            bad = [w for row in weights for w in row if not 0 <= w < len(codebook)]
            if bad:
                raise CompileError(f"weight indices must be in [0, {len(codebook) - 1}], not {bad[0]!r}")
        else:
            for row in weights:
                for w in row:
                    check_code(w, "weight", self.bits_w, True)

    def __getstate__(self) -> dict:
        """Pickled without the folding caches (a search fills them for hundreds of foldings)."""
        return {k: v for k, v in self.__dict__.items() if k != "_tile_maps"}

    def refold(self, pe: int, simd: int) -> "MatVecParams":
        """This MatVec with other lanes: the weights, validated once, are shared (folding searches
        try many foldings of one layer)."""
        check_int(pe, "pe", 1, self.out_features)
        check_int(simd, "simd", 1, self.in_features)
        _nonzero(self)  # computed once here and shared by every copy, as are acc_bits and the tile maps
        _ = self.acc_bits
        other = copy.copy(self)
        other.__dict__["_tile_maps"] = _cache(self)  # (copy drops it with __getstate__)
        object.__setattr__(other, "pe", pe)
        object.__setattr__(other, "simd", simd)
        return other

    @property
    def weight_values(self) -> tuple[tuple[int, ...], ...]:
        """The weight codes (codebook entries looked up)."""
        if self.codebook is None:
            return self.weights
        return tuple(tuple(self.codebook[i] for i in row) for row in self.weights)

    @property
    def stored_codebook(self) -> tuple[int, ...] | None:
        """The codebook the hardware holds: ``codebook``, plus a 0 entry when it has none (for
        the lanes past the matrix edge)."""
        if self.codebook is None or 0 in self.codebook:
            return self.codebook
        return self.codebook + (0,)

    @property
    def index_bits(self) -> int:
        """Bits of a stored weight: ``bits_w``, or the codebook index width."""
        book = self.stored_codebook
        return self.bits_w if book is None else max(1, (len(book) - 1).bit_length())

    def tile_stored(self, nf: int, sf: int, p: int, s: int) -> int:
        """What the weight ROM holds for lane ``(p, s)`` of tile ``(nf, sf)``: the code or codebook
        index; past the matrix edge the code 0 (or the index of the entry 0)."""
        o, k = nf * self.pe + p, sf * self.simd + s
        return self.weights[o][k] if o < self.out_features and k < self.in_features else self.stored_zero

    @property
    def stored_zero(self) -> int:
        """What the weight ROM holds for the weight 0: the code 0, or the index of the codebook's 0 entry."""
        return 0 if self.stored_codebook is None else self.stored_codebook.index(0)

    def stored_tiles(self) -> np.ndarray:
        """What the weight ROM holds, a row per tile of the :attr:`schedule` and a column per live
        lane (:attr:`live_lanes`): :meth:`tile_stored` of them all."""
        full = np.full((self.output_folds * self.pe, self.input_folds * self.simd), self.stored_zero, dtype=np.int64)
        full[:self.out_features, :self.in_features] = np.asarray(self.weights, dtype=np.int64)
        tiles, lanes = (np.array(v, dtype=np.int64).reshape(-1, 2) for v in (self.schedule, self.live_lanes))
        return full[tiles[:, :1] * self.pe + lanes[:, 0], tiles[:, 1:] * self.simd + lanes[:, 1]]

    @cached_property
    def acc_bits(self) -> int:
        """The contract width for ``in_features`` products plus the bias (``fixedpoint.accumulator_bits``)."""
        terms = self.in_features + bias_terms(np.array(self.bias, dtype=np.int64), self.bits_x, self.bits_w)
        return accumulator_bits(self.bits_x, self.bits_w, terms)

    @property
    def input_folds(self) -> int:
        return ceil_div(self.in_features, self.simd)

    @property
    def output_folds(self) -> int:
        return ceil_div(self.out_features, self.pe)

    def tile_weight(self, nf: int, sf: int, p: int, s: int) -> int:
        """Weight code at lane ``(p, s)`` of tile ``(nf, sf)``; 0 past the matrix edge."""
        o, k = nf * self.pe + p, sf * self.simd + s
        return self.weight_values[o][k] if o < self.out_features and k < self.in_features else 0

    @property
    def schedule(self) -> tuple[tuple[int, int], ...]:
        """The ``(nf, sf)`` tiles computed per vector, one a cycle.

        Output fold 0 takes every input fold (it reads the input beats); a later fold takes its
        non-zero tiles only, at least one (a fold of zeros still emits its bias).
        """
        cache = _cache(self)
        key = ("schedule", self.pe, self.simd)
        if key not in cache:
            tiles = tile_map(self).tiles
            steps = [(0, sf) for sf in range(self.input_folds)]
            for nf in range(1, self.output_folds):
                steps += [(nf, int(sf)) for sf in np.flatnonzero(tiles[nf])] or [(nf, 0)]
            cache[key] = tuple(steps)
        return cache[key]  # type: ignore[no-any-return]

    @property
    def live_lanes(self) -> tuple[tuple[int, int], ...]:
        """Lane positions ``(p, s)`` with a non-zero weight in some tile: the multipliers built."""
        return tuple((int(p), int(s)) for p, s in zip(*np.nonzero(tile_map(self).lanes)))

    @property
    def vector_cycles(self) -> int:
        """Cycles per vector: ``len(schedule)``."""
        return len(self.schedule)

    def fed_vector_cycles(self, feed: int) -> int:
        """Cycles per vector when its input arrives in ``feed`` beats, one a cycle (a Regroup from
        narrower stream lanes): output fold 0 reads the input folds as they come, so it takes
        ``max(input_folds, feed)`` cycles, the other folds their tiles (:func:`fold_lengths`)."""
        return sum(fold_lengths(self)) + max(0, feed - self.input_folds)

    # -- the Unit interface ----------------------------------------------------------------------

    @property
    def in_lanes(self) -> int:
        return self.simd

    @property
    def out_lanes(self) -> int:
        return self.pe

    @property
    def out_codes(self) -> tuple[int, bool]:
        """Signed ``acc_bits`` accumulators."""
        return self.acc_bits, True

    def beat_ratio(self) -> Fraction:
        return Fraction(self.output_folds, self.input_folds)

    @property
    def latency(self) -> int:
        """Issue -> input beat and buffer read -> their registers, ROM addresses -> input choice, ROM
        read -> input copies, ROM read registers -> offset/weight -> product -> product copy -> adder
        tree stages -> accumulator -> output."""
        return 9 + adder_tree_stages(self.simd)

    @property
    def first_output_cycles(self) -> int:
        return self.input_folds - 1 + self.latency

    def total_cycles(self, n_inputs: int) -> int:
        check_int(n_inputs, "n_inputs", 1)
        return n_inputs * self.vector_cycles + self.latency

    def input_cycles(self) -> int:
        """:attr:`vector_cycles`, from the tile map."""
        return sum(fold_lengths(self))

    def products(self) -> list[Product]:
        """One ``(bits_x + 1) x bits_w`` signed multiply per live lane."""
        return [(Operand(self.bits_x + 1, True), Operand(self.bits_w, True))] * self.mac_multipliers()

    def mac_multipliers(self) -> int:
        return live_lane_count(self)

    def multiplying_lanes(self) -> int:
        return live_lane_count(self)

    def weight_bits(self) -> int:
        """The weight ROM: one stored weight per live lane and schedule step."""
        return self.input_cycles() * live_lane_count(self) * self.index_bits

    def memory_bits(self) -> int:
        """The weight ROM and, with several output folds, the input buffer."""
        return self.weight_bits() + (self.input_folds * self.simd * self.bits_x if self.output_folds > 1 else 0)

    def lut_estimate(self) -> int:
        return live_lane_count(self) * ((self.bits_x + 1) * self.bits_w + self.acc_bits)

    def asic_counts(self, shape: Shape3, macs: int) -> list[AsicCount]:
        """``macs`` multiplies of ``(bits_x + 1) x bits_w`` bits and additions of ``acc_bits`` bits
        (adder tree + accumulator: one per product); the weight ROM read once per step; the input
        buffer (``output_folds > 1``) written once per input and read once per step; operand,
        tree and accumulator registers."""
        h, w, _ = shape
        pixels, lanes, rom = h * w, live_lane_count(self), self.weight_bits()
        steps = pixels * self.input_cycles()
        counts = [AsicCount("multiply", "mult", (self.bits_x + 1, self.bits_w), macs, lanes),
                  AsicCount("accumulate", "add", (self.acc_bits,), macs, lanes),
                  AsicCount("weight_memory", "mem", (rom,), pixels * rom)]
        if self.output_folds > 1:
            word = self.simd * self.bits_x
            counts.append(AsicCount("activation_memory", "mem", (self.input_folds * word,),
                                    pixels * self.input_folds * word + steps * word))
        written = self.simd * self.bits_x + 2 * self.pe * self.acc_bits  # operands, tree sums, accumulators (every step)
        return counts + [AsicCount("registers", "reg", (written,), steps),
                         AsicCount("registers", "reg", (self.pe * self.acc_bits,), pixels * self.output_folds)]

    # -- MAC utilization -----------------------------------------------------------------------

    def _structure(self, groups: int, channels: int | None) -> np.ndarray:
        """``(output_folds, pe, input_folds, simd)`` mask of the weights the layer's structure has
        (quantization zeros count, the block-diagonal zeros of a grouped convolution do not). Input
        ``k`` is channel ``k % channels`` (window taps are ``channels`` apart)."""
        out, k = self.out_features, self.in_features
        channels = k if channels is None else channels
        o = np.arange(self.output_folds * self.pe)[:, None]
        i = np.arange(self.input_folds * self.simd)[None, :]
        mask = (o < out) & (i < k) & (o * groups // out == (i % channels) * groups // channels)
        return mask.reshape(self.output_folds, self.pe, self.input_folds, self.simd)

    def array_lanes(self, groups: int = 1, channels: int | None = None) -> int:
        """Lanes of the PE x SIMD array that the layer's structure uses: every ``(p, s)`` that meets a
        weight of its output's own group in some tile, whatever the weight's value."""
        return int(self._structure(groups, channels).any(axis=(0, 2)).sum())

    def scheduled_mac_fraction(self, groups: int = 1, channels: int | None = None) -> float:
        """The share of the layer's MACs that fall in tiles the schedule visits (:func:`fold_lengths`:
        all of output fold 0, the non-zero tiles of the others). The rest are pruned away and take no
        cycle, so they do not count as work done by the array."""
        t = self._structure(groups, channels)
        visited = tile_map(self).tiles.copy()
        visited[0] = True
        total = int(t.sum())
        return float(t.sum(axis=(1, 3))[visited].sum()) / total if total else 0.0


@dataclass(frozen=True)
class TileMap:
    """Where a MatVec's non-zero weights lie: per ``(output fold, input fold)`` tile and per ``(p, s)`` lane."""

    tiles: np.ndarray  # (output_folds, input_folds) bool
    lanes: np.ndarray  # (pe, simd) bool


def _cache(params: MatVecParams) -> dict:
    """The folding-keyed cache of ``params``: one dict on the object, shared by its
    :meth:`~MatVecParams.refold` copies (same weights); not pickled (see ``__getstate__``)."""
    return params.__dict__.setdefault("_tile_maps", {})  # type: ignore[no-any-return]


def tile_map(params: MatVecParams) -> TileMap:
    """The :class:`TileMap` of ``params`` (computed once per weights and folding)."""
    cache = _cache(params)
    key = (params.pe, params.simd)
    if key not in cache:
        cache[key] = _fold_tile_map(params)
    return cache[key]  # type: ignore[no-any-return]


def _fold_tile_map(params: MatVecParams) -> TileMap:
    """Tiles from a summed-area table of the non-zero weights (a tile's count is four lookups, so a
    folding costs its tile count, not the matrix size); lanes by reducing the folds away."""
    pe, simd, out, k = params.pe, params.simd, params.out_features, params.in_features
    area = _nonzero_area(params)
    rows = np.minimum(np.arange(params.output_folds + 1) * pe, out)
    cols = np.minimum(np.arange(params.input_folds + 1) * simd, k)
    corner = area[rows][:, cols]
    tiles = (corner[1:, 1:] - corner[:-1, 1:] - corner[1:, :-1] + corner[:-1, :-1]) > 0
    nz = np.zeros((params.output_folds * pe, params.input_folds * simd), dtype=bool)
    nz[:out, :k] = _nonzero(params)
    lanes = nz.reshape(params.output_folds, pe, params.input_folds * simd).any(axis=0)
    return TileMap(tiles, np.asarray(lanes.reshape(pe, params.input_folds, simd).any(axis=1)))


def _nonzero_area(params: MatVecParams) -> np.ndarray:
    """``area[r, c]``: non-zero weights in rows ``< r`` and columns ``< c`` (shared like :func:`_nonzero`)."""
    cache = _cache(params)
    if "area" not in cache:
        area = np.zeros((params.out_features + 1, params.in_features + 1), dtype=np.int64)
        area[1:, 1:] = _nonzero(params).cumsum(axis=0).cumsum(axis=1)
        cache["area"] = area
    return cache["area"]  # type: ignore[no-any-return]


def _nonzero(params: MatVecParams) -> np.ndarray:
    """Where the weight values are non-zero; kept on the params object and shared by its
    :meth:`~MatVecParams.refold` copies (the weights are the same tuple)."""
    cached = params.__dict__.get("_nonzero")
    if cached is not None and cached[0] is params.weights:
        return cached[1]
    w = np.asarray(params.weights, dtype=np.int64)
    if params.codebook is not None:
        w = np.asarray(params.codebook, dtype=np.int64)[w]
    mask = w != 0
    object.__setattr__(params, "_nonzero", (params.weights, mask))
    return mask


def fold_lengths(params: MatVecParams) -> tuple[int, ...]:
    """Tiles of each output fold in the schedule: every input fold for fold 0, the non-zero tiles
    (at least one) for the others; ``sum`` is the cycles per vector."""
    cache = _cache(params)
    key = ("lengths", params.pe, params.simd)
    if key not in cache:
        live = tile_map(params).tiles[1:].sum(axis=1)
        cache[key] = (params.input_folds,) + tuple(int(n) or 1 for n in live)
    return cache[key]  # type: ignore[no-any-return]


def live_lane_count(params: MatVecParams) -> int:
    """Multipliers a MatVec builds: lanes with a non-zero weight in some tile."""
    return int(tile_map(params).lanes.sum())
