"""The CPU engine's worker processes: a grid of forked copies of an engine, one per (shard, stage).

Shard ``k`` of a batch (data parallelism) streams its chunks through the pipeline stages (model
parallelism); every (shard, stage) pair but the first runs in a process of its own, forked when
the engine is built, the caller running shard 0's first stage (:class:`StageGrid`). The caller
sends shard ``k``'s chunks to its first stage in one request; each stage hands every chunk on to
the next through an :class:`Edge`, with only the values later stages read; the last stage replies
with the shard's outputs.

Arrays travel through memory files that both ends map (:class:`SharedArrays`, Linux ``memfd``
created before the forks), so pipes carry only their layout: pickled through a pipe, a 128 KiB
input blocked the sender until the receiver woke up and read it in pipe-sized pieces. Without
``memfd`` (or for object arrays) the arrays are pickled through the pipe.

Every wait is spin-then-block (as GNU OpenMP's idle threads do, ``GOMP_SPINCOUNT``): the pipe is
polled for up to :data:`SPIN_SECONDS` before the process sleeps in the kernel. Waking a sleeping
process took about 100 us per message on the measuring host (a VM whose idle cores halt), and a
two-shard run of the zoo CNN at batch 1024 lasts about 1 ms: spinning took its 1-to-2-core scaling
from 1.36x to 1.58x.
"""

from __future__ import annotations

import mmap
import multiprocessing
import os
import pickle
import time
from typing import Any, Protocol, Sequence

import numpy as np

from ..errors import HwaccelError

__all__ = ["StageGrid", "SharedArrays", "Edge", "live_values", "SPIN_SECONDS"]

Feeds = dict[str, np.ndarray]
Layout = list[list[tuple[str, str, tuple[int, ...], int]]]  # per table: (name, dtype, shape, byte offset)


class StageEngine(Protocol):
    """What the grid uses of :class:`hwaccel.ref.cpu.CpuEngine`, which owns the grid (a protocol,
    so that this module does not import the engine's)."""

    @property
    def graph(self) -> Any: ...

    @property
    def stages(self) -> Sequence[Any]: ...

    def _run_lanes(self, lanes: list[list[Feeds]]) -> list[list[Feeds]]: ...

    def _run_chunk(self, env: Feeds, stages: range) -> Feeds: ...

    def _outputs(self, env: Feeds) -> Feeds: ...


_ALIGN = 64  # a cache line: every array starts on one
_MIN_FILE = 1 << 20
SPIN_SECONDS = 0.002  # how long a waiting end polls before it sleeps: about two runs of a batch of 1024


def _spin(conn: Any, seconds: float) -> None:
    """Poll ``conn`` until it has a message or ``seconds`` have passed (then the caller's ``recv`` sleeps)."""
    if seconds > 0:
        deadline = time.perf_counter() + seconds
        while not conn.poll(0) and time.perf_counter() < deadline:
            pass


def _sendable(exc: BaseException) -> BaseException:
    """``exc`` when it pickles (the caller then raises what golden raises), else its text as an HwaccelError."""
    try:
        pickle.dumps(exc)
        return exc
    except Exception:
        return HwaccelError(f"{type(exc).__name__}: {exc}")


def _messages(chunks: list[Feeds]) -> Any:
    """A first stage's chunks as the ``(kind, index, count, value)`` messages later stages receive."""
    return (("tables", i, len(chunks), env) for i, env in enumerate(chunks))


