"""The model side of the API: load an ONNX file, quantize it, run it on an engine."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import HwaccelError, QuantizationError
from ..files import Inputs, atomic_write_bytes, check_suffix, check_writable, load_inputs, save_arrays
from ..frontend import load_model
from ..frontend.validate import named
from ..ir.graph import Graph
from .results import QuantizeResult, RunResult

__all__ = ["load", "quantize", "run", "ENGINES"]

ENGINES = ("float", "golden", "cpu", "gpu", "onnxruntime")
WEIGHTED_OPS = ("Conv", "ConvTranspose", "Gemm", "MatMul")


def load(path: str | os.PathLike[str]) -> Graph:
    """Import an ONNX model.

    Parameters
    ----------
    path
        A float ONNX file, or a quantized one (QDQ or QLinear).

    Returns
    -------
    Graph
        The float IR graph, or for a quantized model its fixed-point IR graph.

    Raises
    ------
    ModelError, UnsupportedOpError
        The file is missing, malformed or uses ops hwaccel does not implement.
    """
    from ..frontend.qdq import is_quantized, load_quantized

    graph = load_model(path)
    return load_quantized(path) if is_quantized(graph) else graph


def quantize(model: str | os.PathLike[str], calib: Inputs, output: str | os.PathLike[str] | None = None, *,
             force: bool = False, **options: Any) -> QuantizeResult:
    """Post-training quantization of a float model to a standard QDQ ONNX file.

    Parameters
    ----------
    model
        The float ONNX file.
    calib
        Calibration inputs: a ``.npy``/``.npz`` file, an array (single input) or a dict keyed by input name.
    output
        The QDQ file to write; default ``MODEL.qdq.onnx`` beside the model.
    force
        Overwrite an existing ``output``.
    **options
        :class:`~hwaccel.frontend.quantize.QuantConfig` fields: ``weight_bits``, ``act_bits``,
        ``act_signed``, ``per_channel``, ``scheme``, ``calibration``, ``layer_bits`` ({layer: bits}),
        ``prune``, ``share``, ``cell_bits`` (recurrent cells' table index width 8..12, or ``"auto"``).

    Returns
    -------
    QuantizeResult
        The file written, the options and per-layer/per-activation reports.

    Raises
    ------
    QuantizationError
        The model is already quantized, or an option is invalid.
    """
    from ..frontend.qdq import is_quantized, lower_model
    from ..frontend.quantize import QuantConfig, quantize_graph
    from ..summary import placement

    graph = load_model(model)
    if is_quantized(graph):
        raise QuantizationError(f"{model}: the model is already quantized")
    out = Path(output) if output is not None else Path(model).with_suffix(".qdq.onnx")
    check_writable(out, force)
    try:
        config = QuantConfig(**options)
    except TypeError as exc:
        raise QuantizationError(f"quantize options must be QuantConfig fields, not {sorted(options)} ({exc})") from None
    weighted = {n.name for n in graph.nodes if n.op in WEIGHTED_OPS}
    unknown = sorted(set(config.layer_bits) - weighted)
    if unknown:
        raise QuantizationError(f"layer_bits: unknown layer(s) {unknown}; layers with weights: {sorted(weighted)}")
    with named(str(model)):  # errors of the calibration run name the model
        qdq, report = quantize_graph(graph, load_inputs(calib, graph, samples=True), config)
    lowered = lower_model(qdq, str(out))  # proves the file lowers to fixed point before writing it
    atomic_write_bytes(out, qdq.SerializeToString(), force=force)
    host = sorted({n.op for n in lowered.nodes
                   if placement(n) == "host" and n.op not in ("QuantizeLinear", "DequantizeLinear")})
    return QuantizeResult(str(model), out, dict(vars(config)), report["layers"], report["activations"], host,
                          report.get("cell_format"))


def _execute(model: str, engine: str, feeds: dict[str, np.ndarray], graph: Graph, workers: int | None,
             device: str, pipeline_stages: int) -> dict[str, np.ndarray]:
    if engine == "float":
        from ..golden.float_executor import run_float

        return run_float(graph, feeds)
    if engine in ("golden", "cpu", "gpu"):
        from ..frontend.qdq import load_quantized

        fixed = load_quantized(model)
        if engine == "gpu":
            from ..ref.gpu import run_gpu

            return run_gpu(fixed, feeds, device=device)
        if engine == "golden":
            from ..golden.fixed import run_golden

            return run_golden(fixed, feeds)
        if pipeline_stages > len(fixed.nodes):
            raise HwaccelError(f"--pipeline-stages must be at most the model's {len(fixed.nodes)} layers, not {pipeline_stages}")
        from ..ref.cpu import run_cpu

        return run_cpu(fixed, feeds, workers, pipeline_stages)
    from ..ref.ort import run_onnxruntime

    return run_onnxruntime(model, feeds)


def run(model: str | os.PathLike[str], inputs: Inputs, engine: str = "float", *, workers: int | None = None,
        pipeline_stages: int = 1, device: str = "cuda", output: str | os.PathLike[str] | None = None,
        force: bool = False) -> RunResult:
    """Run a model on inputs.

    Parameters
    ----------
    model
        An ONNX file: float, or quantized (QDQ/QLinear) for the ``golden``, ``cpu`` and ``gpu`` engines.
    inputs
        A ``.npy``/``.npz`` file, an array (single input) or a dict keyed by input name; batch first.
    engine
        ``float`` (NumPy float executor), ``golden`` (the bit-exact integer model), ``cpu`` (the same
        codes, fast), ``gpu`` (the same on PyTorch) or ``onnxruntime``.
    workers, pipeline_stages
        cpu engine: worker processes over the batch (default: all cores) and concurrent layer stages.
    device
        gpu engine: the torch device.
    output, force
        Save the outputs to ``.npy`` (single output) or ``.npz``; ``force`` overwrites.

    Returns
    -------
    RunResult
        ``outputs`` maps output names to arrays.
    """
    if engine not in ENGINES:
        raise HwaccelError(f"engine must be one of {ENGINES}, not {engine!r}")
    if pipeline_stages != 1 and engine != "cpu":
        raise HwaccelError(f"--pipeline-stages must come with --engine cpu, not --engine {engine}")
    if pipeline_stages < 1:
        raise HwaccelError(f"--pipeline-stages must be a positive integer, not {pipeline_stages!r}")
    if workers is not None and workers < 1:
        raise HwaccelError(f"--workers must be a positive integer, not {workers!r}")
    if output is not None:  # before any work
        check_suffix(output)
        check_writable(output, force)
    graph = load_model(model)
    feeds = load_inputs(inputs, graph)
    with named(str(model)):  # an engine's error names the model
        outputs = _execute(str(model), engine, feeds, graph, workers, device, pipeline_stages)
    if output is not None:
        save_arrays(output, outputs, force=force)
    batch = next(iter(feeds.values())).shape[0] if feeds else 0
    return RunResult(str(model), engine, batch, outputs, None if output is None else str(output), pipeline_stages)
