"""The CPU engine: the golden integer semantics, fast.

At construction the graph is compiled into steps (:mod:`.cpu_plan`, :mod:`.cpu_builders`,
:mod:`.cpu_linear`): activations are float32 arrays of exact integer codes; a convolution or matrix
product is a few BLAS products (a banded dense Toeplitz matrix, or im2col windows), a following max
pool is fused onto its accumulators, and requantization is exact float64 arithmetic
(:mod:`.cpu_requant`). Every float computation is exact by a bound proven from the operand ranges
(float32 up to ``2**24``, float64 up to ``2**53``; int64 beyond), and nodes without a fast form run
the golden kernels, so the results are bit-identical to :func:`~hwaccel.golden.fixed.run_golden`.

Parallelism (BLAS is held at one thread per caller through threadpoolctl while an engine is open):
the batch is cut into ``workers`` shards (data parallel), and each shard into chunks that stream
through ``pipeline_stages`` contiguous groups of layers (model parallel). Every (shard, stage) but
the caller's first runs in a process of its own, forked from the engine when it is built
(:mod:`.cpu_workers`): each stage makes many NumPy calls of a few hundred microseconds, and the GIL
taken between them kept two shards in threads to 1.2x one shard on two cores (zoo CNN, batch 1024),
and two pipeline stages in threads slower than one. Where ``fork`` is not available, shards and
stages are threads connected by queues. Cutting the batch assumes rows are independent, as in any
inference graph whose inputs and outputs share a symbolic first (batch) axis; other graphs run as
one chunk.
"""

from __future__ import annotations

import math
import multiprocessing
import os
import queue
import threading
import weakref
from concurrent.futures import ThreadPoolExecutor, wait
from contextlib import contextmanager
from typing import Any, Iterator

import numpy as np

from ..errors import HwaccelError, ModelError, QuantizationError
from ..golden.fixed import is_fixed_point
from ..ir.graph import Graph
from .cpu_builders import BUILDERS
from .cpu_linear import gemm_dtype
from .cpu_plan import Step, compile_stages, node_costs, partition
from .cpu_workers import StageGrid

__all__ = ["CpuEngine", "run_cpu", "exact_float_dtype", "CHUNK_BYTES"]

CHUNK_BYTES = 1 << 20  # a chunk's widest float32 activation: about a core's L2 cache (measured best on the zoo)

Feeds = dict[str, np.ndarray]


def exact_float_dtype(acc_bits: int) -> np.dtype | None:
    """The narrowest float type in which every integer of ``acc_bits`` bits (sign included) is exact.

    float32 represents every integer of magnitude up to ``2**24`` and float64 up to ``2**53``; a
    ``B``-bit signed accumulator (and every partial sum of it) stays within ``2**(B-1)``. The engine
    itself bounds each product by its actual weights (:func:`~.cpu_linear.gemm_dtype`).
    """
    return gemm_dtype(2 ** (acc_bits - 1))


def _count(name: str, value: Any, high: int | None = None) -> int:
    """``value`` as a positive int (at most ``high``), else the one-line user error."""
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool) and 1 <= value <= (high or value):
        return int(value)
    span = f"an integer in [1, {high}] (the graph has {high} nodes)" if high else "a positive integer"
    raise HwaccelError(f"{name} must be {span}, not {value!r}")


_BLAS_LOCK = threading.Lock()
_BLAS: dict[str, Any] = {"users": 0}  # the threadpoolctl controller (made once: it scans the libraries) and limit


def _hold_one_blas_thread() -> None:
    """Limit BLAS to one thread per caller until the matching :func:`_release_blas` (counted; a no-op
    without threadpoolctl). Held for an engine's lifetime: setting and restoring the limit around each
    call wakes OpenBLAS's own threads, which then spin on the cores the workers need."""
    try:
        from threadpoolctl import ThreadpoolController
    except ImportError:  # BLAS keeps its own threads; results are the same
        return
    with _BLAS_LOCK:
        if _BLAS["users"] == 0:
            if "controller" not in _BLAS:
                _BLAS["controller"] = ThreadpoolController()
            _BLAS["limit"] = _BLAS["controller"].limit(limits=1, user_api="blas")
        _BLAS["users"] += 1


