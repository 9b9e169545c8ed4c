"""Compile time, Verilator verification throughput and cycle-model speed for the zoo models.

For each zoo model that compiles: seconds to quantize+compile (+ emit Verilog), then ``verify`` of
100 held-out digits on Verilator (images/s, simulated cycles/s, bit-exact, cycles equal) and the
ratio of RTL simulation time to cycle-model time for the same inputs (issue target >= 1e4). The
model time is cold: the first ``cycle_model`` call for the 100 inputs in a fresh interpreter after
reading the build (what `hwaccel simulate` times), median of 5 processes
(``cycle_model_speed.cold_seconds``); ``verify_model_seconds`` is what verify timed in-process.
Writes benchmarks/results/compile_verify.json. Usage: python benchmarks/compile_verify.py [models]
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from common import ROOT, split, write_json
from cycle_model_speed import cold_seconds

sys.path.insert(0, str(ROOT / "rtl"))
import generate  # noqa: E402  (rtl/generate.py: quantize + compile + emit, as `make rtl`)

from hwaccel.commands.verify import verify  # noqa: E402

MODELS = ["cnn", "mlp", "autoencoder", "dbn", "resnet", "dscnn"]


def main(names: list[str]) -> None:
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name in names:
            build = Path(tmp) / name
            start = time.perf_counter()
            generate.generate(name, build)
            compile_s = time.perf_counter() - start
            inputs = Path(tmp) / f"{name}.npz"
            np.savez(inputs, input=split(name)[2][:100])
            report = verify(build, str(inputs), count=100, simulator="verilator", progress=False)
            model = cold_seconds(build, 100)
            results[name] = {
                "compile_seconds": compile_s,
                "bit_exact": report["bit_exact"], "cycles_rtl": report["cycles_rtl"], "cycles_model": report["cycles_model"],
                "verilator_images_per_s": report["images_per_s"], "verilator_cycles_per_s": report["cycles_per_s"],
                "rtl_sim_seconds": report["sim_seconds"], "cycle_model_seconds": model["median"],
                "cycle_model_seconds_min": model["min"], "verify_model_seconds": report["model_seconds"],
                "rtl_to_model_time_ratio": report["sim_seconds"] / model["median"],
            }
            print(name, results[name])
    write_json("compile_verify", {"images": 100, "simulator": "verilator (through cocotb)", "results": results,
                                  "target_rtl_to_model_ratio": 1e4})


if __name__ == "__main__":
    main(sys.argv[1:] or MODELS)
