"""FIFO placement and depths: deadlock-free joins by construction, then throughput from the cycle model.

Placement (:func:`initial_fifos`): every edge between stages gets a FIFO; the edges from the
top-level input and into its output are direct unless the input forks.

Joins (Add/Concat inputs) get ``depth >= B + 1`` where ``B`` is the beats one image puts on that
stream. Why this cannot deadlock, whatever the stalls at the top level: a deadlock needs a join
waiting for beat ``k`` of one input (its FIFO empty, so that branch is never blocked at its
output) while the other input's FIFO is full. Full means that branch already produced beat
``k + B``, which belongs to a later image than beat ``k``; a branch produces an image's first
beat only after reading some of that image, and the fork feeds both branches the same beats in
order, so the waiting branch has been given (or holds in its own FIFO) every input beat of beat
``k``'s image, and every unit computes an image's outputs from that image's inputs alone: it
produces beat ``k``. Nested forks and joins repeat the argument per join.

Throughput (:func:`size_fifos`): simulate to the periodic steady state; while the interval
exceeds the slowest unit's standalone interval, double the FIFOs that were full when their
producer had a beat, keeping a change only if the interval improves; then give each deepened
FIFO back its initial depth, or half its extra depth, where that keeps the interval.
"""

from __future__ import annotations

from dataclasses import replace

from ..perf.network import Run, simulate
from ..units.dataflow import INPUT, OUTPUT, Dataflow, Edge, unit_codes
from ..units.fifo import FifoParams

__all__ = ["initial_fifos", "size_fifos", "join_depth"]

MIN_DEPTH = 2
MAX_ROUNDS = 8


def _src_codes(df: Dataflow, src: str) -> tuple[int, int, bool]:
    """``(lanes, bits, signed)`` of the stream leaving ``src``."""
    if src == INPUT:
        return df.input.lanes, df.input.encoding.bits, df.input.encoding.signed
    stage = df.stage(src)
    bits, signed = unit_codes(stage.units[-1])
    return stage.lanes, bits, signed


def join_depth(df: Dataflow, edge: Edge) -> int:
    """``B + 1``: one image of beats on the join input ``edge`` (what its source emits), plus one."""
    return (df.input.beats if edge.src == INPUT else df.stage(edge.src).out_beats) + 1


def initial_fifos(df: Dataflow, edges: tuple[Edge, ...]) -> tuple[Edge, ...]:
    """Edges with their FIFOs placed: minimal depths, joins at :func:`join_depth`."""
    forks = {e.src for e in edges if sum(f.src == e.src for f in edges) > 1}
    out = []
    for e in edges:
        if e.dst == OUTPUT or (e.src == INPUT and e.src not in forks):
            out.append(e)
            continue
        lanes, bits, signed = _src_codes(df, e.src)
        join = df.stage(e.dst).kind in ("add", "concat")
        depth = max(MIN_DEPTH, join_depth(df, e)) if join else MIN_DEPTH
        out.append(replace(e, fifo=FifoParams(depth, lanes, bits, signed)))
    return tuple(out)


def _interval(df: Dataflow) -> tuple[float, Run]:
    """Steady-state cycles per input, and the run that found it."""
    run = simulate(df, None, stop_periodic=True, record_blocking=True)
    assert run.period is not None, "an endless run stops only when periodic"
    return run.period[2] / run.period[1], run


def _depth(df: Dataflow, index: int) -> int:
    fifo = df.edges[index].fifo
    return 0 if fifo is None else fifo.depth


def _with_depth(df: Dataflow, index: int, depth: int) -> Dataflow:
    edges = list(df.edges)
    fifo = edges[index].fifo
    assert fifo is not None
    edges[index] = replace(edges[index], fifo=replace(fifo, depth=depth))
    return df.replace(edges=tuple(edges))


def size_fifos(df: Dataflow) -> Dataflow:
    """Deepen FIFOs while the cycle model says that shortens the steady-state interval, then
    shrink each deepened FIFO back as far as the interval allows."""
    bound = max(u.image_cycles(s.shape) for s in df.stages for u in s.units)
    floors = [_depth(df, k) for k in range(len(df.edges))]
    period, run = _interval(df)
    for _ in range(MAX_ROUNDS):
        blocked = {name for name, cycles in run.fifo_blocked.items() if cycles}
        if period <= bound or not blocked:
            break
        trial = df
        for k, e in enumerate(df.edges):
            if e.fifo is not None and f"fifo:{e.src}->{e.dst}.{e.port}" in blocked:
                trial = _with_depth(trial, k, 2 * e.fifo.depth)
        trial_period, trial_run = _interval(trial)
        if trial_period >= period:
            break
        df, period, run = trial, trial_period, trial_run
    deepened = sorted((k for k in range(len(df.edges)) if _depth(df, k) > floors[k]), key=lambda k: (-_depth(df, k), k))
    for k in deepened:  # largest first: back to the floor, else halve while the interval holds
        depth = _depth(df, k)
        for target in (floors[k], (floors[k] + depth) // 2):
            if target >= depth:
                continue
            trial = _with_depth(df, k, target)
            if _interval(trial)[0] <= period:
                df = trial
                break
    return df
