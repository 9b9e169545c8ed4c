"""Folding: choose the lanes (SIMD inputs, PE outputs) of every stream to meet a target.

Streams joined by a stage that is not a MatVec (pools, eltwise, tables) or by an edge carry the
same lanes (no width converters), so the free choices are *lane classes*: sets of ports that
must agree. A class may take any common divisor of its streams' channel counts. A stage's cost
is its units' standalone interval (:meth:`~hwaccel.units.base.Unit.image_cycles`, the params'
closed forms) and DSP multipliers (:meth:`~hwaccel.units.base.Unit.dsp_blocks`: the 18 x 18 blocks
Yosys maps its multiplies to, so a ``dsp`` budget is a device's DSP block count).

Targets: ``fps`` (interval <= clock / fps with the fewest multipliers), ``dsp`` or ``luts``
budgets (the smallest interval within the budget, then the fewest multipliers); none given
means ``dsp = DEFAULT_DSP``. Minimising multipliers at a
given bottleneck interval slows every other stage down to it: balanced initiation intervals.
Small spaces are searched exhaustively; large ones by a greedy bottleneck descent.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import Any

from ..errors import CompileError
from .lower_stages import StageSpec

__all__ = ["FoldTarget", "LaneClasses", "choose_lanes"]

EXHAUSTIVE_LIMIT = 50_000
# The budget when no target is given: 80 % of the 156 MULT18X18D blocks of an ECP5-85k. DSP blocks sit
# in a few rows; at 96-99 % of them (150-154 blocks) place and route scattered each unit's multipliers
# over every row and its operand routes set the clock (58-78 MHz on the zoo), as vendors warn.
DEFAULT_DSP = 124


@dataclass(frozen=True)
class FoldTarget:
    """What folding aims at (at most one of ``fps``, ``dsp``, ``luts``)."""

    fps: float | None = None
    dsp: int | None = None
    luts: int | None = None
    clock_mhz: float = 100.0

    def __post_init__(self) -> None:
        given = [k for k in ("fps", "dsp", "luts") if getattr(self, k) is not None]
        if not given:
            object.__setattr__(self, "dsp", DEFAULT_DSP)
        if len(given) > 1:
            raise CompileError(f"give at most one of --target-fps, --dsp, --luts, not {given}")
        for k in given:
            if not getattr(self, k) > 0:
                raise CompileError(f"{k} must be positive, not {getattr(self, k)!r}")
        if not self.clock_mhz > 0:
            raise CompileError(f"clock_mhz must be positive, not {self.clock_mhz!r}")

    def to_dict(self) -> dict:
        return {"fps": self.fps, "dsp": self.dsp, "luts": self.luts, "clock_mhz": self.clock_mhz}


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


def choose_lanes(specs: list[StageSpec], input_stage: str, input_channels: int, target: FoldTarget) -> tuple[dict[str, tuple], int, dict]:
    """Pick lanes; returns the units of every stage (by name), the input lanes, and a summary."""
    classes = LaneClasses(specs, input_stage, input_channels)
    ports = [(classes.of(("in", i, 0)) if s.inputs else 0, classes.of(("out", i))) for i, s in enumerate(specs)]
    cache: dict[tuple[int, int, int], tuple[int, int, int, tuple]] = {}

    def stage_cost(i: int, lanes_in: int, lanes_out: int) -> tuple[int, int, int, tuple]:
        key = (i, lanes_in, lanes_out)
        if key not in cache:
            units = specs[i].build(lanes_in, lanes_out)
            shape = specs[i].shape
            cache[key] = (max(u.image_cycles(shape) for u in units), sum(u.dsp_blocks() for u in units),
                          sum(u.lut_estimate() for u in units), units)
        return cache[key]

    def evaluate(choice: tuple[int, ...]) -> tuple[int, int, int]:
        ii = mults = luts = 0
        for i, (a, b) in enumerate(ports):
            c_ii, c_m, c_l, _ = stage_cost(i, classes.options[a][choice[a]], classes.options[b][choice[b]])
            ii, mults, luts = max(ii, c_ii), mults + c_m, luts + c_l
        return ii, mults, luts

    target_ii = None if target.fps is None else target.clock_mhz * 1e6 / target.fps

    def rank(score: tuple[int, int, int]) -> tuple:
        """Sort key: infeasible last; then the target's objective."""
        ii, mults, luts = score
        if target_ii is not None:
            return (ii > target_ii, mults if ii <= target_ii else ii, ii)
        if target.luts is None:
            dsp = target.dsp if target.dsp is not None else DEFAULT_DSP
            return (mults > dsp, ii if mults <= dsp else mults, mults)
        return (luts > target.luts, ii if luts <= target.luts else luts, mults)

    sizes = [len(o) for o in classes.options]
    if math.prod(sizes) <= EXHAUSTIVE_LIMIT:
        best = min(itertools.product(*[range(n) for n in sizes]), key=lambda c: (rank(evaluate(c)), c))
    else:
        best = _descend(sizes, evaluate, rank)
    ii, mults, luts = evaluate(best)
    if rank((ii, mults, luts))[0]:
        reached = {"fps": f"{target.clock_mhz * 1e6 / ii:.1f} fps", "dsp": f"{mults} multipliers", "luts": f"{luts} LUTs"}
        what = "fps" if target_ii is not None else "luts" if target.luts is not None else "dsp"
        raise CompileError(f"the {what} target {getattr(target, what)!r} cannot be met: the closest folding gives {reached[what]}")
    lanes = [classes.options[k][best[k]] for k in range(len(sizes))]
    units = {s.name: stage_cost(i, lanes[a], lanes[b])[3] for i, (s, (a, b)) in enumerate(zip(specs, ports))}
    summary = {"interval_estimate": ii, "multipliers": mults, "lut_estimate": luts, "target": target.to_dict()}
    return units, lanes[classes.of(("src",))], summary


def _descend(sizes: list[int], evaluate: Any, rank: Any) -> tuple[int, ...]:
    """Greedy: from the fewest lanes, take the single-class step that ranks best until none helps."""
    choice = tuple(0 for _ in sizes)
    while True:
        steps = [choice[:k] + (choice[k] + 1,) + choice[k + 1:] for k in range(len(sizes)) if choice[k] + 1 < sizes[k]]
        better = [c for c in steps if rank(evaluate(c)) < rank(evaluate(choice))]
        if not better:
            return choice
        choice = min(better, key=lambda c: (rank(evaluate(c)), c))
