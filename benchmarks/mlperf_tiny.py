"""MLPerf Tiny (AD08, ResNet-8, DS-CNN) compiled at 256 MAC multipliers vs SCALE-Sim 3.0 on a
16x16 systolic array (issue 20's benchmark).

Per network: the reference architecture with random weights, quantized by onnxruntime's
``quantize_static`` (``tests/mlperf_tiny.py``); ``hwaccel.compile`` (``multipliers=256``, in a child process
with a time limit) and ``hwaccel.verify`` of a few inputs on Verilator (another child process):
interval and first-output latency from the build's cycle model, RTL cycles against the model's,
MAC utilization = the float network's MACs / (interval x MAC multipliers), MAC multipliers, DSP blocks, compile and
verify seconds. A failure or a time-out is recorded as the step's ``error`` and the run goes on.
Beside it SCALE-Sim 3.0's cycles for the same conv/dense layers (``scalesim_layers.py``: DS-CNN
without its depthwise layers) for each dataflow; ``os`` reproduces the issue's figures.

Writes benchmarks/results/mlperf_tiny.json (merging: networks not rerun are kept) and
mlperf_tiny.png. Usage: python benchmarks/mlperf_tiny.py [networks] [--skip-verify] [--skip-hwaccel]
[--skip-scalesim] [--dsp N | --multipliers N] [--count N] [--name NAME] [--keep DIR]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from common import RESULTS, ROOT, machine, write_json
from scalesim_layers import DATAFLOWS, ISSUE_CYCLES, LAYERS, PACKAGES, run_scalesim, scalesim_macs


def _builders():  # tests/mlperf_tiny.py, loaded by path: this script has the same module name
    spec = importlib.util.spec_from_file_location("mlperf_tiny_builders", ROOT / "tests" / "mlperf_tiny.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


mlperf_tiny = _builders()

TARGET_INTERVALS = {"ad08": 1_150, "resnet8": 54_300, "dscnn": 11_600}  # issue 20, at 256 multipliers
LABELS = {"ad08": "AD08", "resnet8": "ResNet-8", "dscnn": "DS-CNN"}

# One step in a child interpreter: argv[1] the step, argv[2] its JSON arguments, argv[3] the JSON
# answer file ({"error": ...} on a failure).
CHILD = """
import inspect, json, sys, time, traceback
import hwaccel
step, args, out = sys.argv[1], json.loads(sys.argv[2]), sys.argv[3]
try:
    start = time.perf_counter()
    if step == "compile":
        extra = {"progress": True} if "progress" in inspect.signature(hwaccel.compile).parameters else {}
        r = hwaccel.compile(args["model"], args["build"], force=True, **args["budget"], **extra)
        seconds = time.perf_counter() - start
        answer = {**r.to_dict(), "macs": r.cycles.macs, "layers": r.cycles.to_dict()["layers"]}
    else:
        r = hwaccel.verify(args["build"], args["inputs"], count=args["count"], progress=True)
        seconds = time.perf_counter() - start
        answer = {**r.report, "ok": r.ok}
    answer["seconds"] = seconds
except BaseException as exc:
    traceback.print_exc()
    where = traceback.extract_tb(exc.__traceback__)[-1]
    answer = {"error": f"{type(exc).__name__}: {exc} (at {where.filename}:{where.lineno})"}
with open(out, "w") as f:
    json.dump(answer, f, default=str)
