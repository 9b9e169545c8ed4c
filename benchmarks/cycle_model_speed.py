"""Where the cycle model's time goes, cold, for each rtl/<model> build, and its speed against the RTL.

Every figure is the first call in a fresh interpreter after reading the build (nothing analysed,
generated or compiled before). ``batch_<N>.simulate``: ``cycle_model`` for N inputs, what `hwaccel
simulate` times (totals and per-layer figures); ``batch_<N>.total_cycles``: what `hwaccel verify`
times; median (and min) of ``REPEATS`` processes. ``phases`` (one more process): ``netlist``
(control models, MatVec tile maps), ``run``
(simulate until the period repeats and enough images have left), ``extrapolate`` (each batch's
total from the run), ``figures`` (per-layer MACs, multipliers, memory). The ratio divides the
Verilator time of the same 100 images recorded by compile_verify.py (results/compile_verify.json)
by the median ``batch_100.simulate``; ``batch_for_target_ratio`` is the batch at which that ratio
would reach 1e4 (the model's time does not grow with the batch, the RTL's does).
Writes benchmarks/results/cycle_model_speed.json. Usage: python benchmarks/cycle_model_speed.py [models]
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

from common import RESULTS, ROOT, write_json

MODELS = ["mlp", "cnn", "autoencoder", "dbn", "resnet", "dscnn"]
BATCHES = (1, 100)
REPEATS = 5
TARGET = 1e4


def _child_cold(build: str, batch: int, what: str) -> dict:
    from hwaccel.build_dir import read_build
    from hwaccel.perf.model import cycle_model, total_cycles

    df, _ = read_build(build)
    start = time.perf_counter()
    total = cycle_model(df, batch).total_cycles if what == "simulate" else total_cycles(df, batch)[0]
    return {"seconds": time.perf_counter() - start, "total_cycles": total}


def _child_phases(build: str) -> dict:
    from hwaccel.build_dir import read_build
    from hwaccel.perf import network
    from hwaccel.perf.model import layer_reports, periodic_run, total_cycles

    df, _ = read_build(build)
    times, clock = {}, time.perf_counter()

    def lap(name: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        times[name], clock = now - clock, now

    net = network._NETLISTS[df] = network.Netlist(df)
    lap("netlist")
    run = periodic_run(df)
    lap("run")
    totals = {b: total_cycles(df, b, run)[0] for b in BATCHES}
    lap("extrapolate")
    layer_reports(df, run)
    lap("figures")
    return {"seconds": times, "nodes": len(net.nodes), "period": run.period, "simulated_cycles": run.cycles,
            "total_cycles": totals}


def _in_child(*args: str) -> dict:
    out = subprocess.run([sys.executable, __file__, "--child", *args], capture_output=True, text=True, cwd=ROOT, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def cold_seconds(build: str | Path, batch: int, what: str = "simulate", repeats: int = REPEATS) -> dict[str, float]:
    """Seconds of the first ``cycle_model`` (``what="simulate"``) or ``total_cycles`` call, each in a fresh
    process: ``median`` and ``min`` of ``repeats`` (the machine is shared: the median is the figure quoted)."""
    times = [_in_child("cold", str(build), str(batch), what)["seconds"] for _ in range(repeats)]
    return {"median": statistics.median(times), "min": min(times)}


def main(names: list[str]) -> None:
    rtl = json.loads((RESULTS / "compile_verify.json").read_text()) if (RESULTS / "compile_verify.json").exists() else {}
    results = {}
    for name in names:
        build = ROOT / "rtl" / name
        row: dict = {"phases": _in_child("phases", str(build))}
        for batch in BATCHES:
            row[f"batch_{batch}"] = {what: cold_seconds(build, batch, what) for what in ("simulate", "total_cycles")}
        rtl_s = rtl.get("results", {}).get(name, {}).get("rtl_sim_seconds")
        if rtl_s:
            model_s = row["batch_100"]["simulate"]["median"]
            row["rtl_sim_seconds_100"] = rtl_s
            row["rtl_to_model_time_ratio"] = rtl_s / model_s
            row["batch_for_target_ratio"] = TARGET * model_s / (rtl_s / 100)  # model time is flat in the batch
        results[name] = row
        print(name, json.dumps(row))
    write_json("cycle_model_speed", {"builds": "rtl/<model>", "cold": "first call in a fresh interpreter, median of "
                                     f"{REPEATS}", "target_rtl_to_model_ratio": TARGET, "results": results,
                                     "rtl_times_from": rtl.get("machine", {}).get("date")})


if __name__ == "__main__":
    if sys.argv[1:2] == ["--child"]:
        kind, *rest = sys.argv[2:]
        result = _child_cold(rest[0], int(rest[1]), rest[2]) if kind == "cold" else _child_phases(rest[0])
        print(json.dumps(result))
    else:
        main(sys.argv[1:] or MODELS)
