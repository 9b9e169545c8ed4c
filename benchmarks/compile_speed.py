"""How long ``hwaccel compile`` takes on the MLPerf Tiny networks at 256 MAC multipliers (issue 20: under
10 s each, to manifest and Verilog, on the 2-core machine).

Per network (``tests/mlperf_tiny.py``: the reference shapes, random weights, onnxruntime QDQ): the
wall time of the command line itself (``python -m hwaccel compile MODEL -o BUILD --multipliers 256
--force``, a fresh interpreter each time: imports included), ``--repeats`` times, and, in this
process, each step's seconds (import, lower and fold, FIFOs, the analytic report, Verilog). Run it on
an idle machine: the figure is wall time on all the cores there are.

Writes benchmarks/results/compile_speed.json. Usage: python benchmarks/compile_speed.py [networks]
[--repeats N]
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import ROOT, write_json

TARGET_SECONDS = 10.0  # issue 20


def _builders():  # tests/mlperf_tiny.py, loaded by path (benchmarks/mlperf_tiny.py has its name)
    spec = importlib.util.spec_from_file_location("mlperf_tiny_builders", ROOT / "tests" / "mlperf_tiny.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def steps(model: Path, build: Path) -> dict[str, float]:
    """Seconds of each compile step, in this process (the steps of ``hwaccel.api.compile``)."""
    from hwaccel.api.compiler import compile_model, write_compiled
    from hwaccel.frontend.fixed_model import fixed_model
    from hwaccel.passes.fold_lanes import FoldTarget
    from hwaccel.passes.size_fifos import size_fifos
    from hwaccel.passes.to_dataflow import to_dataflow
    from hwaccel.perf.model import cycle_model

    out: dict[str, float] = {}
    start = time.perf_counter()

    def lap(name: str) -> None:
        nonlocal start
        now = time.perf_counter()
        out[name] = round(now - start, 3)
        start = now
    fixed, _ = fixed_model(str(model), None)
    lap("import")
    df = to_dataflow(fixed, FoldTarget(multipliers=256), name=model.stem, fifos=False)
    lap("lower and fold")
    df = size_fifos(df)
    lap("FIFOs")
    cycle_model(df, 1, periodic=False, analytic=True)
    lap("report")
    df, extra, _, qdq = compile_model(model, None, FoldTarget(multipliers=256), model.stem)  # (the same, for the writer)
    start = time.perf_counter()
    write_compiled(build, df, extra, qdq, force=True)
    lap("Verilog and files")
    return out


def main() -> None:
    builders = _builders()
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("networks", nargs="*", help=f"any of {', '.join(builders.NETWORKS)} (default all)")
    parser.add_argument("--repeats", type=int, default=3, help="command-line runs per network (default 3)")
    opts = parser.parse_args()
    names = opts.networks or list(builders.NETWORKS)
    if set(names) - set(builders.NETWORKS):
        parser.error(f"networks must be among {builders.NETWORKS}, not {names!r}")
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name in names:
            model = builders.quantized_model(name, Path(tmp))
            build = Path(tmp) / f"{name}_build"
            walls = []
            for _ in range(opts.repeats):
                start = time.perf_counter()
                subprocess.run([sys.executable, "-m", "hwaccel", "compile", str(model), "-o", str(build),
                                "--multipliers", "256", "--force"], check=True, stdout=subprocess.DEVNULL)
                walls.append(round(time.perf_counter() - start, 3))
            breakdown = steps(model, Path(tmp) / f"{name}_steps")
            results[name] = {"command_seconds": walls, "median_seconds": statistics.median(walls),
                             "steps_seconds": breakdown, "under_target": statistics.median(walls) < TARGET_SECONDS}
            print(f"{name}: compile {statistics.median(walls):.1f} s (runs {walls}); steps {breakdown}", flush=True)
    write_json("compile_speed", {"multipliers": 256, "target_seconds": TARGET_SECONDS, "results": results})


if __name__ == "__main__":
    main()
