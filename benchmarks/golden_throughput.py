"""Golden integer model throughput on the zoo CNN at batch 256 (images/s), vs the float executor.

Writes benchmarks/results/golden_throughput.json.
"""

from __future__ import annotations

import numpy as np

from common import MODELS, best_time, calibration, split, write_json

from hwaccel.frontend import load_model
from hwaccel.frontend.qdq import lower_model
from hwaccel.frontend.quantize import QuantConfig, quantize_graph
from hwaccel.golden.float_executor import run_float
from hwaccel.golden.fixed import run_golden


def main(batch: int = 256) -> None:
    graph = load_model(MODELS / "cnn.onnx")
    qdq, _ = quantize_graph(graph, {"input": calibration("cnn")}, QuantConfig())
    fixed = lower_model(qdq)
    x = np.resize(split("cnn")[2], (batch, 1, 8, 8))
    t_golden = best_time(lambda: run_golden(fixed, {"input": x}))
    t_float = best_time(lambda: run_float(graph, {"input": x}))
    write_json("golden_throughput", {
        "model": "cnn", "batch": batch,
        "golden_images_per_s": batch / t_golden, "float_images_per_s": batch / t_float,
        "golden_seconds_per_batch": t_golden, "float_seconds_per_batch": t_float,
    })
    print(f"golden {batch / t_golden:,.0f} images/s, float executor {batch / t_float:,.0f} images/s")


if __name__ == "__main__":
    main()
