"""The API's result objects: small frozen records whose ``to_dict()`` is the JSON the CLI prints."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping

import numpy as np

if TYPE_CHECKING:
    from ..estimate.asic import AsicEstimate
    from ..estimate.cost_model import CostModelEstimate
    from ..estimate.fpga import FpgaEstimate
    from ..units.dataflow import Dataflow
    from ..perf.model import CycleReport

__all__ = ["QuantizeResult", "RunResult", "CompileResult", "SimulateResult", "VerifyResult", "EstimateResult",
           "describe_output"]

CYCLE_KEYS = ("latency_cycles", "interval_cycles", "total_cycles", "mac_utilization", "multipliers", "mac_multipliers",
              "memory_bits", "throughput_fps")  # the cycle model's numbers a compile result repeats


@dataclass(frozen=True)
class QuantizeResult:
    """A quantized model written to ``output``: the options used, per-layer and per-activation reports."""

    model: str
    output: Path
    config: dict[str, Any]
    layers: list[dict[str, Any]]
    activations: list[dict[str, Any]]
    host_ops: list[str]  # ops the quantized model leaves to the host (Q/DQ not counted)
    cell_format: dict[str, Any] | None = None  # recurrent cells' format and how it was chosen; None: no cells

    def to_dict(self) -> dict[str, Any]:
        return {"model": self.model, "output": str(self.output), "config": self.config, "layers": self.layers,
                "activations": self.activations, "host_ops": self.host_ops, "cell_format": self.cell_format}


def describe_output(value: np.ndarray, include_values: bool) -> dict[str, Any]:
    """Shape, dtype, range, per-row argmax (2-D) and the values (when asked and at most 65,536) of ``value``."""
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


@dataclass(frozen=True)
class RunResult:
    """The ``outputs`` (name -> array) of ``model`` on ``batch`` inputs with ``engine``."""

    model: str
    engine: str
    batch: int
    outputs: dict[str, np.ndarray] = field(repr=False)
    output_file: str | None = None  # where the outputs were saved; the JSON then leaves out their values
    pipeline_stages: int = 1

    def to_dict(self) -> dict[str, Any]:
        report: dict[str, Any] = {"model": self.model, "engine": self.engine, "output_file": self.output_file,
                                  "outputs": {name: describe_output(v, include_values=not self.output_file)
                                              for name, v in self.outputs.items()}}
        if self.engine == "cpu":
            report["pipeline_stages"] = self.pipeline_stages
        return report


@dataclass(frozen=True)
class CompileResult:
    """A build directory ``output`` written from ``model``: its files, dataflow and batch-1 cycle report."""

    model: str
    output: Path
    files: list[str]
    verilog: bool  # whether top.v was written
    dataflow: Dataflow = field(repr=False)
    cycles: CycleReport = field(repr=False)
    host_ops: list[str] = field(default_factory=list)
    memory_map: dict[str, Any] | None = None  # the part, whether the design's memories fit it, the mapper's line

    def to_dict(self) -> dict[str, Any]:
        cycles = self.cycles.to_dict()
        return {"model": self.model, "output": str(self.output), "files": self.files, "verilog": self.verilog,
                "stages": len(self.dataflow.stages), "host_ops": self.host_ops, "folding": dict(self.dataflow.folding),
                "memory_map": self.memory_map,
                **{k: cycles[k] for k in CYCLE_KEYS}}


@dataclass(frozen=True)
class SimulateResult:
    """The cycle model of ``build`` (network ``name``, ``stages`` stages) and how long it took."""

    build: str
    name: str
    stages: int
    cycles: CycleReport
    model_seconds: float

    def to_dict(self) -> dict[str, Any]:
        return {"build": self.build, **self.cycles.to_dict(), "model_seconds": self.model_seconds}


@dataclass(frozen=True)
class VerifyResult:
    """An RTL run of a build against golden and the cycle model; ``report`` holds every number
    (``count``, ``mismatches``, ``first_mismatches``, ``cycles_rtl``, ``cycles_model``, timings)."""

    report: Mapping[str, Any] = field(repr=False)

    @property
    def bit_exact(self) -> bool:
        return bool(self.report["bit_exact"])

    @property
    def cycles_match(self) -> bool:
        return bool(self.report["cycles_match"])

    @property
    def ok(self) -> bool:
        """Bit-exact and the cycles equal to the cycle model's."""
        return self.bit_exact and self.cycles_match

    def __repr__(self) -> str:
        r = self.report
        return (f"VerifyResult(build={r['build']!r}, simulator={r['simulator']!r}, count={r['count']}, bit_exact="
                f"{self.bit_exact}, cycles_rtl={r['cycles_rtl']}, cycles_model={r['cycles_model']})")

    def to_dict(self) -> dict[str, Any]:
        return {**self.report, "failed": not self.ok}


@dataclass(frozen=True)
class EstimateResult:
    """The FPGA and/or ASIC estimate of ``build`` (None where not asked for); ``fpga`` is the cost
    model's on a part with no open place and route."""

    build: str
    fpga: FpgaEstimate | CostModelEstimate | None = None
    asic: AsicEstimate | None = None

    def to_dict(self) -> dict[str, Any]:
        report: dict[str, Any] = {"build": self.build}
        if self.fpga is not None:
            report["fpga"] = self.fpga.to_dict()
        if self.asic is not None:
            report["asic"] = self.asic.to_dict()
        return report
