"""Beat schedules without backpressure between stages: when every stage reads and writes each beat.

The analytic counterpart of :mod:`.network` that :mod:`hwaccel.passes.size_fifos` sizes FIFOs
from. The top-level input offers image ``n`` from cycle ``n * T`` on, one beat a cycle (``T``
the slowest unit's standalone interval), the output is always ready and every FIFO between
stages is unbounded (a beat written in cycle ``w`` is readable from ``w + 2`` on, as in
``SyncFIFOBuffered``). Each unit is then a max-plus recurrence over NumPy arrays: a beat issues
in the first cycle that is past the previous issue, its input's arrival and its output queue's
credit (``owed < credits``: output ``k`` issues only after output ``k - credits`` has left),
and leaves ``latency`` cycles after it issued. Units inside a stage are joined directly, so a
slow consumer throttles its producer through these credits: the stage is iterated until the
credit bounds settle. The result per edge is the cycle each beat is written and read; a FIFO
as deep as the most beats it ever holds lets every stage keep this schedule.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Callable

import numpy as np

from ..units import (DepthToSpaceParams, DepthwiseParams, EltwiseAddParams, EltwiseConcatParams, MatVecParams, PoolParams,
                     RecurrentParams, RegroupParams, RequantParams, UpsampleParams, WindowParams, fold_lengths, queue_credits)
from ..errors import CompileError
from ..units.dataflow import INPUT, OUTPUT, Dataflow, Edge

__all__ = ["EdgeTimes", "FirstImage", "bottleneck", "share_forwards", "steady_interval", "expected_cycles", "first_image", "schedule", "fifo_occupancy",
           "fifo_depths", "room_after"]

NEVER = np.int64(-(1 << 40))  # no constraint
SEARCH_SLACK = 8  # FIFO slots below which fifo_depths keeps the occupancy bound rather than search
FIFO_LATENCY = 2  # a beat written to an empty FIFO is readable two cycles later

Times = np.ndarray  # int64 cycle per beat


@dataclass(frozen=True)
class EdgeTimes:
    """One edge's beats: the cycle each is written (its producer's output fires) and read."""

    edge: Edge
    written: Times
    read: Times


def bottleneck(df: Dataflow) -> int:
    """The slowest unit's standalone cycles per image: the interval a well-buffered network reaches."""
    return max(u.image_cycles(s.shape) for s in df.stages for u in s.units)


def steady_interval(df: Dataflow, images: int = 3) -> int:
    """The interval the network reaches when no FIFO limits it: the slowest stage's cycles per
    image in the schedule (inside a stage the units throttle each other through their credits,
    so a stage may take a little longer than its slowest unit alone)."""
    period = bottleneck(df)
    fw = _forward(df, images, period)
    for stage in df.stages:
        ends = fw.produced[stage.name].reshape(images, -1)[:, -1]
        period = max(period, int(ends[-1] - ends[-2]))
    return period


def expected_cycles(df: Dataflow, images: int) -> int:
    """The schedule's estimate of ``images`` inputs back to back: the first image's last output
    beat plus ``images - 1`` steady intervals (a simulation's cycle budget scales this)."""
    period = steady_interval(df)
    fw = _forward(df, 1, period)
    out = next(e.src for e in df.edges if e.dst == OUTPUT)
    return int(fw.produced[out][-1]) + 1 + (images - 1) * period


@dataclass(frozen=True)
class FirstImage:
    """One input alone: the cycle of its first and last output beat (+ 1), each stage's first input
    and output transfer."""

    first_output: int
    cycles: int
    stage_first_in: dict[str, int]
    stage_first_out: dict[str, int]


def first_image(df: Dataflow) -> FirstImage:
    """What the cycle model measures for one input, from the schedule: exact once the FIFOs have
    the depths of :func:`fifo_depths` (they delay no read, and a stage's first and last output beats
    are never held: the first finds its FIFOs empty, the last stage's output is direct), which
    ``tests/test_passes_size_fifos.py`` checks against the cycle model. ``compile`` reports it."""
    fw = _forward(df, 1, 0)  # (one image: the period between images plays no part)
    out = fw.produced[next(e.src for e in df.edges if e.dst == OUTPUT)]
    first_in = {s.name: min(int(fw.reads[e.src, e.dst, e.port][0]) for e in df.edges_into(s.name)) for s in df.stages}
    return FirstImage(int(out[0]), int(out[-1]) + 1, first_in, {s.name: int(fw.produced[s.name][0]) for s in df.stages})


