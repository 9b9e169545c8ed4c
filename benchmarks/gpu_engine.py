"""GPU engine throughput on the zoo CNN at batch 1024 (images/s) vs the golden model and the CPU engine.

Runs on CUDA when PyTorch sees a device, else on torch's CPU device. Timed end to end (host inputs in,
host outputs out) with device constants cached, best of 20 after a warm-up. Each engine runs in a fresh
process whose glibc heap neither trims nor mmaps (``MALLOC_*`` below): otherwise temporaries above
glibc's 32 MiB mmap ceiling are page-faulted and zeroed anew on every call, and CPU timings swing
by up to 3x with whatever ran before (steady-state throughput is what is compared). Bit-exactness
against golden is checked after the timing. Writes benchmarks/results/gpu_engine.json.
"""

from __future__ import annotations

import multiprocessing
import os
import platform
from concurrent.futures import ProcessPoolExecutor

import numpy as np
import torch

from common import MODELS, calibration, split, write_json
from cpu_engine import best_rate

from hwaccel.frontend import load_model
from hwaccel.frontend.qdq import lower_model
from hwaccel.frontend.quantize import QuantConfig, quantize_graph
from hwaccel.golden.fixed import run_golden
from hwaccel.ref.cpu import CpuEngine
from hwaccel.ref.gpu import GpuEngine


REPEATS = 20  # best of 20: the box is shared
STEADY_HEAP = {"MALLOC_MMAP_THRESHOLD_": str(1 << 30), "MALLOC_TRIM_THRESHOLD_": str(1 << 31)}


def measure(engine: str, batch: int, device: str) -> float:
    """Images/s of ``engine`` ("golden", "gpu" or "cpu"); the outputs are then checked against golden."""
    qdq, _ = quantize_graph(load_model(MODELS / "cnn.onnx"), {"input": calibration("cnn")}, QuantConfig())
    fixed = lower_model(qdq)
    feeds = {"input": np.resize(split("cnn")[2], (batch, 1, 8, 8)).astype(np.float32)}
    if engine == "golden":
        return best_rate(lambda: run_golden(fixed, feeds), batch, REPEATS)
    if engine == "gpu":
        gpu = GpuEngine(fixed, device)
        rate, out = best_rate(lambda: gpu.run(feeds), batch, REPEATS), gpu.run(feeds)["output"]
    else:
        with CpuEngine(fixed, os.cpu_count() or 1) as cpu:
            rate, out = best_rate(lambda: cpu.run(feeds), batch, REPEATS), cpu.run(feeds)["output"]
    assert np.array_equal(out, run_golden(fixed, feeds)["output"]), f"{engine} engine differs from golden"
    return rate


def main(batch: int = 1024) -> None:
    device = "cuda" if torch.cuda.is_available() else "cpu"
    cpu_name = f"{platform.processor() or platform.machine()} (torch CPU, {torch.get_num_threads()} threads)"
    name = torch.cuda.get_device_name() if device == "cuda" else cpu_name
    cores = os.cpu_count() or 1
    os.environ.update(STEADY_HEAP)  # read by the fresh processes' allocator at start
    rates = {}
    for engine, key in [("golden", "golden"), ("gpu", f"gpu_engine_{device}"), ("cpu", f"cpu_engine_{cores}_cores")]:
        with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as fresh:
            rates[key] = fresh.submit(measure, engine, batch, device).result()
    result = {
        "model": "cnn (8-bit QDQ)", "batch": batch, "device": device, "device_name": name, "torch": torch.__version__,
        "images_per_s": rates,
        "ratio_gpu_engine_to_golden": rates[f"gpu_engine_{device}"] / rates["golden"],
        "ratio_gpu_engine_to_cpu_engine": rates[f"gpu_engine_{device}"] / rates[f"cpu_engine_{cores}_cores"],
        "bit_exact_vs_golden": True, "allocator_env": STEADY_HEAP,
    }
    write_json("gpu_engine", result)
    print(f"device: {name}")
    for k, v in rates.items():
        print(f"{k:24s} {v:12,.0f} images/s")


if __name__ == "__main__":
    main()
