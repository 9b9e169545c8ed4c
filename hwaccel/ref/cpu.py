"""The CPU engine: the golden integer semantics, fast.

Convolutions and matrix products run as im2col + BLAS in floating point where that is exact: an
integer accumulator of ``acc_bits`` bits is exact in float32 when ``acc_bits <= 24`` and in
float64 when ``acc_bits <= 53`` (every partial sum is an integer below 2**mantissa); wider
accumulators fall back to the golden int64 kernels. All other ops use the golden kernels. The
batch is sharded over worker processes (data parallelism), each with a single BLAS thread.
"""

from __future__ import annotations

import math
import os
from concurrent.futures import ProcessPoolExecutor
from functools import partial

import numpy as np

from ..ir.graph import Graph, Node
from ..golden.fixed import FIXED_KERNELS, run_golden
from ..golden.fixed_ops.common import extract_windows, spatial_pads

__all__ = ["exact_float_dtype", "run_cpu", "CPU_KERNELS"]


def exact_float_dtype(acc_bits: int) -> np.dtype | None:
    """The narrowest float type in which every integer of ``acc_bits`` bits (sign included) is exact."""
    if acc_bits <= 25:  # |acc| < 2**24
        return np.dtype(np.float32)
    if acc_bits <= 54:  # |acc| < 2**53
        return np.dtype(np.float64)
    return None


def _fast_conv(node: Node, xs, graph: Graph) -> np.ndarray:
    dtype = exact_float_dtype(int(node.attr("acc_bits", 64)))
    x, w = xs[0], xs[1]
    if dtype is None or x.ndim != 4:
        return FIXED_KERNELS["QConv"](node, xs, graph)
    zx = int(node.attr("x_zero_point", 0))
    m, group = w.shape[0], int(node.attr("group", 1))
    kernel = tuple(w.shape[2:])
    windows = extract_windows(
        x.astype(dtype) - dtype.type(zx), kernel, tuple(node.attr("strides", [1, 1])), tuple(node.attr("dilations", [1, 1])),
        0, spatial_pads(node.attr("pads"), 2),
    )  # (N, C, OH, OW, KH, KW)
    n, c, oh, ow = windows.shape[:4]
    cg, mg = c // group, m // group
    zw = np.broadcast_to(np.asarray(node.attr("w_zero_point", 0)).reshape(-1), (m,)).reshape(m, 1, 1, 1)
    weights = (w.astype(np.int64) - zw).astype(dtype).reshape(group, mg, cg * kernel[0] * kernel[1])
    cols = windows.reshape(n, group, cg, oh, ow, *kernel).transpose(1, 0, 3, 4, 2, 5, 6).reshape(group, n * oh * ow, -1)
    acc = np.matmul(cols, weights.transpose(0, 2, 1))  # (group, N*OH*OW, mg)
    acc = acc.reshape(group, n, oh, ow, mg).transpose(1, 0, 4, 2, 3).reshape(n, m, oh, ow)
    acc = acc.astype(np.int64) + _bias(xs, m).reshape(1, m, 1, 1)
    rq = node.attr("requant")
    return acc if rq is None else rq.apply(acc, channel_axis=1)


def _fast_matmul(node: Node, xs, graph: Graph) -> np.ndarray:
    dtype = exact_float_dtype(int(node.attr("acc_bits", 64)))
    if dtype is None:
        return FIXED_KERNELS["QMatMul"](node, xs, graph)
    x, w = xs[0], xs[1]
    m = w.shape[-1]
    zw = np.broadcast_to(np.asarray(node.attr("w_zero_point", 0)).reshape(-1), (m,))
    acc = np.matmul(x.astype(dtype) - dtype.type(int(node.attr("x_zero_point", 0))), (w.astype(np.int64) - zw).astype(dtype))
    acc = acc.astype(np.int64) + _bias(xs, m)
    rq = node.attr("requant")
    return acc if rq is None else rq.apply(acc, channel_axis=acc.ndim - 1)


def _bias(xs, channels: int) -> np.ndarray:
    return xs[2].astype(np.int64).reshape(-1) if len(xs) > 2 and xs[2] is not None else np.zeros(channels, np.int64)


CPU_KERNELS = {**FIXED_KERNELS, "QConv": _fast_conv, "QMatMul": _fast_matmul}

_WORKER_GRAPH: Graph | None = None


def _init_worker(graph: Graph) -> None:
    global _WORKER_GRAPH
    _WORKER_GRAPH = graph
    try:
        from threadpoolctl import threadpool_limits

        threadpool_limits(1)
    except ImportError:  # BLAS keeps its own threads; results are the same
        pass


def _run_shard(feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    assert _WORKER_GRAPH is not None
    return run_golden(_WORKER_GRAPH, feeds, kernels=CPU_KERNELS)


class CpuEngine:
    """A reusable engine: ``workers`` processes, each running shards of the batch."""

    def __init__(self, graph: Graph, workers: int | None = None) -> None:
        self.graph = graph
        self.workers = max(1, workers or os.cpu_count() or 1)
        self._pool = None
        if self.workers > 1:
            import multiprocessing

            context = multiprocessing.get_context("fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn")
            self._pool = ProcessPoolExecutor(self.workers, mp_context=context, initializer=_init_worker, initargs=(graph,))
        else:
            _init_worker(graph)

    def run(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        batch = len(next(iter(feeds.values())))
        if self._pool is None or batch < 2:
            return run_golden(self.graph, feeds, kernels=CPU_KERNELS)
        shards = min(self.workers, batch)
        bounds = np.linspace(0, batch, shards + 1).astype(int)
        parts = [{k: v[a:b] for k, v in feeds.items()} for a, b in zip(bounds[:-1], bounds[1:])]
        results = list(self._pool.map(_run_shard, parts))
        return {name: np.concatenate([r[name] for r in results]) for name in results[0]}

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown()
            self._pool = None

    def __enter__(self) -> "CpuEngine":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def run_cpu(graph: Graph, feeds: dict[str, np.ndarray], workers: int | None = None) -> dict[str, np.ndarray]:
    """Run the fixed-point ``graph`` with the CPU engine (bit-identical to :func:`run_golden`)."""
    with CpuEngine(graph, workers) as engine:
        return engine.run(feeds)
