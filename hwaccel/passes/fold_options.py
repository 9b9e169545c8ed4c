"""The foldings a stage may take: a MatVec's ``(simd, pe)`` worth trying, a Depthwise's lanes, and
the lanes of the requant a MatVec or Depthwise shares (:mod:`.lower_stages` builds the units)."""

from __future__ import annotations

import functools

import numpy as np

from ..units.common import ceil_div

__all__ = ["matvec_folds", "depthwise_folds", "requant_lanes"]


def requant_lanes(channels: int, cycles: int, lanes_out: int) -> int:
    """The lanes of a requant shared by ``channels`` accumulators that arrive every ``cycles``
    cycles: the fewest that keep up (``ceil(channels / lanes) <= cycles``), at most ``lanes_out``."""
    return min(lanes_out, ceil_div(channels, max(cycles, 1)))


def matvec_folds(in_features: int, out_features: int, feed: int) -> list[tuple[int, ...] | None]:
    """The ``(simd, pe)`` a folding search need try for a MatVec whose input arrives in ``feed``
    beats per vector: for dense weights, those no other fold beats in cycles per vector
    (:meth:`~hwaccel.units.matvec.MatVecParams.fed_vector_cycles`), multipliers and Regroups needed.
    Only the least ``simd`` of each input fold count (and ``pe`` of each output fold count) can be
    among them."""
    return list(_pareto_folds(in_features, out_features, feed))


@functools.lru_cache(maxsize=256)
def _pareto_folds(in_features: int, out_features: int, feed: int) -> tuple[tuple[int, int], ...]:
    def least(n: int) -> np.ndarray:
        return np.unique([ceil_div(n, f) for f in range(1, n + 1)])

    s, p = np.meshgrid(least(in_features), least(out_features), indexing="ij")
    s, p = s.reshape(-1), p.reshape(-1)
    folds_in, folds_out = -(-in_features // s), -(-out_features // p)
    cycles = np.maximum(folds_in, feed) + (folds_out - 1) * folds_in
    lanes = s * p
    regroups = (folds_in != feed).astype(np.int64)  # an input Regroup (the output side is ranked by lanes alone)
    # a fold is kept unless one before it (by lanes, then cycles, then Regroups) is no worse in cycles
    # and Regroups: the least cycles before each fold, over all folds and over those without a Regroup
    order = np.lexsort((regroups, cycles, lanes))
    cy, rg = cycles[order], regroups[order]
    never = np.iinfo(np.int64).max

    def least_before(values: np.ndarray) -> np.ndarray:
        return np.concatenate([[never], np.minimum.accumulate(values)[:-1]])
    beaten = np.where(rg == 1, least_before(cy) <= cy, least_before(np.where(rg == 0, cy, never)) <= cy)
    keep = order[~beaten]
    return tuple((int(s[k]), int(p[k])) for k in sorted(keep, key=lambda k: (int(lanes[k]), int(s[k]))))


def depthwise_folds(channels: int, lanes: int) -> list[tuple[int, ...] | None]:
    """The Depthwise lanes worth trying in a stage streaming ``lanes``: the stream's own (``None``, no
    Regroup), and the least lane count of each beat count per tap that needs fewer lanes."""
    least = sorted({ceil_div(channels, g) for g in range(1, channels + 1)})
    return [None] + [(k,) for k in least if k < lanes]
