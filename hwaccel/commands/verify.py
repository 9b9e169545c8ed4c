# amaranth: UnusedElaboratable=no
"""``hwaccel verify``: run a compiled top on inputs and check it against golden and the cycle model.

The host quantizes the inputs by running the golden executor (:func:`hwaccel.golden.fixed.run_golden`)
on the same fixed-point graph the build was compiled from, which also gives the reference: the
codes of the hardware partition's output value (before the host Dequantize and other host ops).
The build's ``top.v`` runs in Verilator or Icarus through cocotb (:mod:`sim.bench_network`), or
the :class:`~hwaccel.hw.top.NetworkTop` of its manifest in amaranth.sim. The cycle count for
the N inputs fed back to back comes from :func:`hwaccel.perf.model.total_cycles`.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib
import re
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from ..build_dir import read_build
from ..errors import HwaccelError, SimulationError
from ..files import load_inputs
from ..ir.graph import Graph

__all__ = ["SIMULATORS", "run", "verify", "fixed_graph"]

SIMULATORS = ("verilator", "icarus", "amaranth")
ROOT = Path(__file__).resolve().parents[2]


def _sim(module: str) -> Any:
    """``sim.<module>``: the benches live beside the package in a source checkout."""
    if str(ROOT) not in sys.path and (ROOT / "sim" / f"{module}.py").is_file():
        sys.path.append(str(ROOT))
    try:
        return importlib.import_module(f"sim.{module}")
    except ModuleNotFoundError as exc:
        raise SimulationError(f"verify needs the cocotb benches of a source checkout (sim/), not found: {exc}") from None


def fixed_graph(build: Path, manifest: dict, model: str | None = None, calib: str | None = None) -> Graph:
    """The fixed-point graph ``build`` was compiled from: ``model`` (checked against the manifest's
    sha256), else the model file named by the manifest inside the build directory."""
    from .compile import load_fixed

    info = manifest.get("model", {})
    path = Path(model) if model else build / str(info.get("file", ""))
    if not model and not path.is_file():
        raise HwaccelError(f"{build}: the compiled model {info.get('file')!r} is not in the build; give --model PATH "
                           "(the MODEL given to `hwaccel compile`, with its --calib for a float model)")
    if not path.is_file():
        raise HwaccelError(f"{path}: model file does not exist")
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if info.get("sha256") and digest != info["sha256"]:
        raise HwaccelError(f"{path}: model must be the one {build} was compiled from (sha256 {info['sha256'][:12]}...), "
                           f"not sha256 {digest[:12]}...")
    return load_fixed(str(path), calib)


def _take(feeds: dict[str, np.ndarray], count: int | None) -> tuple[dict[str, np.ndarray], int]:
    """The first ``count`` inputs of the batch, reused cyclically past its end."""
    batch = next(iter(feeds.values())).shape[0]
    n = batch if count is None else count
    if not isinstance(n, int) or n < 1:
        raise HwaccelError(f"count must be a positive integer, not {count!r}")
    index = np.arange(n) % batch
    return {k: v[index] for k, v in feeds.items()}, n


def _check_probe_width(verilog: str, probes: int, path: Path) -> None:
    match = re.search(r"output \[(\d+):0\] probe;", verilog)
    if match is None or int(match.group(1)) + 1 != 2 * probes:
        raise HwaccelError(f"{path}: must be the top of this build's manifest ({2 * probes} probe bits), "
                           "not another design; recompile with `hwaccel compile ... --force`")


def verify(build: str | Path, inputs: str, count: int | None = None, simulator: str = "verilator",
           waves: str | None = None, model: str | None = None, calib: str | None = None,
           progress: bool = True) -> dict[str, Any]:
    """Simulate ``count`` inputs back to back and compare with golden and the cycle model.

    Returns
    -------
    dict
        ``count``, ``bit_exact``, ``mismatches``, ``first_mismatches``, ``cycles_rtl``,
        ``cycles_model``, ``cycles_match``, ``first_output_rtl``, ``simulator`` and timings
        (``sim_seconds``, ``model_seconds``, ``images_per_s``, ``cycles_per_s``, ``model_speedup``).

    Raises
    ------
    SimulationError
        The simulator is missing, the bench failed, or the design stalled (naming the unit).
    """
    from ..golden.fixed import run_golden
    from ..hw.top import NetworkTop
    from ..perf.model import total_cycles

    if simulator not in SIMULATORS:
        raise HwaccelError(f"simulator must be one of {SIMULATORS}, not {simulator!r}")
    root = Path(build)
    df, manifest = read_build(root)
    graph = fixed_graph(root, manifest, model, calib)
    feeds, n = _take(load_inputs(inputs, graph), count)
    values = run_golden(graph, feeds, outputs=[df.input.value, df.output.value])
    start = time.perf_counter()
    cycles_model, _ = total_cycles(df, n)
    model_seconds = time.perf_counter() - start
    bench = _sim("bench_network")
    top = NetworkTop(df)
    case = bench.make_case(top, values[df.input.value], cycles_model)
    if simulator == "amaranth":
        sys.set_int_max_str_digits(0)  # amaranth.sim writes wide ROM words as decimal literals
        result = bench.run_pysim(top, case, Path(waves) if waves else None, progress)
    else:
        source = root / "top.v"
        if not source.is_file():
            raise HwaccelError(f"{root}: no top.v in the build; recompile with `hwaccel compile ... --force`")
        text = source.read_text()
        _check_probe_width(text, len(top.probe_names), source)
        name = f"verify_{df.name}" + ("_waves" if waves else "")  # a traced build of its own: both stay reusable
        result = _sim("network_rtl").run_rtl(text, case, simulator, name, Path(waves) if waves else None, progress)
    report = bench.compare(result, case, df.output.to_stream(values[df.output.value]))
    sim_seconds = float(result["wall_s"])
    report.update({
        "build": str(root), "simulator": simulator, "cycles_match": report["cycles_rtl"] == cycles_model,
        "sim_seconds": sim_seconds, "model_seconds": model_seconds,
        "images_per_s": n / sim_seconds if sim_seconds else None,
        "cycles_per_s": result["cycles"] / sim_seconds if sim_seconds else None,
        "model_speedup": sim_seconds / model_seconds if model_seconds else None,
    })
    return report


def run(args: argparse.Namespace) -> tuple[dict, str]:
    report = verify(args.build, args.input, args.count, args.simulator, args.waves, args.model, args.calib,
                    progress=not args.json and sys.stderr.isatty())
    ok = report["bit_exact"] and report["cycles_match"]
    report["failed"] = not ok
    lines = [f"verified {report['build']} on {report['simulator']}: {report['count']} inputs back to back",
             f"  outputs: {'bit-exact' if report['bit_exact'] else str(report['mismatches']) + ' codes differ'} "
             "against the golden model",
             f"  cycles: {report['cycles_rtl']} measured, {report['cycles_model']} from the cycle model"
             f" ({'equal' if report['cycles_match'] else 'DIFFERENT'})",
             f"  simulation {report['sim_seconds']:.3g} s ({report['images_per_s']:.3g} inputs/s, "
             f"{report['cycles_per_s']:.3g} cycles/s); cycle model {report['model_seconds']:.3g} s"]
    for m in report["first_mismatches"]:
        lines.append(f"  mismatch: input {m['image']} beat {m['beat']} lane {m['lane']}: got {m['got']}, expected {m['want']}")
    return report, "\n".join(lines)
