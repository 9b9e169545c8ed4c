"""Exact minimum-cost assignment over small discrete variables (variable elimination).

Folding picks one option per *lane class*; each stage's cost depends on at most two classes (the
lanes it reads and the lanes it writes), so a network is a factor graph of small tables whose
tree width is small (a residual block ties three classes together). Variable elimination
(min-sum, eliminating the variable with the fewest neighbours first) finds the assignment of
least total cost exactly, in time exponential in that width only.

Costs are non-negative ``int64``; :data:`INFEASIBLE` marks an option a constraint rules out and
sums saturate at it. A lexicographic objective (multipliers, then LUTs) is packed into one
integer by the caller.
"""

from __future__ import annotations

import numpy as np

from ..errors import CompileError

__all__ = ["INFEASIBLE", "Factor", "minimize"]

INFEASIBLE = 1 << 60
MAX_TABLE = 4_000_000  # entries of one intermediate table; beyond, the graph is too entangled


class Factor:
    """A cost table over ``scope`` (distinct variable indices, one array axis each)."""

    def __init__(self, scope: tuple[int, ...], table: np.ndarray) -> None:
        if len(set(scope)) != len(scope) or table.ndim != len(scope):
            raise ValueError(f"factor scope {scope} does not match its table of shape {table.shape}")
        self.scope = scope
        self.table = table

    def over(self, scope: tuple[int, ...]) -> np.ndarray:
        """The table broadcast to the axes of ``scope`` (a superset of this factor's scope)."""
        order = sorted(range(len(self.scope)), key=lambda i: scope.index(self.scope[i]))
        t = self.table.transpose(order)
        shape = [1] * len(scope)
        for i in order:
            shape[scope.index(self.scope[i])] = self.table.shape[i]
        return t.reshape(shape)


def _combine(factors: list[Factor], scope: tuple[int, ...]) -> np.ndarray:
    total = np.zeros([1] * len(scope), dtype=np.int64)
    for f in factors:
        total = np.minimum(total + f.over(scope), INFEASIBLE)
    return total


def minimize(sizes: list[int], factors: list[Factor]) -> tuple[int, tuple[int, ...]]:
    """The least total cost and an assignment reaching it (ties: lower option indices first).

    ``sizes[v]`` is the option count of variable ``v``. Returns ``(INFEASIBLE, ...)`` when every
    assignment is ruled out. Raises ``CompileError`` when an intermediate table would exceed
    :data:`MAX_TABLE` entries.
    """
    pending = list(factors)
    remaining = set(range(len(sizes)))
    trail: list[tuple[int, tuple[int, ...], np.ndarray]] = []  # (variable, the others, its argmin over them)
    while remaining:
        def neighbours(v: int) -> set[int]:
            return {u for f in pending if v in f.scope for u in f.scope} - {v}
        v = min(remaining, key=lambda u: (len(neighbours(u)), u))
        touching = [f for f in pending if v in f.scope]
        others = tuple(sorted(neighbours(v)))
        scope = (v,) + others
        entries = int(np.prod([sizes[u] for u in scope]))
        if entries > MAX_TABLE:
            raise CompileError(f"the folding search would need a table of {entries:,} entries: the lane classes "
                               f"of this network are too entangled ({len(others) + 1} classes at once)")
        table = _combine(touching, scope) if touching else np.zeros((sizes[v],), dtype=np.int64)
        table = np.broadcast_to(table, tuple(sizes[u] for u in scope))
        trail.append((v, others, np.argmin(table, axis=0)))
        pending = [f for f in pending if v not in f.scope] + ([Factor(others, table.min(axis=0))] if others else [])
        if not others:
            pending.append(Factor((), np.asarray(table.min(axis=0))))
        remaining.discard(v)
    best = int(_combine(pending, ()).reshape(()))
    choice: dict[int, int] = {}
    for v, others, argmin in reversed(trail):
        choice[v] = int(argmin[tuple(choice[u] for u in others)])
    return best, tuple(choice[v] for v in range(len(sizes)))