_INDEX = np.arange(1 << 16, dtype=np.int64)  # 0, 1, 2, ... (grown on demand; read-only)
_INDEX.flags.writeable = False


def _index(n: int) -> Times:
    """``np.arange(n)``, a view of one shared array (the schedules ask for it thousands of times)."""
    global _INDEX
    if n > len(_INDEX):
        _INDEX = np.arange(max(n, 2 * len(_INDEX)), dtype=np.int64)
        _INDEX.flags.writeable = False
    return _INDEX[:n]


def _paced(earliest: Times) -> Times:
    """Issue cycles of beats that issue one a cycle at most, each no earlier than ``earliest``."""
    if not len(earliest):
        return earliest
    idx = _index(len(earliest))
    out = earliest - idx
    np.maximum.accumulate(out, out=out)
    out += idx
    return out


def _bound(lb: Times | None, n: int) -> Times:
    return np.full(n, NEVER, dtype=np.int64) if lb is None else lb


def _window(p: Any, a: Times, lb: Times | None, images: int) -> tuple[list[Times], Times]:
    """A SlidingWindow or PixelMap: step ``s`` of the walk starts the cycle after step ``s - 1``'s
    last read or emit (``start[s + 1] = max(start[s] + max(1, reads, emits), C[s])``, ``C`` from the step's inputs
    and bounds: a max-plus recurrence solved by one running maximum); within a step the reads
    and emits are paced from its start."""
    reads, emits = np.tile(np.asarray(p.step_reads, np.int64), images), np.tile(np.asarray(p.step_emits, np.int64), images)
    lb = _bound(lb, images * p.out_beats)
    first_r, first_e = np.cumsum(reads) - reads, np.cumsum(emits) - emits
    gr, ge = _index(len(a)), _index(len(lb))
    late = np.full(len(reads), NEVER, dtype=np.int64)  # per step: the bound on its next start
    for times, g, n, first in ((a, gr, reads, first_r), (lb, ge, emits, first_e)):
        some = n > 0
        if some.any():
            late[some] = np.maximum(late[some], np.maximum.reduceat(times - g, first[some]) + first[some] + n[some])
    steps = np.concatenate([[0], np.cumsum(np.maximum(1, np.maximum(reads, emits)))])
    start = (np.maximum.accumulate(np.concatenate([[0], late - steps[1:]])) + steps)[:-1]

    def paced(times: Times, g: Times, n: Times, first: Times) -> Times:
        floor = np.full(len(times), NEVER, dtype=np.int64)
        some = n > 0
        floor[first[some]] = start[some] - first[some]
        return g + np.maximum.accumulate(np.maximum(times - g, floor)) if len(times) else times
    return [paced(a, gr, reads, first_r)], paced(lb, ge, emits, first_e) + p.latency


def _matvec(p: MatVecParams, a: Times, lb: Times | None, images: int) -> tuple[list[Times], Times]:
    folds = fold_lengths(p)
    n, reads = sum(folds), folds[0]
    vectors = len(a) // reads
    tiles = np.full((vectors, n), NEVER, dtype=np.int64)
    tiles[:, :reads] = a.reshape(vectors, reads)
    last = np.cumsum(folds) - 1
    if lb is not None:
        tiles[:, last] = np.maximum(tiles[:, last], lb.reshape(vectors, len(folds)))
    s = _paced(tiles.reshape(-1)).reshape(vectors, n)
    return [s[:, :reads].reshape(-1)], s[:, last].reshape(-1) + p.latency


def _last_of(per: int, out: int, a: Times, lb: Times | None, latency: int) -> tuple[list[Times], Times]:
    """A unit reading every beat whose every ``per``-th group of ``out`` beats issues an output."""
    earliest = a.copy().reshape(-1, per)
    if lb is not None:
        earliest[:, per - out:] = np.maximum(earliest[:, per - out:], lb.reshape(-1, out))
    s = _paced(earliest.reshape(-1)).reshape(-1, per)
    return [s.reshape(-1)], s[:, per - out:].reshape(-1) + latency


