"""Folding: choose the lanes (SIMD inputs, PE outputs) of every stream to meet a target.

Streams joined by a stage that is not a MatVec (pools, depthwise, tables) or by an edge carry the
same lanes, and so do the two inputs of an Add or Concat (whose output a Regroup may widen or
narrow: a join runs at the lanes its rate needs, not at those of the window after it), so the
stream lanes are chosen per *lane class*: a set of ports that must agree, taking any common
divisor of its streams' channel counts. A conv/dense stage's MatVec is
free of its streams: its ``(simd, pe)`` is any of :func:`~.fold_options.matvec_folds` (a Regroup
converts where they differ from the stream lanes), so a 16-channel 3x3 conv may take 24 x 2
multipliers. A stage's cost is its units' standalone interval
(:meth:`~hwaccel.units.base.Unit.image_cycles`, the params' closed forms; a MatVec's first output
fold waits for its input beats, :meth:`~hwaccel.units.matvec.MatVecParams.fed_vector_cycles`), DSP
multipliers (:meth:`~hwaccel.units.base.Unit.dsp_blocks`: the 18 x 18 blocks Yosys maps its
multiplies to, so a ``dsp`` budget is a device's DSP block count), LUT estimate and MAC multipliers.

Targets: ``fps`` (interval <= clock / fps with the fewest DSP blocks), ``dsp``, ``luts`` or
``multipliers`` budgets (the smallest interval within the budget: DSP blocks, estimated LUTs, or
the MAC multipliers of the MatVecs alone, as systolic-array comparisons count them; then the
fewest DSP blocks, or LUTs for a ``dsp`` budget); none given means ``dsp = DEFAULT_DSP``.
Minimising multipliers at a given bottleneck interval slows every other stage down to it:
balanced initiation intervals.

The search is exact. The fewest multipliers (or LUTs) that keep every stage within an interval
``T`` is a minimum over the lane classes of a sum of per-stage costs, each depending on the
classes a stage reads and writes: :func:`~.fold_search.minimize` solves it by variable
elimination. That minimum never grows with ``T``, so a binary search over the intervals the
stages can take finds the smallest one within the budget. Every cost is the units' own
closed form (the weights are validated once and refolded, see
:meth:`~hwaccel.units.matvec.MatVecParams.refold`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import CompileError
from .fold_search import INFEASIBLE, Factor, minimize
from ..units import MatVecParams
from ..units.common import ceil_div
from .lower_stages import JOINS, StageSpec, conv_front, conv_tail, conv_tail_key

__all__ = ["FoldTarget", "LaneClasses", "choose_lanes"]

# The budget when no target is given: 80 % of the 156 MULT18X18D blocks of an ECP5-85k. DSP blocks sit
# in a few rows; at 96-99 % of them (150-154 blocks) place and route scattered each unit's multipliers
# over every row and its operand routes set the clock (58-78 MHz on the zoo), as vendors warn.
DEFAULT_DSP = 124


@dataclass(frozen=True)
class FoldTarget:
    """What folding aims at (at most one of ``fps``, ``dsp``, ``luts``, ``multipliers``)."""

    fps: float | None = None
    dsp: int | None = None
    luts: int | None = None
    clock_mhz: float = 100.0
    multipliers: int | None = None

    def __post_init__(self) -> None:
        given = [k for k in ("fps", "dsp", "luts", "multipliers") if getattr(self, k) is not None]
        if not given:
            object.__setattr__(self, "dsp", DEFAULT_DSP)
        if len(given) > 1:
            raise CompileError(f"give at most one of --target-fps, --dsp, --luts, --multipliers, not {given}")
        for k in given:
            if not getattr(self, k) > 0:
                raise CompileError(f"{k} must be positive, not {getattr(self, k)!r}")
        if not self.clock_mhz > 0:
            raise CompileError(f"clock_mhz must be positive, not {self.clock_mhz!r}")

    def to_dict(self) -> dict:
        return {"fps": self.fps, "dsp": self.dsp, "luts": self.luts, "multipliers": self.multipliers,
                "clock_mhz": self.clock_mhz}

    @property
    def budget(self) -> tuple[str, int | None]:
        """The budgeted figure (``dsp``, ``luts`` or ``multipliers``; ``dsp`` for an fps target) and its
        limit (None for an fps target)."""
        for name in ("luts", "multipliers", "dsp"):
            if getattr(self, name) is not None:
                return name, getattr(self, name)
        return "dsp", None


class LaneClasses:
    """Union-find over lane variables: ``("src",)``, ``("in", stage, port)``, ``("out", stage)``."""

    def __init__(self, specs: list[StageSpec], input_stage: str, input_channels: int) -> None:
        self.parent: dict[tuple, tuple] = {}
        self.channels: dict[tuple, list[int]] = {("src",): [input_channels]}
        index = {s.name: i for i, s in enumerate(specs)}
        for i, s in enumerate(specs):
            self.channels[("out", i)] = [s.shape[2]]
            for p, x in enumerate(s.inputs):
                self.channels[("in", i, p)] = [x.shape[2]]
                self.union(("in", i, p), ("src",) if x.stage == input_stage else ("out", index[x.stage]))
                if s.passthrough:
                    self.union(("in", i, p), ("out", i))
                elif s.kind in JOINS:  # one unit takes both inputs, beat by beat
                    self.union(("in", i, p), ("in", i, 0))
        roots = sorted({self.find(v) for v in self.channels}, key=repr)
        self.roots = roots
        self.options: list[list[int]] = []
        for r in roots:
            chans = [c for v, cs in self.channels.items() if self.find(v) == r for c in cs]
            g = math.gcd(*chans)
            self.options.append([d for d in range(1, g + 1) if g % d == 0])

    def find(self, v: tuple) -> tuple:
        self.parent.setdefault(v, v)
        while self.parent[v] != v:
            self.parent[v] = self.parent[self.parent[v]]
            v = self.parent[v]
        return v

    def union(self, a: tuple, b: tuple) -> None:
        self.parent[self.find(a)] = self.find(b)

    def of(self, v: tuple) -> int:
        return self.roots.index(self.find(v))


class _Tables:
    """Every stage's interval, DSP blocks, LUTs and MAC multipliers at every option of the classes
    it touches and every MatVec fold worth trying there (axis -1; padding never fits)."""

    def __init__(self, specs: list[StageSpec], classes: LaneClasses) -> None:
        self.specs, self.classes = specs, classes
        self.ports = [(classes.of(("in", i, 0)) if s.inputs else classes.of(("out", i)), classes.of(("out", i)))
                      for i, s in enumerate(specs)]
        self.ii: list[np.ndarray] = []
        self.metrics: dict[str, list[np.ndarray]] = {name: [] for name in METRICS}
        self.folds: list[list[list]] = []  # per stage, per input-lane option: the folds along axis -1
        self._unit_cache: dict[tuple, tuple[int, ...]] = {}
        self._by_unit: dict[tuple[int, int], tuple[Any, tuple[int, ...]]] = {}
        for i, (a, b) in enumerate(self.ports):
            opts_a, opts_b = classes.options[a], classes.options[b]
            outs = [None] if a == b else opts_b
            folds = [specs[i].folds(x) for x in opts_a]
            width = max(len(f) for f in folds)
            figures = np.zeros((len(opts_a), len(outs), width, 1 + len(METRICS)), dtype=np.int64)
            figures[..., 0] = NEVER_FITS
            if specs[i].kind in ("conv", "dense") and a != b:
                self._fill_split(i, opts_a, opts_b, folds, figures)
            else:
                for ia, x in enumerate(opts_a):
                    for ib, y in enumerate(outs):
                        for k, fold in enumerate(folds[ia]):
                            figures[ia, ib, k] = self._sum(i, specs[i].build(x, x if y is None else y, fold), x)
            if a == b:
                figures = figures[:, 0]
            self.folds.append(folds)
            self.ii.append(figures[..., 0])
            for k, name in enumerate(METRICS, 1):
                self.metrics[name].append(figures[..., k])

    def _fill_split(self, i: int, opts_a: list[int], opts_b: list[int], folds: list[list], figures: np.ndarray) -> None:
        """``figures`` of a conv/dense stage from its two independent parts: the units up to the MatVec
        (per input lanes and fold) and the requant's (per fold and output lanes), each computed once."""
        spec = self.specs[i]
        distinct = sorted({f for fs in folds for f in fs})
        index = {f: k for k, f in enumerate(distinct)}
        by_key: dict[tuple[int, int, int], tuple[int, ...]] = {}
        rows = []
        for f in distinct:
            row = []
            for y in opts_b:
                key = conv_tail_key(spec, f, y)
                if key not in by_key:
                    by_key[key] = self._sum(i, conv_tail(spec, f, y), y)
                row.append(by_key[key])
            rows.append(row)
        tails = np.array(rows, dtype=np.int64)
        for ia, x in enumerate(opts_a):
            fronts = np.array([self._sum(i, conv_front(spec, x, f), x) for f in folds[ia]], dtype=np.int64)
            tail = tails[[index[f] for f in folds[ia]]].transpose(1, 0, 2)  # (outs, folds, figures)
            n = len(folds[ia])
            figures[ia, :, :n, 0] = np.maximum(fronts[:, 0], tail[..., 0])
            figures[ia, :, :n, 1:] = fronts[:, 1:] + tail[..., 1:]

    def _sum(self, i: int, units: tuple, lanes_in: int) -> tuple[int, ...]:
        """Interval (the slowest unit's) and metric sums of ``units`` in stage ``i`` fed ``lanes_in`` lanes."""
        spec = self.specs[i]
        parts = [self._unit_figures(i, u) for u in units]
        ii = max(p[0] for p in parts)
        for u in units:
            if isinstance(u, MatVecParams):  # its first output fold waits for the input beats
                key = (i, "fed", u.simd, u.pe, lanes_in)
                if key not in self._unit_cache:
                    feed = ceil_div(u.in_features, lanes_in)
                    self._unit_cache[key] = (u.inputs_per_image(spec.shape) * u.fed_vector_cycles(feed),)
                ii = max(ii, self._unit_cache[key][0])
        return (ii,) + tuple(sum(p[k] for p in parts) for k in range(1, 1 + len(METRICS)))

    def _unit_figures(self, i: int, u: Any) -> tuple[int, ...]:
        """The unit's figures in stage ``i``, by object: the stage builders hand out each distinct
        unit once (the entry holds it, so its ``id`` is not reused)."""
        hit = self._by_unit.get((i, id(u)))
        if hit is None:
            hit = self._by_unit[i, id(u)] = (u, (u.image_cycles(self.specs[i].shape), u.dsp_blocks(), u.lut_estimate(),
                                                 u.mac_multipliers()))
        return hit[1]

    def scope(self, i: int) -> tuple[int, ...]:
        a, b = self.ports[i]
        return (a,) if a == b else (a, b)

    def _packed(self, i: int, interval: float, first: str, second: str) -> np.ndarray:
        return np.where(self.ii[i] <= interval, self.metrics[first][i] * SECONDARY + self.metrics[second][i], INFEASIBLE)

    def solve(self, interval: float, first: str, second: str) -> tuple[int, tuple[int, ...]]:
        """The least ``(first, second)`` metric sums packed as one integer, with every stage within
        ``interval``, and the class options reaching it."""
        factors = [Factor(self.scope(i), self._packed(i, interval, first, second).min(axis=-1)) for i in range(len(self.specs))]
        return minimize([len(o) for o in self.classes.options], factors)

    def chosen(self, choice: tuple[int, ...], interval: float, first: str, second: str) -> list[tuple[Any, dict[str, int]]]:
        """Each stage's fold (None: the stream lanes) and figures under ``choice`` within ``interval``."""
        out = []
        for i in range(len(self.specs)):
            index = tuple(choice[v] for v in self.scope(i))
            k = int(np.argmin(self._packed(i, interval, first, second)[index]))
            figures = {"interval": int(self.ii[i][index][k]), **{m: int(t[i][index][k]) for m, t in self.metrics.items()}}
            out.append((self.folds[i][index[0]][k], figures))
        return out