class SharedArrays:
    """Tables of arrays written into, and read back from, a memory file shared with forked children."""

    def __init__(self) -> None:
        self.fd = os.memfd_create("hwaccel-cpu", os.MFD_CLOEXEC)
        self.map: mmap.mmap | None = None

    @staticmethod
    def available() -> bool:
        return hasattr(os, "memfd_create")

    @staticmethod
    def fits(tables: list[Feeds]) -> bool:
        """Whether every array is plain data (object arrays are pickled instead)."""
        return not any(np.asarray(a).dtype.hasobject for table in tables for a in table.values())

    def _mapped(self, size: int) -> mmap.mmap:
        """A map of at least ``size`` bytes, growing the file when it is shorter (by either process)."""
        length = os.fstat(self.fd).st_size
        if length < size:
            length = max(_MIN_FILE, 1 << (size - 1).bit_length())
            os.ftruncate(self.fd, length)
        if self.map is None or len(self.map) < length:
            self.map = mmap.mmap(self.fd, length)  # views of the old map keep it alive until dropped
        return self.map

    def put(self, tables: list[Feeds], start: int = 0) -> tuple[Layout, int]:
        """Write ``tables`` from byte ``start``; returns their layout and the first byte after them."""
        arrays = [[(name, np.asarray(a)) for name, a in table.items()] for table in tables]
        layout: Layout = []
        end = start
        for table in arrays:
            entries = []
            for name, a in table:
                offset = -(-end // _ALIGN) * _ALIGN
                entries.append((name, a.dtype.str, a.shape, offset))
                end = offset + a.nbytes
            layout.append(entries)
        buffer = self._mapped(max(end, 1))
        for table, entries in zip(arrays, layout):
            for (_, a), (_, dtype, shape, offset) in zip(table, entries):
                np.ndarray(shape, dtype, buffer, offset)[...] = a
        return layout, end

    def get(self, layout: Layout, copy: bool) -> list[Feeds]:
        """The tables of ``layout``: copies, or views valid until the next :meth:`put`."""
        end = max((offset + np.dtype(dtype).itemsize * int(np.prod(shape)) for table in layout
                   for _, dtype, shape, offset in table), default=1)
        buffer = self._mapped(max(end, 1))
        tables = [{name: np.ndarray(shape, dtype, buffer, offset) for name, dtype, shape, offset in table} for table in layout]
        return [{name: a.copy() for name, a in table.items()} for table in tables] if copy else tables

    def close(self) -> None:
        self.map = None
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


class _Channel:
    """A pipe with a shared file: one message of whole tables at a time (requests and replies)."""

    def __init__(self, shared: bool, spin: float) -> None:
        self.sender, self.receiver = multiprocessing.get_context("fork").Pipe()
        self.shared = SharedArrays() if shared else None
        self.spin = spin

    def send(self, kind: str, value: Any) -> None:
        """Send ``("tables", list of tables)``, ``("error", exception)`` or ``("stop", None)``."""
        if kind == "tables" and self.shared is not None and SharedArrays.fits(value):
            kind, value = "shared", self.shared.put(value)[0]
        self.sender.send((kind, value))

    def receive(self, copy: bool) -> tuple[str, Any]:
        """The next message, its tables as copies or as views valid until the next send."""
        _spin(self.receiver, self.spin)
        kind, value = self.receiver.recv()
        if kind == "shared":
            assert self.shared is not None
            return "tables", self.shared.get(value, copy)
        return kind, value

    def close(self) -> None:
        for end in (self.sender, self.receiver):
            end.close()
        if self.shared is not None:
            self.shared.close()


class Edge:
    """A stream of chunk tables from one stage to the next: two shared files used in turn, each
    table acknowledged once the receiver has passed it on, so at most two are in flight."""

    def __init__(self, shared: bool, spin: float) -> None:
        self.sender, self.receiver = multiprocessing.get_context("fork").Pipe()  # tables one way, acks back
        self.slots = [SharedArrays(), SharedArrays()] if shared else None
        self.spin = spin
        self.sent = self.acked = self.received = 0

    def send(self, kind: str, index: int, count: int, value: Any) -> None:
        """Chunk ``index`` of ``count``: ``("tables", table)``, ``("error", exception)``, ``("skip", None)``
        (after an error), or ``("stop", None)``."""
        while self.sent - self.acked >= 2:
            _spin(self.sender, self.spin)
            self.sender.recv()
            self.acked += 1
        if kind == "tables" and self.slots is not None and SharedArrays.fits([value]):
            kind, value = "shared", self.slots[self.sent % 2].put([value])[0]
        self.sender.send((kind, index, count, value))
        self.sent += 1

    def receive(self) -> tuple[str, int, int, Any]:
        """The next chunk; a table's arrays are views valid until :meth:`ack`."""
        _spin(self.receiver, self.spin)
        kind, index, count, value = self.receiver.recv()
        if kind == "shared":
            assert self.slots is not None
            kind, value = "tables", self.slots[self.received % 2].get(value, copy=False)[0]
        self.received += 1
        return kind, index, count, value

    def ack(self) -> None:
        self.receiver.send(None)

    def close(self) -> None:
        for end in (self.sender, self.receiver):
            end.close()
        for slot in self.slots or []:
            slot.close()


def live_values(engine: StageEngine) -> list[set[str]]:
    """Per stage boundary ``s``: the values that stages after ``s`` read (and the graph's outputs)."""
    live = [{t.name for t in engine.graph.outputs}]
    for steps in engine.stages[:0:-1]:
        reads = set(live[0])
        for step in steps:
            node = getattr(step, "node", None)
            reads |= set(node.inputs) if node is not None else {getattr(step, "x", "")} | set(getattr(step, "xs", ()))
        live.insert(0, reads)
    return live[:-1] if len(live) > 1 else []


class StageGrid:
    """The worker processes of an engine: ``(lane, stage)`` for every shard lane and pipeline stage
    but ``(0, 0)``, which is the caller's. Built before the engine has threads of its own."""

    def __init__(self, engine: StageEngine, lanes: int) -> None:
        self.lanes, self.stages = lanes, len(engine.stages)  # no reference to the engine: it owns the grid
        self.live = live_values(engine)
        shared = SharedArrays.available()
        # spinning only while every process has a core of its own: a spinning process on a shared core
        # takes it from the one it waits for (1 x 3 stages on two cores: 7x slower)
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
        spin = SPIN_SECONDS if lanes * self.stages <= cores else 0.0
        # every channel exists before the first fork; each process then closes the ends it does not use
        self.requests = {k: _Channel(shared, spin) for k in range(1, lanes)}  # caller -> (k, 0)
        self.edges = {(k, s): Edge(shared, spin) for k in range(lanes) for s in range(self.stages - 1)}  # (k, s) -> (k, s + 1)
        self.replies = {k: _Channel(shared, spin) for k in range(lanes) if k or self.stages > 1}  # (k, last) -> caller
        context = multiprocessing.get_context("fork")
        self.processes: dict[tuple[int, int], Any] = {}
        for k in range(lanes):
            for s in range(self.stages):
                if (k, s) != (0, 0):
                    process = context.Process(target=self._serve, args=(engine, k, s), daemon=True, name=f"hwaccel-cpu-{k}.{s}")
                    process.start()
                    self.processes[k, s] = process
        self._close_ends(None)

    def _ends(self, place: tuple[int, int] | None) -> list[Any]:
        """The pipe ends used at ``place`` (None: the caller)."""
        last = self.stages - 1
        if place is None:
            return ([c.sender for c in self.requests.values()] + [c.receiver for c in self.replies.values()]
                    + ([self.edges[0, 0].sender] if (0, 0) in self.edges else []))
        k, s = place
        return ([self.requests[k].receiver] if s == 0 and k else []) + ([self.edges[k, s - 1].receiver] if s else []) \
            + ([self.edges[k, s].sender] if s < last else []) + ([self.replies[k].sender] if s == last else [])

    def _close_ends(self, place: tuple[int, int] | None) -> None:
        used = {id(end) for end in self._ends(place)}
        channels: list[Any] = [*self.requests.values(), *self.edges.values(), *self.replies.values()]
        for channel in channels:
            for end in (channel.sender, channel.receiver):
                if id(end) not in used:
                    end.close()

    @property
    def pids(self) -> list[int]:
        return [p.pid for p in self.processes.values() if p.pid is not None]

    def _serve(self, engine: StageEngine, lane: int, stage: int) -> None:
        """The loop of process ``(lane, stage)``: run the stage on each chunk of each run and pass it on."""
        from threadpoolctl import threadpool_limits

        self._close_ends((lane, stage))
        threadpool_limits(1, user_api="blas")
        inbox = self.edges.get((lane, stage - 1))
        outbox = self.edges.get((lane, stage))
        try:
            self._loop(engine, lane, stage, inbox, outbox)
        except (EOFError, OSError):  # a neighbour is gone: end quietly, the caller names the dead process
            pass

    def _loop(self, engine: StageEngine, lane: int, stage: int, inbox: Edge | None, outbox: Edge | None) -> None:
        while True:
            if stage == 0:
                kind, chunks = self.requests[lane].receive(copy=False)
                if kind == "stop":
                    if outbox is not None:
                        outbox.send("stop", 0, 0, None)
                    return
                self._run(engine, lane, stage, outbox, _messages(chunks))
            elif not self._run(engine, lane, stage, outbox, self._incoming(inbox)):
                return

    @staticmethod
    def _incoming(inbox: Edge | None) -> Any:
        """One run's chunks from the previous stage, each acknowledged once passed on (or a stop message)."""
        assert inbox is not None
        while True:
            kind, index, count, value = inbox.receive()
            yield kind, index, count, value
            inbox.ack()
            if kind == "stop" or index == count - 1:
                return

    def _run(self, engine: StageEngine, lane: int, stage: int, outbox: Edge | None, chunks: Any) -> bool:
        """Run ``stage`` on one run's ``chunks`` (``(kind, index, count, value)``), passing each on or
        replying the outputs; False when told to stop."""
        error: BaseException | None = None
        outputs: list[Feeds] = []
        for kind, index, count, value in chunks:
            if kind == "stop":
                if outbox is not None:
                    outbox.send("stop", 0, 0, None)
                return False
            if kind == "error" and error is None:
                error = value
            elif kind == "tables" and error is None:
                try:
                    engine._run_chunk(value, range(stage, stage + 1))
                except BaseException as exc:
                    error = _sendable(exc)
                    if outbox is not None:
                        outbox.send("error", index, count, error)
                        continue
            if outbox is None:
                if error is None:
                    outputs.append({name: np.array(a) for name, a in engine._outputs(value).items()})
            elif error is not None:
                outbox.send("error" if kind == "error" else "skip", index, count, error if kind == "error" else None)
            else:
                outbox.send("tables", index, count, {name: value[name] for name in self.live[stage] if name in value})
        if outbox is None:
            if error is not None:
                self.replies[lane].send("error", error)
            else:
                self.replies[lane].send("tables", outputs)
        return True

    def run(self, engine: StageEngine, lanes: list[list[Feeds]]) -> list[list[Feeds]]:
        """Every lane's outputs per chunk; the first failure, in lane order, is raised after every reply is read."""
        for k in range(1, len(lanes)):
            try:
                self.requests[k].send("tables", lanes[k])
            except OSError:  # the process is gone: its lane's reply says so
                pass
        outcomes: list[tuple[bool, Any]] = []
        if self.stages == 1:
            try:
                outcomes.append((True, engine._run_lanes(lanes[:1])[0]))
            except BaseException as exc:
                outcomes.append((False, exc))
        else:
            self._first_stage(engine, lanes[0])
        for k in range(0 if self.stages > 1 else 1, len(lanes)):
            try:
                kind, value = self.replies[k].receive(copy=True)
            except (EOFError, OSError):
                kind, value = "error", self._dead(k)
            outcomes.append((kind == "tables", value))
        for ok, value in outcomes:
            if not ok:
                raise value
        return [value for _, value in outcomes]

    def _first_stage(self, engine: StageEngine, chunks: list[Feeds]) -> None:
        """Lane 0's first stage, here, each chunk passed on to the process of the second."""
        try:
            self._run(engine, 0, 0, self.edges[0, 0], _messages(chunks))
        except (EOFError, OSError):  # the second stage is gone: the reply says so
            pass

    def _dead(self, lane: int) -> HwaccelError:
        """The error for a lane whose reply never came: the first process found dead (killed or failed)."""
        for place, process in self.processes.items():
            process.join(0.2 if place[0] == lane else 0)
        dead = [p for p in self.processes.values() if p.exitcode not in (None, 0)]
        process = dead[0] if dead else self.processes[lane, self.stages - 1]
        process.join(5)
        return HwaccelError(f"cpu engine: worker process {process.pid} exited (code {process.exitcode})")

    def stop(self) -> None:
        for channel in self.requests.values():
            try:
                channel.send("stop", None)
            except OSError:
                pass
        if (0, 0) in self.edges:
            try:
                self.edges[0, 0].send("stop", 0, 0, None)
            except (EOFError, OSError):
                pass
        for process in self.processes.values():
            process.join(5)
            if process.is_alive():
                process.kill()
                process.join()
        channels: list[Any] = [*self.requests.values(), *self.edges.values(), *self.replies.values()]
        for channel in channels:
            channel.close()
        self.processes.clear()
