"""FIFO placement and depths: deadlock-free joins by construction, throughput from an analytic schedule.

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

Throughput (:func:`size_fifos`): an analytic bound, no network simulation
(:func:`hwaccel.perf.schedule.fifo_depths`). Every unit's beat schedule is a max-plus
recurrence over its control (reads, issues, output-queue credits); with the input offering an
image every ``T`` cycles (the slowest stage's own interval) and every stage as early as its
inputs allow, each edge's reads are fixed from the outputs back, and each FIFO gets the least
depth with which its producer, re-run with that FIFO's room bounding its output, still writes
every beat in time. A producer faster than its consumer may stall on a small FIFO; the slowest
stage never does, so the interval stays ``T``. A residual's shortcut holds the longer branch's
latency in beats the same way (the join reads a pair only once both have arrived). Depths are at
least 2, and 3 where a beat is read every cycle (depth 2 passes every other cycle). One
cycle-model run per network checks the result in ``tests/test_passes_size_fifos.py``.
"""

from __future__ import annotations

from dataclasses import replace

from ..perf.schedule import fifo_depths, share_forwards, steady_interval
from ..units.dataflow import INPUT, OUTPUT, Dataflow, Edge, unit_codes
from ..units.fifo import FifoParams

__all__ = ["initial_fifos", "size_fifos", "join_depth"]

MIN_DEPTH = 2
IMAGES = 3  # images of the analytic schedule (the first one's transient, then the steady state)


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


def size_fifos(df: Dataflow, images: int = IMAGES) -> Dataflow:
    """Every FIFO at the depth the analytic schedule needs (joins at least :func:`join_depth`); the
    schedule's steady interval goes into the folding summary (``steady_interval``)."""
    interval = steady_interval(df, images)
    need = fifo_depths(df, images, interval)
    edges = []
    for e in df.edges:
        if e.fifo is not None:
            depth = max(e.fifo.depth, need.get((e.src, e.dst, e.port), MIN_DEPTH))
            e = replace(e, fifo=replace(e.fifo, depth=depth))
        edges.append(e)
    sized = df.replace(edges=tuple(edges), folding={**df.folding, "steady_interval": interval})
    share_forwards(df, sized)
    return sized