def _release_blas() -> None:
    with _BLAS_LOCK:
        if _BLAS["users"] > 0:
            _BLAS["users"] -= 1
            if _BLAS["users"] == 0:
                _BLAS.pop("limit").restore_original_limits()


@contextmanager
def _one_blas_thread() -> Iterator[None]:
    _hold_one_blas_thread()
    try:
        yield
    finally:
        _release_blas()


def _batched(graph: Graph) -> bool:
    """Whether rows of the inputs are rows of the outputs: every input and output has the same symbolic first axis."""
    firsts = {t.shape[0] if t.shape else None for t in (*graph.inputs, *graph.outputs)}
    return len(firsts) == 1 and isinstance(next(iter(firsts)), str)


def _widest_row(graph: Graph) -> int:
    """The most elements one row of any value has (declared static shapes after the first axis)."""
    sizes = [math.prod(int(d) for d in v.shape[1:]) for v in graph.values.values()
             if v.shape and all(isinstance(d, int) for d in v.shape[1:])]
    return max(max(sizes, default=1024), 1)


class CpuEngine:
    """A reusable engine: ``workers`` data-parallel shards x ``pipeline_stages`` layer stages, each pair
    but the caller's first in a forked process (threads without ``fork``).

    Parameters
    ----------
    graph
        A fixed-point graph (lowered QDQ model).
    workers
        Batch shards run concurrently (default: the cores divided by ``pipeline_stages``, at least 1).
    pipeline_stages
        Contiguous groups of layers, balanced by estimated work, each running in its own process on
        successive chunks of a shard (1: no pipelining); at most the number of graph nodes.

    Until :meth:`close` (or the end of a ``with`` block) BLAS runs one thread per caller, process-wide.
    """

    def __init__(self, graph: Graph, workers: int | None = None, pipeline_stages: int = 1) -> None:
        if not is_fixed_point(graph):
            raise QuantizationError(f"graph {graph.name!r} is not quantized: the cpu engine runs fixed-point models; "
                                    "run `hwaccel quantize MODEL --calib DATA` first (or give a QDQ model)")
        self.graph = graph
        self.pipeline_stages = _count("pipeline_stages", pipeline_stages, len(graph.nodes))
        cores = os.cpu_count() or 1
        self.workers = max(1, cores // self.pipeline_stages) if workers is None else _count("workers", workers)
        self.stage_nodes = partition(node_costs(graph), self.pipeline_stages)
        self.stages: list[list[Step]] = compile_stages(graph, self.stage_nodes, BUILDERS)
        self._batched = _batched(graph)
        self.chunk_rows = min(1024, max(64, CHUNK_BYTES // (4 * _widest_row(graph))))
        self._lock = threading.Lock()  # one run at a time: its stage loops take every pool thread
        # the worker processes are forked first, while the engine has no threads of its own
        threads = self.pipeline_stages * self.workers
        forks = threads > 1 and self._batched and "fork" in multiprocessing.get_all_start_methods()
        self._grid: StageGrid | None = StageGrid(self, self.workers) if forks else None
        self._finalizer = weakref.finalize(self, self._grid.stop) if self._grid is not None else None
        self._pool: ThreadPoolExecutor | None = None if forks or threads == 1 else ThreadPoolExecutor(threads - 1, "hwaccel-cpu")
        _hold_one_blas_thread()
        self._holds_blas = True

    @property
    def worker_pids(self) -> list[int]:
        """The process ids of the worker processes (none once closed, or where workers are threads)."""
        return self._grid.pids if self._grid is not None else []

    def run(self, feeds: Feeds) -> dict[str, np.ndarray]:
        """Outputs of the graph on ``feeds`` (batch first), bit-identical to the golden model."""
        for t in self.graph.inputs:
            if t.name not in feeds:
                raise ModelError(f"missing input {t.name!r}")
        inputs = {t.name: np.asarray(feeds[t.name]) for t in self.graph.inputs}
        sizes = {len(v) if v.ndim else -1 for v in inputs.values()}
        batch = sizes.pop() if len(sizes) == 1 and self._batched else -1
        with self._lock, _one_blas_thread():
            if batch < 1:  # nothing to cut: one chunk through every stage
                return self._outputs(self._run_chunk(dict(inputs), range(len(self.stages))))
            shards = np.linspace(0, batch, min(self.workers, batch) + 1).astype(int)
            lanes = [[{k: v[c] for k, v in inputs.items()} for c in self._chunks(a, b)]
                     for a, b in zip(shards[:-1], shards[1:])]
            results = self._run_lanes(lanes) if self._grid is None else self._grid.run(self, lanes)
        parts = [r for lane in results for r in lane]
        return {name: np.concatenate([p[name] for p in parts]) for name in parts[0]}

    def _run_lanes(self, lanes: list[list[Feeds]]) -> list[list[Feeds]]:
        """Every lane's chunks in this process: one after another, or in the pool's threads."""
        if self._pool is None:
            return [[self._outputs(self._run_chunk(env, range(len(self.stages)))) for env in chunks] for chunks in lanes]
        return self._run_threads(lanes)

    def _chunks(self, start: int, stop: int) -> list[slice]:
        """The chunks of a shard: at most ``chunk_rows`` rows, and at least ``2 * stages`` when pipelined (``n``
        chunks through ``S`` balanced stages take ``n + S - 1`` chunk times; more chunks cost more messages)."""
        least = 2 * self.pipeline_stages if self.pipeline_stages > 1 else 1
        count = max(-(-(stop - start) // self.chunk_rows), min(least, stop - start))
        bounds = np.linspace(start, stop, count + 1).astype(int)
        return [slice(a, b) for a, b in zip(bounds[:-1], bounds[1:])]

    def _run_chunk(self, env: Feeds, stages: range) -> Feeds:
        for s in stages:
            for step in self.stages[s]:
                step(env)
        return env

    def _outputs(self, env: Feeds) -> Feeds:
        return {t.name: env[t.name] for t in self.graph.outputs}

    def _run_threads(self, lanes: list[list[Feeds]]) -> list[list[Feeds]]:
        """Without ``fork``: one thread per (shard, stage), the caller taking the first; stage ``s``
        hands each chunk's table to stage ``s + 1`` by a queue."""
        assert self._pool is not None
        results: list[list[Feeds]] = [[{} for _ in chunks] for chunks in lanes]
        loops = []
        for lane, chunks in enumerate(lanes):
            queues: list[queue.SimpleQueue[Feeds | None]] = [queue.SimpleQueue() for _ in self.stages]
            for env in chunks:
                queues[0].put(env)
            for s in range(len(self.stages)):
                loops.append((s, queues[s], queues[s + 1] if s + 1 < len(queues) else None, results[lane]))
        futures = [self._pool.submit(self._stage_loop, *loop) for loop in loops[1:]]
        try:
            self._stage_loop(*loops[0])
        finally:
            wait(futures)
        for future in futures:
            future.result()  # raises the first failure
        return results

    def _stage_loop(self, s: int, inbox: queue.SimpleQueue, outbox: queue.SimpleQueue | None, results: list[Feeds]) -> None:
        """Run stage ``s`` on each chunk of a lane in order; a failure is passed on as None (later stages stop)."""
        for i in range(len(results)):
            env = inbox.get()
            if env is not None:
                try:
                    self._run_chunk(env, range(s, s + 1))
                except BaseException:
                    if outbox is not None:
                        outbox.put(None)
                    raise
            if outbox is not None:
                outbox.put(env)
            elif env is not None:
                results[i] = self._outputs(env)
            if env is None:
                return

    def close(self) -> None:
        """Stop the worker processes (or threads) and give BLAS its threads back (later runs are
        single-threaded)."""
        with self._lock:
            if self._finalizer is not None:
                self._finalizer()  # stops the grid, once
                self._grid = None
        if self._pool is not None:
            self._pool.shutdown()
            self._pool = None
        if self._holds_blas:
            self._holds_blas = False
            _release_blas()

    def __enter__(self) -> "CpuEngine":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def run_cpu(graph: Graph, feeds: Feeds, workers: int | None = None, pipeline_stages: int = 1) -> dict[str, np.ndarray]:
    """Run the fixed-point ``graph`` with the CPU engine (bit-identical to :func:`~hwaccel.golden.fixed.run_golden`)."""
    with CpuEngine(graph, workers, pipeline_stages) as engine:
        return engine.run(feeds)