METRICS = ("dsp", "luts", "multipliers")  # what a stage costs, besides its interval
SECONDARY = 1 << 36  # packs (primary, secondary) costs: secondary sums stay below it
NEVER_FITS = 1 << 62  # the interval of padding entries


def choose_lanes(specs: list[StageSpec], input_stage: str, input_channels: int, target: FoldTarget) -> tuple[dict[str, tuple], int, dict]:
    """Pick lanes; returns the units of every stage (by name), the input lanes, and a summary
    (the interval estimate, DSP blocks, LUT estimate, MAC multipliers, the bottleneck stages and
    why the search stopped there)."""
    classes = LaneClasses(specs, input_stage, input_channels)
    tables = _Tables(specs, classes)
    intervals = np.unique(np.concatenate([t.reshape(-1) for t in tables.ii])) if specs else np.array([0])
    intervals = intervals[intervals < NEVER_FITS]
    first, budget = target.budget
    second = "luts" if first == "dsp" else "dsp"

    def cost(k: int) -> tuple[int, tuple[int, ...]]:
        return tables.solve(float(intervals[k]), first, second)

    def within(packed: int) -> bool:
        return packed < INFEASIBLE and (budget is None or packed // SECONDARY <= budget)

    fastest = _first(len(intervals), lambda k: cost(k)[0] < INFEASIBLE)
    if target.fps is not None:
        limit = target.clock_mhz * 1e6 / target.fps
        k = int(np.searchsorted(intervals, limit, side="right")) - 1
        if k < fastest:
            raise CompileError(f"the fps target {target.fps!r} cannot be met: the closest folding gives "
                               f"{target.clock_mhz * 1e6 / float(intervals[fastest]):.1f} fps")
        least = cost(k)[0] // SECONDARY  # the fewest DSP blocks; then the fastest interval at that
        k = _first(k + 1, lambda j: cost(j)[0] // SECONDARY <= least)
        reason = f"the target interval {limit:,.0f} cycles is met with the fewest DSP blocks"
    else:
        k = _first(len(intervals), lambda j: within(cost(j)[0]))
        if k == len(intervals):
            raise CompileError(f"the {first} target {budget!r} cannot be met: the closest folding gives "
                               f"{cost(len(intervals) - 1)[0] // SECONDARY} {UNITS[first]}")
        reason = _why_stopped(tables, intervals, k, fastest, cost, first, budget)
    choice = cost(k)[1]
    chosen = tables.chosen(choice, float(intervals[k]), first, second)
    figures = [f for _, f in chosen]
    ii = max(f["interval"] for f in figures) if figures else 0
    lanes = [classes.options[c][choice[c]] for c in range(len(classes.options))]
    units = {s.name: s.build(lanes[a], lanes[b], fold) for s, (a, b), (fold, _) in zip(specs, tables.ports, chosen)}
    summary = {"interval_estimate": ii, "multipliers": sum(f["dsp"] for f in figures),
               "mac_multipliers": sum(f["multipliers"] for f in figures), "lut_estimate": sum(f["luts"] for f in figures),
               "target": target.to_dict(), "bottleneck": [s.name for s, f in zip(specs, figures) if f["interval"] == ii],
               "stopped": reason}
    return units, lanes[classes.of(("src",))], summary


UNITS = {"dsp": "multipliers", "luts": "LUTs", "multipliers": "MAC multipliers"}


def _first(n: int, ok) -> int:  # type: ignore[no-untyped-def]
    """The least ``k < n`` with ``ok(k)`` (``ok`` is monotone: false, then true), else ``n``."""
    lo, hi = 0, n
    while lo < hi:
        mid = (lo + hi) // 2
        if ok(mid):
            hi = mid
        else:
            lo = mid + 1
    return lo


def _why_stopped(tables: _Tables, intervals: np.ndarray, k: int, fastest: int, cost, first: str,  # type: ignore[no-untyped-def]
                 budget: int | None) -> str:
    """Why the search chose interval ``intervals[k]``: no folding is faster, or the budget."""
    if k == fastest:
        limits = [int(t.min()) for t in tables.ii]
        slowest = max(range(len(limits)), key=lambda i: limits[i])
        return (f"no folding is faster: {tables.specs[slowest].name} takes {limits[slowest]:,} cycles at its most "
                f"parallel folding")
    faster = cost(k - 1)[0]
    need = faster // SECONDARY if faster < INFEASIBLE else "more"
    return (f"the budget of {budget} {UNITS[first]}: the next faster interval, {int(intervals[k - 1]):,} cycles, "
            f"needs {need}")
