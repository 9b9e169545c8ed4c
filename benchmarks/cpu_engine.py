"""CPU engine throughput on the zoo CNN at batch 1024: 1 and all cores, vs onnxruntime on the same QDQ file.

Bit-exactness is checked on every run. Writes benchmarks/results/cpu_engine.json.
"""

from __future__ import annotations

import os

import numpy as np

from common import MODELS, best_time, calibration, split, write_json

from hwaccel.frontend import load_model
from hwaccel.frontend.qdq import lower_model
from hwaccel.frontend.quantize import QuantConfig, quantize_graph
from hwaccel.golden.fixed import run_golden
from hwaccel.ref.cpu import CpuEngine


def best_rate(fn, batch: int) -> float:
    return batch / best_time(fn)


def main(batch: int = 1024) -> None:
    import onnxruntime as ort

    qdq, _ = quantize_graph(load_model(MODELS / "cnn.onnx"), {"input": calibration("cnn")}, QuantConfig())
    fixed = lower_model(qdq)
    x = np.resize(split("cnn")[2], (batch, 1, 8, 8)).astype(np.float32)
    golden = run_golden(fixed, {"input": x})["output"]
    cores = os.cpu_count() or 1
    rates: dict[str, float] = {}
    for workers in sorted({1, cores}):
        with CpuEngine(fixed, workers) as engine:
            assert np.array_equal(engine.run({"input": x})["output"], golden), "cpu engine differs from golden"
            rates[f"hwaccel_cpu_{workers}_cores"] = best_rate(lambda: engine.run({"input": x}), batch)
    for threads in sorted({1, cores}):
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        session = ort.InferenceSession(qdq.SerializeToString(), options, providers=["CPUExecutionProvider"])
        rates[f"onnxruntime_qdq_{threads}_threads"] = best_rate(lambda: session.run(None, {"input": x}), batch)
    result = {
        "model": "cnn (8-bit QDQ)", "batch": batch, "images_per_s": rates,
        "ratio_cpu_all_cores_to_onnxruntime_all_threads": rates[f"hwaccel_cpu_{cores}_cores"] / rates[f"onnxruntime_qdq_{cores}_threads"],
        "scaling_1_to_all_cores": rates[f"hwaccel_cpu_{cores}_cores"] / rates["hwaccel_cpu_1_cores"],
        "bit_exact_vs_golden": True,
    }
    write_json("cpu_engine", result)
    for k, v in rates.items():
        print(f"{k:32s} {v:12,.0f} images/s")


if __name__ == "__main__":
    main()