def _pool(p: PoolParams, a: Times, lb: Times | None, images: int) -> tuple[list[Times], Times]:
    return _last_of(p.window * p.groups, p.groups, a, lb, p.latency)


def _depthwise(p: DepthwiseParams, a: Times, lb: Times | None, images: int) -> tuple[list[Times], Times]:
    return _last_of(p.pixel_cycles, p.groups, a, lb, p.latency)


def _pipe(p: Any, a: Times, lb: Times | None, images: int) -> tuple[list[Times], Times]:
    s = _paced(a if lb is None else np.maximum(a, lb))
    return [s], s + p.latency


@lru_cache(maxsize=64)
def _regroup_links(p: RegroupParams, vectors: int) -> tuple[Times, Times, Times]:
    """``(need, waits, made)`` of ``vectors`` vectors: the input beat bringing each output beat's
    last code; the input beats that wait for room, and the output beat after whose load each fits."""
    codes_in = np.concatenate([[0], np.cumsum(np.tile(p.in_counts, vectors))])
    codes_out = np.concatenate([[0], np.cumsum(np.tile(p.out_counts, vectors))])
    need = np.searchsorted(codes_in, codes_out[1:]) - 1
    made = np.searchsorted(codes_out, codes_in[1:] - p.capacity)
    waits = np.nonzero(made > 0)[0]
    return need, waits, made[waits] - 1


