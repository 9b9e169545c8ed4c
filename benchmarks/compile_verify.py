"""Compile time, Verilator verification throughput and cycle-model speed for the zoo models and
for torch-exported CNNs quantized by onnxruntime.

Zoo (``results``): for each zoo model that compiles, seconds to quantize+compile (+ emit Verilog),
then ``verify`` of 100 held-out digits on Verilator (images/s, simulated cycles/s, bit-exact, cycles
equal) and the ratio of RTL simulation time to cycle-model time for the same inputs (issue target
>= 1e4). The model time is cold: the first ``cycle_model`` call for the 100 inputs in a fresh
interpreter after reading the build (what `hwaccel simulate` times), median of 5 processes
(``cycle_model_speed.cold_seconds``); ``verify_model_seconds`` is what verify timed in-process.

Torch (``torch_onnxruntime``): ``tests/data/{conv_variants,resnet_bn}.onnx`` quantized by
onnxruntime's ``quantize_static`` (per-tensor int8 and per-channel uint8 QDQ), compiled by the
``hwaccel compile`` command and verified on 100 uniform(-1.5, 1.5) inputs on Verilator, through
``tests/test_commands_verify_torch.py``'s :func:`torch_build` (the same path the test takes).

Writes benchmarks/results/compile_verify.json, merging into what is there: the entries not rerun
are kept. Usage: python benchmarks/compile_verify.py [--torch] [models]
(no arguments: the zoo and the torch cases; models: those zoo models; --torch: the torch cases).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from common import RESULTS, ROOT, machine, split, write_json
from cycle_model_speed import cold_seconds

sys.path.insert(0, str(ROOT / "rtl"))
sys.path.insert(0, str(ROOT))  # sim/, for the test module
import generate  # noqa: E402  (rtl/generate.py: quantize + compile + emit, as `make rtl`)

from hwaccel.sim.verify import verify_build  # noqa: E402

MODELS = ["cnn", "mlp", "autoencoder", "dbn", "resnet", "dscnn"]
IMAGES = 100


def verify_row(build: Path, inputs: Path, count: int = IMAGES) -> dict:
    """The verify figures of ``build`` on the first ``count`` inputs, with the cold cycle-model time."""
    report = verify_build(build, str(inputs), count=count, simulator="verilator", progress=False)
    model = cold_seconds(build, count)
    return {
        "bit_exact": report["bit_exact"], "mismatches": report["mismatches"], "count": report["count"],
        "cycles_rtl": report["cycles_rtl"], "cycles_model": report["cycles_model"],
        "verilator_images_per_s": report["images_per_s"], "verilator_cycles_per_s": report["cycles_per_s"],
        "rtl_sim_seconds": report["sim_seconds"], "cycle_model_seconds": model["median"],
        "cycle_model_seconds_min": model["min"], "verify_model_seconds": report["model_seconds"],
        "rtl_to_model_time_ratio": report["sim_seconds"] / model["median"],
    }


def zoo(names: list[str], tmp: Path) -> dict:
    results = {}
    for name in names:
        build = tmp / name
        start = time.perf_counter()
        generate.generate(name, build)
        compile_s = time.perf_counter() - start
        inputs = tmp / f"{name}.npz"
        np.savez(inputs, input=split(name)[2][:IMAGES])
        results[name] = {"compile_seconds": compile_s, **verify_row(build, inputs)}
        print(name, results[name])
    return results


def torch(tmp: Path) -> dict:
    import onnxruntime

    from test_commands_verify_torch import CASES, INPUT_SEED, torch_build

    results = {}
    for model, flavour in CASES:
        work = tmp / f"{model}-{flavour}"
        work.mkdir()
        build, inputs, compiled = torch_build(work, model, flavour, IMAGES)
        row = {"quantize_seconds": compiled["quantize_seconds"], "compile_seconds": compiled["compile_seconds"],
               "stages": compiled["stages"], "interval_cycles": compiled["interval_cycles"],
               "latency_cycles": compiled["latency_cycles"], **verify_row(build, inputs)}
        results[f"{model}/{flavour}"] = row
        print(model, flavour, row)
    return {"machine": machine(), "images": IMAGES, "onnxruntime": onnxruntime.__version__,
            "inputs": f"uniform(-1.5, 1.5), numpy default_rng({INPUT_SEED})",
            "quantizer": "onnxruntime quant_pre_process + quantize_static, 64 standard-normal calibration inputs",
            "compile": "hwaccel compile (default folding target)", "results": results}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("models", nargs="*", help=f"zoo models (default with no --torch: {' '.join(MODELS)})")
    parser.add_argument("--torch", action="store_true", help="run the onnxruntime-quantized torch cases")
    args = parser.parse_args(argv)
    names = args.models or ([] if args.torch else MODELS)
    path = RESULTS / "compile_verify.json"
    data = json.loads(path.read_text()) if path.exists() else {}
    data.update({"images": IMAGES, "simulator": "verilator (through cocotb)", "target_rtl_to_model_ratio": 1e4})
    with tempfile.TemporaryDirectory() as tmp:
        if names:
            data["results"] = {**data.get("results", {}), **zoo(names, Path(tmp))}
            data["machine"] = machine()  # the machine and date of the latest zoo run
        if args.torch or not args.models:
            previous = data.get("torch_onnxruntime", {}).get("results", {})
            section = torch(Path(tmp))
            data["torch_onnxruntime"] = {**section, "results": {**previous, **section["results"]}}
    write_json("compile_verify", data)


if __name__ == "__main__":
    main()
