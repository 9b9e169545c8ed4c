"""The benchmark: every engine measured on one batch, the FPGA/ASIC estimates of the build, one list of rows."""

from __future__ import annotations

import os
import platform
from dataclasses import dataclass, field
from typing import Any, Callable

import onnx

from ..errors import HwaccelError, QuantizationError
from ..estimate.asic import tech
from ..files import atomic_write_bytes, check_writable, load_inputs
from ..frontend import load_model
from ..frontend.qdq import is_quantized, load_quantized
from ..golden.fixed import run_golden
from .estimated import asic_row, bench_build, check_build, fpga_row
from .measure import final_codes, measure_row, measured_engines, ort_code_agreement, random_feeds, repeat_feeds
from .report import Row, plot_png

__all__ = ["BenchConfig", "BenchResult", "run_bench", "bench"]


@dataclass(frozen=True)
class BenchConfig:
    """What to run: the QDQ ``model`` (and optionally the float model it came from), the batch and
    repeats, the CPU workers and pipeline stages, the FPGA device and ASIC node to estimate."""

    model: str
    float_model: str | None = None
    inputs: str | None = None  # .npy/.npz reused cyclically to ``batch``; default random (``seed``)
    batch: int = 1024
    repeat: int = 5
    workers: int | None = None  # default: all cores
    pipeline_stages: int = 2
    fpga: str | None = None
    asic: str | None = None
    asic_clock_mhz: float | None = None  # default: the build's compile clock
    build: str | None = None  # an existing build of ``model`` for the estimates
    seed: int = 0

    def __post_init__(self) -> None:
        for name, low in (("batch", 1), ("repeat", 1), ("pipeline_stages", 1)):
            value = getattr(self, name)
            if not isinstance(value, int) or value < low:
                raise HwaccelError(f"{name} must be an integer >= {low}, not {value!r}")
        if self.workers is not None and (not isinstance(self.workers, int) or self.workers < 1):
            raise HwaccelError(f"workers must be an integer >= 1, not {self.workers!r}")
        if self.asic is not None:
            tech(self.asic)  # an unknown node fails now, not after the measurements


@dataclass
class BenchResult:
    """The rows in table order, the estimates' details, and how the run was made."""

    rows: list[Row]
    asic: dict | None = None
    fpga: dict | None = None
    info: dict[str, Any] = field(default_factory=dict)
    plot: str | None = None  # the bar chart written, if any

    @property
    def failed(self) -> bool:
        """An engine whose outputs differ from golden."""
        return any(r.bit_exact is False for r in self.rows)

    def to_dict(self) -> dict[str, Any]:
        plot = {} if self.plot is None else {"plot": self.plot}
        return {**self.info, "rows": [r.to_dict() for r in self.rows], "asic": self.asic, "fpga": self.fpga,
                "failed": self.failed, **plot}


