"""Measured rows: onnxruntime (float, QDQ), the hwaccel CPU engine (1 core, all cores, pipelined), the GPU engine.

Protocol for every engine: one warm-up run at the batch (its outputs are the ones checked against
golden), the median of ``repeat`` timed runs at the batch (time per inference = batch time /
batch), then one warm-up and the median of ``repeat`` timed runs at batch 1 (latency). Sessions,
worker pools and device constants are made before timing starts.
"""

from __future__ import annotations

import importlib.util
import inspect
import os
import statistics
import time
from typing import Any, Callable, Iterator

import numpy as np

from ..errors import HwaccelError
from ..ir.graph import Graph
from ..ref.cpu import CpuEngine
from .report import Row

__all__ = ["Feeds", "Engine", "random_feeds", "repeat_feeds", "final_codes", "time_engine", "measured_engines",
           "measure_row", "ort_code_agreement", "pipeline_supported", "gpu_name"]

Feeds = dict[str, np.ndarray]
Run = Callable[[Feeds], dict[str, np.ndarray]]
# (engine name, device, make) where make() returns (run, close); a make may raise HwaccelError
Engine = tuple[str, str, Callable[[], tuple[Run, Callable[[], None]]]]


def _input_quant(graph: Graph, name: str) -> Any:
    """Quant params of the codes the graph's QuantizeLinear makes of input ``name`` (None if it has none)."""
    for node in graph.nodes:
        if node.op == "QuantizeLinear" and node.inputs[0] == name:
            info = graph.values.get(node.outputs[0])
            return None if info is None else info.quant
    return None


def random_feeds(graph: Graph, batch: int, seed: int = 0) -> Feeds:
    """``batch`` random inputs every engine accepts: uniformly random input codes, dequantized
    (so each value is exactly representable), or standard normal values for an input without one."""
    rng = np.random.default_rng(seed)
    feeds = {}
    for t in graph.inputs:
        dims = (t.shape or ())[1:]
        if not all(isinstance(d, int) for d in dims):
            raise HwaccelError(f"input {t.name!r} must have fixed dimensions after the batch, not {t.shape}; give --input")
        shape = (batch,) + tuple(int(d) for d in dims)
        q = _input_quant(graph, t.name)
        if q is None:
            feeds[t.name] = rng.standard_normal(shape).astype(t.dtype)
            continue
        codes = rng.integers(q.qmin, q.qmax + 1, shape)
        axes = [-1 if i == q.axis else 1 for i in range(len(shape))] if q.per_channel else [1] * len(shape)
        scale, zero = np.reshape(q.scale, axes), np.reshape(q.zero_point, axes)
        feeds[t.name] = (scale * (codes - zero)).astype(t.dtype)
    return feeds


def repeat_feeds(feeds: Feeds, batch: int) -> Feeds:
    """``feeds`` reused cyclically to ``batch`` rows."""
    return {k: v[np.arange(batch) % len(v)] for k, v in feeds.items()}


def final_codes(model: Any) -> list[str]:
    """Per graph output of the ONNX ``model``, the codes it is dequantized from: walking back along first
    inputs, the input of the first DequantizeLinear reached (none for an output without one)."""
    producers = {o: n for n in model.graph.node for o in n.output}
    codes = []
    for out in model.graph.output:
        node = producers.get(out.name)
        while node is not None and node.op_type != "DequantizeLinear" and node.input:
            node = producers.get(node.input[0])
        if node is not None and node.op_type == "DequantizeLinear":
            codes.append(node.input[0])
    return codes


def time_engine(run: Run, feeds: Feeds, repeat: int) -> tuple[dict[str, np.ndarray], float, float]:
    """``(outputs, median batch seconds, median batch-1 seconds)`` with the protocol of the module doc."""
    def median_time(x: Feeds) -> float:
        times = []
        for _ in range(repeat):
            start = time.perf_counter()
            run(x)
            times.append(time.perf_counter() - start)
        return statistics.median(times)

    outputs = run(feeds)
    batch_s = median_time(feeds)
    one = {k: v[:1] for k, v in feeds.items()}
    run(one)
    return outputs, batch_s, median_time(one)


