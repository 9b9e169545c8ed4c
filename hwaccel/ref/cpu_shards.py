"""The CPU engine's shard processes: forked copies of an engine, each running one shard of a batch.

A request carries a shard's chunks (tables of input arrays) and the reply their outputs. The arrays
travel through a memory file that both processes map (:class:`SharedArrays`, a Linux ``memfd``
created before the fork), so the pipe carries only their layout: pickled through a pipe, a 128 KiB
input blocked the sender until the shard woke up and read it in pipe-sized pieces. Without ``memfd``
(or for object arrays) the arrays are pickled through the pipe.

Both ends wait spin-then-block (as GNU OpenMP's idle threads do, ``GOMP_SPINCOUNT``): they poll the
pipe for up to :data:`SPIN_SECONDS` before sleeping in the kernel. Waking a sleeping process took
about 100 us per request on the measuring host (a VM whose idle core halts), and a two-shard run of
the zoo CNN at batch 1024 lasts about 1 ms: spinning took its 1-to-2-core scaling from 1.36x to 1.58x.
"""

from __future__ import annotations

import mmap
import multiprocessing
import os
import pickle
import time
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import HwaccelError

if TYPE_CHECKING:
    from .cpu import CpuEngine

__all__ = ["ShardProcess", "SharedArrays", "stop_shards", "SPIN_SECONDS"]

Feeds = dict[str, np.ndarray]
Layout = list[list[tuple[str, str, tuple[int, ...], int]]]  # per table: (name, dtype, shape, byte offset)

_ALIGN = 64  # a cache line: every array starts on one
_MIN_FILE = 1 << 20
SPIN_SECONDS = 0.002  # how long a waiting end polls before it sleeps: about two runs of a batch of 1024


def _spin(conn: Any) -> None:
    """Poll ``conn`` until it has a message or :data:`SPIN_SECONDS` have passed (then the caller's
    ``recv`` sleeps)."""
    deadline = time.perf_counter() + SPIN_SECONDS
    while not conn.poll(0) and time.perf_counter() < deadline:
        pass


class SharedArrays:
    """Tables of arrays written into, and read back from, a memory file shared with forked children."""

    def __init__(self) -> None:
        self.fd = os.memfd_create("hwaccel-cpu-shard", os.MFD_CLOEXEC)
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
        os.close(self.fd)


class ShardProcess:
    """A forked copy of an engine that runs one shard's chunks per request, over a pipe."""

    def __init__(self, engine: "CpuEngine", index: int) -> None:
        context = multiprocessing.get_context("fork")
        self.conn, child = context.Pipe()
        self.shared = SharedArrays() if SharedArrays.available() else None
        self.process = context.Process(target=_serve, args=(engine, child, self.shared), daemon=True,
                                       name=f"hwaccel-cpu-shard{index}")
        self.process.start()
        child.close()

    def send(self, chunks: list[Feeds]) -> None:
        if self.shared is not None and SharedArrays.fits(chunks):
            message: tuple[str, Any] = ("shared", self.shared.put(chunks))
        else:
            message = ("pickled", chunks)
        try:
            self.conn.send(message)
        except OSError:  # the process is gone: receive() says so
            pass

    def receive(self) -> list[Feeds]:
        """The shard's outputs per chunk; raises the shard's error as it was raised there."""
        try:
            _spin(self.conn)
            kind, value = self.conn.recv()
        except (EOFError, OSError):
            self.process.join(5)
            raise HwaccelError(f"cpu engine: shard process {self.process.pid} exited (code {self.process.exitcode})") from None
        if kind == "error":
            raise value
        if kind == "shared":
            assert self.shared is not None
            return self.shared.get(value, copy=True)
        return value

    def stop(self) -> None:
        try:
            self.conn.send(None)
        except OSError:
            pass
        self.process.join(5)
        if self.process.is_alive():
            self.process.kill()
            self.process.join()
        self.conn.close()
        if self.shared is not None:
            self.shared.close()


def _serve(engine: "CpuEngine", conn: Any, shared: SharedArrays | None) -> None:
    """The loop of a shard process: run each request's chunks through every stage, send the outputs back."""
    from threadpoolctl import threadpool_limits

    threadpool_limits(1, user_api="blas")
    engine._shards = []
    engine._pool = ThreadPoolExecutor(engine.pipeline_stages - 1, "hwaccel-cpu") if engine.pipeline_stages > 1 else None
    while True:
        try:
            _spin(conn)
            request = conn.recv()
        except EOFError:
            return
        if request is None:
            return
        kind, value = request
        try:
            chunks, end = (shared.get(value[0], copy=False), value[1]) if kind == "shared" and shared else (value, 0)
            outputs = engine._run_lanes([chunks])[0]
            del chunks  # the inputs' views: the outputs are written after them
            reply: tuple[str, Any] = ("shared", shared.put(outputs, end)[0]) \
                if kind == "shared" and shared and SharedArrays.fits(outputs) else ("pickled", outputs)
        except BaseException as exc:  # sent back whole, so the caller raises what golden raises
            reply = ("error", exc)
            try:
                pickle.dumps(exc)
            except Exception:
                reply = ("error", HwaccelError(f"{type(exc).__name__}: {exc}"))
        conn.send(reply)


def stop_shards(shards: list[ShardProcess]) -> None:
    for shard in shards:
        shard.stop()
    shards.clear()
