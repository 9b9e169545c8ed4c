"""``hwaccel run``: execute a model with the float, golden, cpu, gpu or onnxruntime engine."""

from __future__ import annotations

import argparse
from typing import Any

import numpy as np

from ..errors import HwaccelError
from ..files import load_inputs, save_arrays
from ..frontend import load_model


def execute(model_path: str, engine: str, input_path: str, workers: int | None = None,
            device: str = "cuda", pipeline_stages: int = 1) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Load ``model_path``, read inputs, run ``engine``; returns (feeds, outputs).

    ``workers`` and ``pipeline_stages`` configure the cpu engine (data and model parallelism).
    """
    if pipeline_stages != 1 and engine != "cpu":
        raise HwaccelError(f"--pipeline-stages must come with --engine cpu, not --engine {engine}")
    if pipeline_stages < 1:
        raise HwaccelError(f"--pipeline-stages must be a positive integer, not {pipeline_stages!r}")
    if workers is not None and workers < 1:
        raise HwaccelError(f"--workers must be a positive integer, not {workers!r}")
    graph = load_model(model_path)
    feeds = load_inputs(input_path, graph)
    if engine == "float":
        from ..golden.execute import run_float

        return feeds, run_float(graph, feeds)
    if engine in ("golden", "cpu", "gpu"):
        from ..frontend.qdq import load_quantized
        from ..golden.fixed import run_golden
        from ..ref.cpu import run_cpu
        from ..ref.gpu import run_gpu

        fixed = load_quantized(model_path)
        if engine == "gpu":
            return feeds, run_gpu(fixed, feeds, device=device)
        if engine == "golden":
            return feeds, run_golden(fixed, feeds)
        if pipeline_stages > len(fixed.nodes):
            raise HwaccelError(f"--pipeline-stages must be at most the model's {len(fixed.nodes)} layers, not {pipeline_stages}")
        return feeds, run_cpu(fixed, feeds, workers, pipeline_stages)
    from ..ref.ort import run_onnxruntime

    return feeds, run_onnxruntime(model_path, feeds)


def run(args: argparse.Namespace) -> tuple[dict, str]:
    feeds, outputs = execute(args.model, args.engine, args.input, args.workers, args.device, args.pipeline_stages)
    if args.output:
        save_arrays(args.output, outputs, force=args.force)
    batch = next(iter(feeds.values())).shape[0] if feeds else 0
    report: dict[str, Any] = {"model": args.model, "engine": args.engine, "output_file": args.output, "outputs": {}}
    parallel = ""
    if args.engine == "cpu":
        report["pipeline_stages"] = args.pipeline_stages
        parallel = f" ({args.pipeline_stages} pipeline stages)" if args.pipeline_stages > 1 else ""
    lines = [f"ran {args.model} on the {args.engine} engine{parallel}, batch {batch}"]
    for name, value in outputs.items():
        entry = describe_output(value, include_values=not args.output)
        report["outputs"][name] = entry
        lines.append(f"  {name}: shape {tuple(value.shape)} {value.dtype}, min {entry['min']:.6g}, max {entry['max']:.6g}")
        if "argmax" in entry:
            more = " ..." if len(entry["argmax"]) > 32 else ""
            lines.append(f"    argmax per row: {entry['argmax'][:32]}{more}")
    if args.output:
        lines.append(f"wrote {args.output}")
    return report, "\n".join(lines)


def describe_output(value: np.ndarray, include_values: bool) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "shape": list(value.shape),
        "dtype": str(value.dtype),
        "min": float(value.min()) if value.size else 0.0,
        "max": float(value.max()) if value.size else 0.0,
    }
    if value.ndim == 2 and value.size:
        entry["argmax"] = value.argmax(axis=1).tolist()
    if include_values and value.size <= 1 << 16:
        entry["values"] = value.tolist()
    return entry