def _ort_session(path: str, model_bytes: bytes | None = None) -> Any:
    try:
        import onnxruntime as ort
    except ImportError:
        raise HwaccelError("the onnxruntime rows need onnxruntime: pip install 'hwaccel[test]'") from None
    options = ort.SessionOptions()
    options.log_severity_level = 3
    try:
        return ort.InferenceSession(model_bytes or path, options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own exception types
        raise HwaccelError(f"{path}: onnxruntime cannot load it: {str(exc).splitlines()[0]}") from None


def _ort_run(session: Any, names: list[str], feeds: Feeds, path: str) -> list[np.ndarray]:
    try:
        return session.run(names, feeds)
    except Exception as exc:  # onnxruntime raises its own exception types
        raise HwaccelError(f"{path}: onnxruntime failed: {str(exc).splitlines()[0]}") from None


def _ort(path: str) -> tuple[Run, Callable[[], None]]:
    session = _ort_session(path)
    names = [o.name for o in session.get_outputs()]
    return (lambda feeds: dict(zip(names, _ort_run(session, names, feeds, path)))), (lambda: None)


def ort_code_agreement(path: str, feeds: Feeds, golden: dict[str, np.ndarray]) -> float | None:
    """Percentage of output codes onnxruntime (default optimizations) computes equal to golden's."""
    import onnx

    model = onnx.load(path)
    codes = [c for c in final_codes(model) if c in golden]
    if not codes:
        return None
    present = {o.name for o in model.graph.output}
    model.graph.output.extend(onnx.helper.make_empty_tensor_value_info(c) for c in codes if c not in present)
    ref = _ort_run(_ort_session(path, model.SerializeToString()), codes, feeds, path)
    same = sum(int((np.asarray(r).astype(np.int64) == golden[c].astype(np.int64)).sum()) for c, r in zip(codes, ref))
    return 100.0 * same / sum(golden[c].size for c in codes)


def pipeline_supported() -> bool:
    """Whether the CPU engine takes ``pipeline_stages`` (model parallelism over layer stages)."""
    return "pipeline_stages" in inspect.signature(CpuEngine).parameters


def _cpu(graph: Graph, workers: int, **kw: Any) -> tuple[Run, Callable[[], None]]:
    engine = CpuEngine(graph, workers, **kw)
    return engine.run, engine.close


def _gpu(graph: Graph) -> tuple[Run, Callable[[], None]]:
    from ..ref.gpu import GpuEngine

    engine = GpuEngine(graph, "cuda")
    return engine.run, (lambda: None)


def gpu_name() -> str | None:
    """The CUDA device's name, or None without PyTorch or a CUDA device."""
    if importlib.util.find_spec("torch") is None:
        return None
    import torch

    return torch.cuda.get_device_name(0) if torch.cuda.is_available() else None


def measured_engines(qdq_path: str, graph: Graph, float_path: str | None, workers: int, stages: int) -> Iterator[Engine]:
    """The engines to measure on this machine, in table order."""
    cores = f"{os.cpu_count()} logical cores"
    if float_path:
        yield "onnxruntime float", f"CPU, {cores}", lambda: _ort(float_path)
    yield "onnxruntime QDQ", f"CPU, {cores}", lambda: _ort(qdq_path)
    yield "hwaccel cpu, 1 core", "CPU, 1 worker", lambda: _cpu(graph, 1)
    if workers > 1:
        yield f"hwaccel cpu, {workers} cores", f"CPU, {workers} workers (processes)", lambda: _cpu(graph, workers)
    if pipeline_supported() and stages > 1:
        shards = max(1, workers // stages)  # one process per (shard, stage): as many as the all-cores row
        yield (f"hwaccel cpu, {stages} pipeline stages", f"CPU, {shards} worker{'s' if shards > 1 else ''} x {stages} stages (processes)",
               lambda: _cpu(graph, shards, pipeline_stages=stages))
    name = gpu_name()
    if name is not None:
        yield "hwaccel gpu", f"CUDA: {name}", lambda: _gpu(graph)


def measure_row(engine: Engine, feeds: Feeds, repeat: int, golden: dict[str, np.ndarray], check: bool) -> Row:
    """Time one engine; with ``check``, whether its outputs equal ``golden`` (the graph outputs) bit for bit."""
    name, device, make = engine
    batch = len(next(iter(feeds.values())))
    try:
        run, close = make()
        try:
            outputs, batch_s, one_s = time_engine(run, feeds, repeat)
        finally:
            close()
    except (HwaccelError, RuntimeError, OSError) as exc:
        return Row(name, "measured", device, error=str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
    row = Row(name, "measured", device, batch_s / batch, one_s, notes=f"batch {batch}, median of {repeat}")
    if check:
        row.bit_exact = set(golden) <= set(outputs) and all(np.array_equal(outputs[k], v) for k, v in golden.items())
    return row