def run_bench(config: BenchConfig, progress: Callable[[str], None] = lambda message: None) -> BenchResult:
    """Run the benchmark of ``config``; ``progress`` gets a line before each long step.

    Raises
    ------
    HwaccelError
        The model is not quantized, the inputs do not fit, or an option is invalid. Failures of
        single engines or estimates are recorded in their rows instead.
    """
    c = config
    if not is_quantized(load_model(c.model)):
        raise QuantizationError(f"{c.model}: the model must be quantized (QDQ), not float; run `hwaccel quantize` first")
    graph = load_quantized(c.model)
    if c.build is not None and (c.asic or c.fpga):
        check_build(c.model, c.build, verilog=bool(c.fpga))  # before the measurements
    if c.inputs:
        feeds, source = repeat_feeds(load_inputs(c.inputs, graph), c.batch), c.inputs
    else:
        feeds, source = random_feeds(graph, c.batch, c.seed), f"random codes of the input encoding (seed {c.seed})"
    workers = c.workers or os.cpu_count() or 1
    outputs = [t.name for t in graph.outputs]
    progress(f"golden reference on {c.batch} inputs")
    codes = [name for name in final_codes(onnx.load(c.model)) if name in graph.values]
    golden = run_golden(graph, feeds, outputs=outputs + [n for n in codes if n not in outputs])
    reference = {k: golden[k] for k in outputs}
    rows = []
    for engine in measured_engines(c.model, graph, c.float_model, workers, c.pipeline_stages):
        progress(f"measuring {engine[0]} (batch {c.batch} and 1, median of {c.repeat})")
        row = measure_row(engine, feeds, c.repeat, reference, check=engine[0].startswith("hwaccel"))
        if engine[0] == "onnxruntime QDQ" and row.error is None:
            try:
                row.code_agreement_pct = ort_code_agreement(c.model, feeds, golden)
            except HwaccelError as exc:
                row.error = str(exc)
        if engine[0] == "onnxruntime float":
            row.notes += "; float model, not compared"
        rows.append(row)
    result = BenchResult(rows, info={
        "model": c.model, "float_model": c.float_model, "inputs": source, "batch": c.batch, "repeat": c.repeat,
        "workers": workers, "host": {"platform": platform.platform(), "machine": platform.machine(),
                                     "logical_cores": os.cpu_count()}})
    if c.asic or c.fpga:
        with bench_build(c.model, c.build, verilog=bool(c.fpga), progress=progress) as build:
            if c.fpga:
                progress(f"FPGA estimate for {c.fpga} (synthesis + place-and-route: minutes unless cached)")
                row, result.fpga = fpga_row(build, c.fpga)
                rows.append(row)
            if c.asic:
                progress(f"ASIC estimate at {c.asic}")
                row, result.asic = asic_row(build, c.asic, c.asic_clock_mhz)
                rows.append(row)
    return result


def bench(model: str | os.PathLike[str], *, float_model: str | os.PathLike[str] | None = None,
          inputs: str | os.PathLike[str] | None = None, batch: int = 1024, repeat: int = 5, workers: int | None = None,
          pipeline_stages: int = 2, fpga: str | None = None, asic: str | None = None,
          asic_clock_mhz: float | None = None, build: str | os.PathLike[str] | None = None, seed: int = 0,
          plot: str | os.PathLike[str] | None = None, force: bool = False,
          progress: Callable[[str], None] | None = None) -> BenchResult:
    """Benchmark one quantized network on every path: onnxruntime, the hwaccel cpu/gpu engines
    (measured) and the build as FPGA/ASIC (estimated).

    Parameters
    ----------
    model
        The quantized (QDQ) ONNX model.
    float_model
        The float model it was quantized from: adds an onnxruntime float row.
    inputs
        ``.npy``/``.npz`` inputs reused cyclically to ``batch``; default random valid codes (``seed``).
    batch, repeat
        Inputs per timed run, and timed runs per engine (the median is reported).
    workers, pipeline_stages
        cpu engine workers for the all-cores row (default: all cores), and the pipelined row's stages.
    fpga, asic, asic_clock_mhz
        Estimate this FPGA device (synthesis + place and route, cached) and/or this ASIC node (at
        ``asic_clock_mhz``, default the build's compile clock).
    build
        An existing build of ``model`` for the estimates; default one compiled into a temporary directory.
    plot, force
        Write a bar chart of throughput (PNG) here; ``force`` overwrites.
    progress
        Called with a line before each long step.

    Returns
    -------
    BenchResult
        The rows (measured and estimated, labelled); ``failed`` when an engine differs from golden.
    """
    if plot is not None:
        check_writable(plot, force)  # fail before the long steps
    config = BenchConfig(str(model), None if float_model is None else str(float_model),
                         None if inputs is None else str(inputs), batch, repeat, workers, pipeline_stages, fpga, asic,
                         asic_clock_mhz, None if build is None else str(build), seed)
    result = run_bench(config, progress or (lambda message: None))
    if plot is not None:
        title = f"{model}: throughput at batch {batch} (measured) and estimated"
        atomic_write_bytes(plot, plot_png(result.rows, title), force=force)
        result.plot = str(plot)
    return result