"""


def child(step: str, args: dict, timeout: float, work: Path) -> dict:
    """Run ``step`` in a child interpreter (own process group, killed whole on a time-out)."""
    answer = work / f"{step}.json"
    answer.unlink(missing_ok=True)
    start = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-c", CHILD, step, json.dumps(args), str(answer)], cwd=ROOT,
                            start_new_session=True)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        return {"error": f"timed out after {timeout:.0f} s", "wall_seconds": time.perf_counter() - start}
    wall = time.perf_counter() - start
    if not answer.exists():
        return {"error": f"child exited with code {proc.returncode} and no answer", "wall_seconds": wall}
    return {**json.loads(answer.read_text()), "wall_seconds": wall}


def hwaccel_side(name: str, work: Path, opts: argparse.Namespace) -> dict:
    """Quantize, compile and (unless skipped) verify network ``name``; errors are recorded, not raised."""
    from hwaccel.frontend import load_model
    from hwaccel.summary import summarize

    row: dict = {}
    print(f"[{name}] quantize", flush=True)
    start = time.perf_counter()
    model = mlperf_tiny.quantized_model(name, work)
    row["quantize_seconds"] = time.perf_counter() - start
    row["macs"] = summarize(load_model(str(model.with_name(f"{name}.onnx")))).total_macs  # the float network's
    budget = {"dsp": opts.dsp} if opts.dsp else {"multipliers": opts.multipliers or 256}
    print(f"[{name}] compile {budget} (limit {opts.compile_timeout:.0f} s)", flush=True)
    build = work / name
    compiled = child("compile", {"model": str(model), "build": str(build), "budget": budget}, opts.compile_timeout,
                     work)
    row["compile"] = compiled
    if "error" in compiled:
        print(f"[{name}] compile failed: {compiled['error']}", flush=True)
        return row
    interval, mm = compiled["interval_cycles"], compiled["mac_multipliers"]
    row.update({"interval_cycles": interval, "latency_cycles": compiled["latency_cycles"],
                "mac_multipliers": mm, "dsp_blocks": compiled["multipliers"], "compile_seconds": compiled["seconds"],
                "macs_compiled": compiled["macs"], "mac_utilization": row["macs"] / (interval * mm) if mm else None,
                "mac_utilization_cycle_model": compiled["mac_utilization"],
                "interval_target": TARGET_INTERVALS[name], "meets_target": interval <= TARGET_INTERVALS[name]})
    print(f"[{name}] compiled in {compiled['seconds']:.1f} s: interval {interval:,.0f} cycles, latency "
          f"{compiled['latency_cycles']:,} cycles, {mm} MAC multipliers, {compiled['multipliers']} DSP blocks",
          flush=True)
    if opts.skip_verify:
        return row
    inputs = work / "inputs.npz"
    np.savez(inputs, input=mlperf_tiny.inputs(name, opts.count))
    print(f"[{name}] verify {opts.count} inputs on Verilator (limit {opts.verify_timeout:.0f} s)", flush=True)
    checked = child("verify", {"build": str(build), "inputs": str(inputs), "count": opts.count}, opts.verify_timeout,
                    work)
    row["verify"] = checked
    if "error" in checked:
        print(f"[{name}] verify failed: {checked['error']}", flush=True)
        return row
    row.update({"verify_seconds": checked["seconds"], "bit_exact": checked["bit_exact"],
                "cycles_rtl": checked["cycles_rtl"], "cycles_model": checked["cycles_model"],
                "cycles_match": checked["cycles_match"]})
    print(f"[{name}] verified in {checked['seconds']:.1f} s: bit-exact {checked['bit_exact']}, RTL cycles "
          f"{checked['cycles_rtl']:,} vs model {checked['cycles_model']:,}", flush=True)
    return row


def scalesim_side(name: str, work: Path, dataflows: list[str]) -> dict:
    row: dict = {"layers": [layer[0] for layer in LAYERS[name]], "macs": scalesim_macs(LAYERS[name]),
                 "issue_cycles": ISSUE_CYCLES[name]}
    for df in dataflows:
        print(f"[{name}] SCALE-Sim {df}", flush=True)
        try:
            r = run_scalesim(name, df, work)
        except Exception as exc:  # noqa: BLE001  (recorded; the benchmark goes on)
            row[df] = {"error": f"{type(exc).__name__}: {exc}"}
            print(f"[{name}] SCALE-Sim {df} failed: {exc}", flush=True)
            continue
        row[df] = {**r, "reproduces_issue": r["total_cycles_incl_prefetch"] == ISSUE_CYCLES[name]}
        print(f"[{name}] SCALE-Sim {df}: {r['total_cycles_incl_prefetch']:,} cycles incl. prefetch, "
              f"{r['compute_cycles']:,} compute ({r['seconds']:.1f} s)", flush=True)
    return row


def plot(results: dict, path: Path, budget: dict) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    names = [n for n in mlperf_tiny.NETWORKS if n in results]

    def hw(r: dict) -> float | str:
        return r["hwaccel"].get("interval_cycles", "failed") if "hwaccel" in r else "not run"

    def ss(key: str):
        return lambda r: r.get("scalesim", {}).get("os", {}).get(key, "failed" if "scalesim" in r else "not run")

    series = [("hwaccel interval", hw),
              ("SCALE-Sim os, incl. prefetch (the issue's)", ss("total_cycles_incl_prefetch")),
              ("SCALE-Sim os, compute only", ss("compute_cycles")),
              ("issue 20 target interval", lambda r: TARGET_INTERVALS[r["network"]])]
    fig, ax = plt.subplots(figsize=(8, 4.5))
    width = 0.8 / len(series)
    top = 100.0
    for i, (_, get) in enumerate(series):
        for j, name in enumerate(names):
            value = get({**results[name], "network": name})
            x = j + (i - (len(series) - 1) / 2) * width
            if isinstance(value, str):
                ax.text(x, 110, value, ha="center", va="bottom", fontsize=7, rotation=90)
                continue
            ax.bar(x, value, width, color=f"C{i}")
            ax.text(x, value * 1.05, f"{value:,.0f}", ha="center", va="bottom", fontsize=7, rotation=90)
            top = max(top, value)
    ax.set_xticks(range(len(names)), [LABELS[n] + ("\n(SCALE-Sim without depthwise)" if n == "dscnn" else "")
                                      for n in names])
    ax.set_yscale("log")
    ax.set_ylim(100, top * 40)
    ax.set_ylabel("cycles per inference")
    (kind, value), = budget.items()
    what = "DSP blocks" if kind == "dsp" else "MAC multipliers"
    ax.set_title(f"MLPerf Tiny: hwaccel at {value} {what} vs SCALE-Sim 3.0, 16x16 array")
    ax.legend([Patch(color=f"C{i}") for i in range(len(series))], [label for label, _ in series], fontsize=8,
              loc="upper left", ncols=2)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    print(f"wrote {path}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("networks", nargs="*", help=f"networks (default: {' '.join(mlperf_tiny.NETWORKS)})")
    parser.add_argument("--skip-verify", action="store_true", help="compile only")
    parser.add_argument("--skip-hwaccel", action="store_true", help="SCALE-Sim only")
    parser.add_argument("--skip-scalesim", action="store_true", help="hwaccel only")
    parser.add_argument("--dataflows", nargs="+", choices=DATAFLOWS, default=list(DATAFLOWS))
    budget = parser.add_mutually_exclusive_group()
    budget.add_argument("--dsp", type=int, help="DSP-block budget instead of --multipliers")
    budget.add_argument("--multipliers", type=int, help="MAC-multiplier budget (default 256, as the issue's targets count)")
    parser.add_argument("--count", type=int, default=3, help="inputs verified on Verilator (default 3)")
    parser.add_argument("--compile-timeout", type=float, default=600.0)
    parser.add_argument("--verify-timeout", type=float, default=1800.0)
    parser.add_argument("--name", default="mlperf_tiny", help="results/NAME.json and NAME.png (default mlperf_tiny)")
    parser.add_argument("--keep", type=Path, help="work directory to keep (models, builds, SCALE-Sim runs)")
    opts = parser.parse_args(argv)
    names = opts.networks or list(mlperf_tiny.NETWORKS)
    if set(names) - set(mlperf_tiny.NETWORKS):
        parser.error(f"networks must be among {mlperf_tiny.NETWORKS}, not {names!r}")
    path = RESULTS / f"{opts.name}.json"
    data = json.loads(path.read_text()) if path.exists() else {}
    results = data.get("results", {})
    with tempfile.TemporaryDirectory() as tmp:
        work = opts.keep or Path(tmp)
        for name in names:
            row = {**results.get(name, {})}
            if not opts.skip_scalesim:
                row["scalesim"] = scalesim_side(name, work / name / "scalesim", opts.dataflows)
            if not opts.skip_hwaccel:
                hw = hwaccel_side(name, work / name, opts)
                row["hwaccel"] = {**hw, "machine": machine()}
            results[name] = row
            data.update({"results": results, "budget": {"dsp": opts.dsp} if opts.dsp
                         else {"multipliers": opts.multipliers or 256}, "verify_count": opts.count, "array": "16x16",
                         "scalesim_packages": list(PACKAGES), "target_intervals": TARGET_INTERVALS,
                         "scalesim_issue_cycles": ISSUE_CYCLES})
            write_json(opts.name, data)  # after each network: a later crash keeps what was measured
    plot(results, RESULTS / f"{opts.name}.png", data["budget"])


if __name__ == "__main__":
    main()
