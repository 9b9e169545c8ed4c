"""Estimated rows: FPGA (cycle model x post-route fmax) and ASIC (:mod:`hwaccel.estimate.asic`) of a build.

The build is the one given (``--build``, checked to come from the same model file) or a fresh one
compiled (:func:`hwaccel.api.compile`) with the default fold target into a temporary directory,
removed afterwards.
"""

from __future__ import annotations

import contextlib
import hashlib
import tempfile
from pathlib import Path
from typing import Any, Callable, Iterator

from .. import api
from ..api.compiler import build_name
from ..build_dir import read_build
from ..errors import HwaccelError
from ..estimate.asic import estimate_asic
from ..estimate.cost_model import CostModelEstimate
from ..estimate.fpga import estimate_fpga
from ..perf.model import cycle_model
from .report import Row

__all__ = ["check_build", "bench_build", "fpga_row", "asic_row"]


def check_build(model: str, build: str, verilog: bool) -> None:
    """``build`` must be a build of ``model`` (same quantized file), with ``top.v`` when ``verilog``."""
    _, manifest = read_build(build)
    digest = hashlib.sha256(Path(model).read_bytes()).hexdigest()
    if manifest.get("model", {}).get("sha256") != digest:
        raise HwaccelError(f"{build}: the build was compiled from another model than {model} (sha256 differs); "
                           "recompile it or leave out --build")
    if verilog and not (Path(build) / "top.v").is_file():
        raise HwaccelError(f"{build}: no top.v in the build for the FPGA estimate; recompile with `hwaccel compile`")


@contextlib.contextmanager
def bench_build(model: str, build: str | None, verilog: bool, progress: Callable[[str], None]) -> Iterator[Path]:
    """The build directory for the estimated rows: ``build`` (see :func:`check_build`) or a temporary
    one compiled from ``model`` (``verilog``: with ``top.v``)."""
    if build is not None:
        check_build(model, build, verilog)
        yield Path(build)
        return
    with tempfile.TemporaryDirectory(prefix="hwaccel-bench-") as tmp:
        progress(f"compiling {model} into a temporary build{' (with Verilog)' if verilog else ''}")
        yield api.compile(model, Path(tmp) / build_name(model), verilog=verilog).output


def fpga_row(build: Path, device: str) -> tuple[Row, dict | None]:
    """The FPGA row: the cycle model's interval and batch-1 latency at the post-route fmax. A failed
    estimate or a design that does not fit gives a row with the reason instead of failing the bench."""
    engine = f"FPGA {device}"
    try:
        result = estimate_fpga(build, device)
    except HwaccelError as exc:
        return Row(engine, "estimated", device, error=str(exc).splitlines()[0]), None
    if isinstance(result, CostModelEstimate):  # a part with no place and route: no fmax to time the cycles at
        return Row(engine, "estimated", device, error=f"{result.basis}: no fmax"), result.to_dict()
    if result.fmax_mhz is None:
        why = (f"does not fit on {device}: {', '.join(result.over)} over capacity" if result.over
               else f"no post-route fmax: {result.pnr_error or 'the design has no clock'}")
        return Row(engine, "estimated", device, error=why), result.to_dict()
    df, _ = read_build(build)
    report = cycle_model(df, 1, result.fmax_mhz, periodic=False)
    hz = result.fmax_mhz * 1e6
    pins = "" if result.fits else "; the core fits, its stream ports exceed the package pins"
    row = Row(engine, "estimated", f"{device}, post-route fmax {result.fmax_mhz:.1f} MHz", report.interval_cycles / hz,
              report.total_cycles / hz, notes=f"cycle model: interval {report.interval_cycles:g} cycles, batch-1 latency "
                                              f"{report.total_cycles} cycles; energy not estimated{pins}")
    return row, result.to_dict()


def asic_row(build: Path, node: str, clock_mhz: float | None) -> tuple[Row, dict]:
    """The ASIC row from :func:`hwaccel.estimate.asic.estimate_asic`."""
    est = estimate_asic(build, node, clock_mhz)
    row = Row(f"ASIC {node}", "estimated", f"{node} at {est.clock_mhz:g} MHz", est.interval_s, est.latency_us * 1e-6,
              est.energy_nj * 1e-9, notes=f"{est.area_mm2:.4f} mm^2, {est.power_mw:.3g} mW dynamic; "
                                          "Horowitz ISSCC 2014 energies")
    return row, est.to_dict()