def _regroup(p: RegroupParams, a: Times, lb: Times | None, images: int) -> tuple[list[Times], Times]:
    """Input beat ``j`` transfers once it has arrived, after beat ``j - 1`` and once the output
    beats that make room for it have loaded (``valid`` of the last of them); output beat ``k`` is
    valid two cycles after its last input beat, after beat ``k - 1`` and at ``lb`` (``lb`` bounds
    the valid cycle itself: the output register is free the cycle after its beat left). The two
    chains depend on each other: iterated from below to their least solution."""
    need, waits, made = _regroup_links(p, len(a) // p.in_beats)
    room = np.full(len(a), NEVER, dtype=np.int64)
    while True:
        reads = _paced(np.maximum(a, room))
        earliest = reads[need] + p.latency
        valid = _paced(earliest if lb is None else np.maximum(earliest, lb))
        new = valid[made]
        if np.array_equal(new, room[waits]):
            return [reads], valid
        room[waits] = new


def _add(p: EltwiseAddParams, a: Times, b: Times, lb: Times | None) -> tuple[list[Times], Times]:
    s = _paced(np.maximum(a, b) if lb is None else np.maximum(np.maximum(a, b), lb))
    return [s, s], s + p.latency


def _concat(p: EltwiseConcatParams, a: Times, b: Times, lb: Times | None) -> tuple[list[Times], Times]:
    ga, gb = p.groups
    pixels = len(a) // ga
    earliest = np.concatenate([a.reshape(pixels, ga), b.reshape(pixels, gb)], axis=1).reshape(-1)
    s = _paced(earliest if lb is None else np.maximum(earliest, lb)).reshape(pixels, ga + gb)
    return [s[:, :ga].reshape(-1), s[:, ga:].reshape(-1)], s.reshape(-1) + p.latency


def _recurrent(p: RecurrentParams, a: Times, lb: Times | None, images: int) -> tuple[list[Times], Times]:
    """Sequence ``n`` loads one beat a cycle from the cycle its predecessor's last output beat is
    valid on, computes ``compute_cycles`` cycles, then loads its output beats one a cycle into the
    output register (``lb`` bounds their valid cycle, as a regroup's)."""
    reads, valid = np.empty_like(a), np.empty(images * p.out_beats, dtype=np.int64)
    lb = _bound(lb, len(valid))
    start = 0
    for n in range(images):
        ins, outs = slice(n * p.in_beats, (n + 1) * p.in_beats), slice(n * p.out_beats, (n + 1) * p.out_beats)
        reads[ins] = _paced(np.maximum(a[ins], start))
        valid[outs] = _paced(np.maximum(lb[outs], reads[ins.stop - 1] + 2 + p.compute_cycles))
        start = int(valid[outs.stop - 1])
    return [reads], valid


_ONE_PORT: dict[type, Callable[..., tuple[list[Times], Times]]] = {WindowParams: _window, MatVecParams: _matvec, DepthwiseParams: _depthwise, PoolParams: _pool,
             RequantParams: _pipe, RegroupParams: _regroup,
             DepthToSpaceParams: _window, UpsampleParams: _window, RecurrentParams: _recurrent}


def _unit(u: Any, arrivals: list[Times], lb: Times | None, images: int) -> tuple[list[Times], Times]:
    """``(read cycles per input port, output valid cycles)`` of one unit."""
    if isinstance(u, EltwiseAddParams):
        return _add(u, arrivals[0], arrivals[1], lb)
    if isinstance(u, EltwiseConcatParams):
        return _concat(u, arrivals[0], arrivals[1], lb)
    return _ONE_PORT[type(u)](u, arrivals[0], lb, images)


Bounds = list  # per unit of a stage: the earliest cycle of each output beat (None: unbounded)


def _stage(units: tuple, arrivals: list[Times], images: int, accept: Times | None = None,
           start: Bounds | None = None, due: Times | None = None) -> tuple[list[Times], Times, Bounds] | None:
    """The stage's reads per port, output transfer cycles and its units' settled credit bounds;
    ``accept`` is the earliest cycle each output beat can transfer (room in a FIFO after it).

    The bounds are iterated from ``start`` (default: none) to their least fixed point; ``start``
    may be any bounds at or below it, e.g. those of the same stage with a looser ``accept``
    (every iterate stays below the fixed point: the units are monotone). With ``due``, the
    latest cycle each output beat may transfer, an iterate already past it ends the search:
    returns None."""
    bounds: Bounds = list(start) if start is not None else [None] * len(units)
    while True:
        ins, outs, arr = [], [], arrivals
        for u, lb in zip(units, bounds):
            reads, valid = _unit(u, arr, lb, images)
            ins.append(reads)
            outs.append(valid)
            arr = [valid]
        if accept is not None:
            outs[-1] = _paced(np.maximum(outs[-1], accept))
        if due is not None and bool((outs[-1] > due).any()):
            return None
        settled = True
        for k in range(len(units)):
            if k + 1 < len(units):
                taken = ins[k + 1][0]
            elif accept is not None:
                taken = outs[-1]
            else:
                continue
            lb = room_after(taken, _slots(units[k]))
            old = bounds[k]
            new = lb if old is None else np.maximum(old, lb)
            if old is None or not np.array_equal(old, new):
                settled, bounds[k] = False, new
        if settled:
            return ins[0], outs[-1], bounds


def _later_images_shifted(units: tuple, arrivals: list[Times], images: int) -> Bounds | None:
    """Bounds at or below a stage's settled ones (a start for :func:`_stage`): the first image's
    alone, settled, and for each later image the same shifted by the least delay of that image's
    arrivals behind the first's. A stage's bounds settle about one pixel an iteration, every image
    at once; this costs the iterations of one image, and the images after it, which only wait
    longer than the first (an earlier image's beats add constraints, never remove one), settle in
    a few more. Only where the units are shift-invariant: a window whose first step reads (its
    walk starts no earlier than cycle 0, a bound that does not shift). None where it does not apply."""
    if images < 2 or any(isinstance(u, (WindowParams, DepthToSpaceParams, UpsampleParams)) and not u.step_reads[0] for u in units):
        return None
    per = [len(a) // images for a in arrivals]
    first = _stage(units, [a[:n] for a, n in zip(arrivals, per)], 1)
    assert first is not None
    shifts = [min(int((a[k * n:(k + 1) * n] - a[:n]).min()) for a, n in zip(arrivals, per)) for k in range(images)]
    return [None if b is None else np.concatenate([np.where(b == NEVER, NEVER, b + shift) for shift in shifts]) for b in first[2]]


def _slots(u: Any) -> int:
    """Output beats a unit may hold that its consumer has not taken: its queue's credits (a
    regroup or recurrent unit: its output register, whose bound is on the valid cycle, see :func:`_regroup`)."""
    return 1 if isinstance(u, (RegroupParams, RecurrentParams)) else queue_credits(u.latency)


def room_after(taken: Times, slots: int) -> Times:
    """Earliest issue of each beat into a buffer of ``slots`` beats that ``taken`` empties."""
    lb = np.full(len(taken), NEVER, dtype=np.int64)
    if slots < len(taken):
        lb[slots:] = taken[:len(taken) - slots] + 1
    return lb


@dataclass
class _Forward:
    """The as-early-as-possible schedule: every stage's arrivals, reads per input edge and writes."""

    arrivals: dict[str, list[Times]]
    reads: dict[tuple[str, str, int], Times]
    produced: dict[str, Times]
    bounds: dict[str, Bounds]


_FORWARDS: "weakref.WeakKeyDictionary[Dataflow, dict[tuple[int, int], _Forward]]" = weakref.WeakKeyDictionary()


def _forward(df: Dataflow, images: int, period: int) -> _Forward:
    """:func:`_forward_schedule`, remembered per dataflow (its arrays are never written to); one
    image's is the first image of one already known (no beat of it depends on a later image's)."""
    known = _FORWARDS.setdefault(df, {})
    if (images, period) not in known:
        more = [k for k in known if k[0] > 1] if images == 1 else []
        known[images, period] = _first_of(known[more[0]], more[0][0]) if more else _forward_schedule(df, images, period)
    return known[images, period]


def _first_of(fw: _Forward, images: int) -> _Forward:
    """The first image's beats of a forward schedule of ``images`` images."""
    def cut(times: Times) -> Times:
        return times[:len(times) // images]
    return _Forward({k: [cut(a) for a in v] for k, v in fw.arrivals.items()}, {k: cut(v) for k, v in fw.reads.items()},
                    {k: cut(v) for k, v in fw.produced.items()},
                    {k: [None if b is None else cut(b) for b in v] for k, v in fw.bounds.items()})


def share_forwards(df: Dataflow, other: Dataflow) -> None:
    """Let ``other`` use the forward schedules of ``df``: they depend on the stages and on which edges
    have a FIFO (its latency), not on the FIFOs' depths (every FIFO is unbounded in them)."""
    def shape(d: Dataflow) -> tuple:
        return d.stages, d.input, tuple((e.src, e.dst, e.port, e.fifo is None) for e in d.edges)
    if shape(df) != shape(other):
        raise CompileError(f"dataflow {other.name!r} must differ from {df.name!r} in FIFO depths only to share its schedules")
    _FORWARDS[other] = _FORWARDS.setdefault(df, {})


def _forward_schedule(df: Dataflow, images: int, period: int) -> _Forward:
    beats = df.input.beats
    source = (np.arange(images, dtype=np.int64)[:, None] * period + np.arange(beats, dtype=np.int64)).reshape(-1)
    fw = _Forward({}, {}, {INPUT: source}, {})
    for stage in df.stages:
        edges = df.edges_into(stage.name)
        fw.arrivals[stage.name] = [fw.produced[e.src] + (FIFO_LATENCY if e.fifo is not None else 0) for e in edges]
        arrivals = fw.arrivals[stage.name]
        settled = _stage(stage.units, arrivals, images, start=_later_images_shifted(stage.units, arrivals, images))
        assert settled is not None
        taken, fw.produced[stage.name], fw.bounds[stage.name] = settled
        fw.reads.update(((e.src, e.dst, e.port), r) for e, r in zip(edges, taken))
    return fw


def schedule(df: Dataflow, images: int = 3, interval: int | None = None) -> list[EdgeTimes]:
    """Write and read cycles of every beat of ``images`` images on every FIFO edge, every stage as
    early as its inputs allow (its output never blocked).

    The input offers image ``n`` from cycle ``n * interval`` on (default :func:`steady_interval`).
    """
    fw = _forward(df, images, steady_interval(df, images) if interval is None else interval)
    return [EdgeTimes(e, fw.produced[e.src], fw.reads[e.src, e.dst, e.port])
            for e in df.edges if e.fifo is not None and e.dst != OUTPUT]


def _depth_floor(read: Times) -> int:
    """Depth 3 passes a beat every cycle, 2 every other one."""
    return 3 if len(read) > 1 and bool((np.diff(read) < 2).any()) else 2


def _meets(df: Dataflow, fw: _Forward, src: str, images: int, reads: dict, depths: dict[Edge, int],
           start: Bounds | None = None) -> tuple[list[Times], Bounds] | None:
    """The reads and settled bounds of stage ``src`` when its output FIFOs have ``depths`` (no
    reads for the top-level input), or None if a consumer would wait for a beat. ``start``: bounds
    at or below the answer's (those of larger depths; default the unbounded schedule's)."""
    accept = np.full(len(fw.produced[src]), NEVER, dtype=np.int64)
    due = np.full(len(fw.produced[src]), -NEVER, dtype=np.int64)
    for e, d in depths.items():
        accept = np.maximum(accept, room_after(reads[e.src, e.dst, e.port], d))
        due = np.minimum(due, reads[e.src, e.dst, e.port] - FIFO_LATENCY)
    if src == INPUT:
        out = _paced(np.maximum(fw.produced[INPUT], accept))
        return ([], []) if bool((out <= due).all()) else None
    settled = _stage(df.stage(src).units, fw.arrivals[src], images, accept,
                     fw.bounds[src] if start is None else start, due)
    return None if settled is None else (settled[0], settled[2])


def fifo_depths(df: Dataflow, images: int = 3, interval: int | None = None) -> dict[tuple[str, str, int], int]:
    """The least depth of every FIFO edge that delays no consumer's reads in the schedule (at
    least the depth the edge has, e.g. a join's; within :data:`SEARCH_SLACK` of the schedule's
    occupancy bound, that bound).

    From the outputs back: a stage's reads are fixed (its consumers' depths chosen), each of its
    input FIFOs gets the least depth (binary search) with which its producer, re-run with that
    FIFO's room as the bound on its output, still writes every beat in time for those reads (a
    producer's output FIFOs in turn, each search with the depths chosen before it); the
    producer's reads at the chosen depths then fix its own input FIFOs. A producer that is not
    the slowest unit may stall (the FIFO is small); the slowest never does. Depths at least 2,
    and 3 where a beat is read every cycle. Each re-run starts from the bounds of the last depth
    that passed (a smaller depth only delays the producer) and stops as soon as a beat is late.
    """
    fw = _forward(df, images, steady_interval(df, images) if interval is None else interval)
    reads = dict(fw.reads)
    chosen: dict[tuple[str, str, int], int] = {}
    for src in [s.name for s in reversed(df.stages)] + [INPUT]:
        outs = [e for e in df.edges_from(src) if e.fifo is not None and e.dst != OUTPUT]
        if not outs:
            continue
        top = {e: max(_depth_floor(reads[e.src, e.dst, e.port]),
                      fifo_occupancy(EdgeTimes(e, fw.produced[src], reads[e.src, e.dst, e.port])) + 1) for e in outs}
        depths = dict(top)
        passed = _meets(df, fw, src, images, reads, top)
        for e in outs:
            least = e.fifo.depth if e.fifo is not None else 0  # e.g. a join's
            lo, hi = _depth_floor(reads[e.src, e.dst, e.port]), top[e]
            if hi - lo <= SEARCH_SLACK or least >= hi:  # a few slots: not worth the producer's re-runs
                lo = hi
            while lo < hi:
                mid = (lo + hi) // 2
                trial = _meets(df, fw, src, images, reads, {**depths, e: max(mid, least)}, None if passed is None else passed[1])
                if trial is not None:
                    hi, passed = mid, trial
                else:
                    lo = mid + 1
            depths[e] = max(lo, least)
        final = _meets(df, fw, src, images, reads, depths, None if passed is None else passed[1])
        if final is None:  # the branches' bounds together stall it: every branch unbounded
            depths = top
            final = _meets(df, fw, src, images, reads, depths)
        assert final is not None
        for e, d in depths.items():
            chosen[e.src, e.dst, e.port] = d
        if src != INPUT:
            reads.update(((e.src, e.dst, e.port), r) for e, r in zip(df.edges_into(src), final[0]))
    return chosen


def fifo_occupancy(times: EdgeTimes) -> int:
    """The most beats the edge's FIFO holds in the cycle a beat is written (that beat not counted)."""
    written, read = times.written, times.read
    before = np.searchsorted(read, written, side="left")  # beats read before each write's cycle
    return int((np.arange(len(written)) - before).max(initial=0))
