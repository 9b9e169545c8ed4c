"""CPU engine throughput on the zoo CNN at batch 1024 against onnxruntime on the same QDQ model, same run.

Engines: onnxruntime on the QDQ model with 1 intra-op thread and with one per core; the hwaccel cpu
engine with 1 worker, one worker per core, and 1 worker x 2 pipeline stages. The box is shared, so
every engine is timed in several interleaved rounds (fresh session or engine each round, one warm-up
run, then ``RUNS`` timed runs) and its best run counts; the load average and, per engine, the cores
its processes kept busy while timed (CPU time / wall time, the engine's shard processes included) are recorded: a multi-core figure well
below the core count means the cores were not all free. Bit-exactness against golden is checked on
every hwaccel engine's warm-up output. BLAS is held at one thread for the whole script (the engine
does so while open; onnxruntime does not use it). Writes benchmarks/results/cpu_engine.json.
"""

from __future__ import annotations

import os
import time
from typing import Any, Callable

import numpy as np
from threadpoolctl import threadpool_limits

from common import MODELS, best_time, calibration, split, write_json

from hwaccel.frontend import load_model
from hwaccel.frontend.qdq import lower_model
from hwaccel.frontend.quantize import QuantConfig, quantize_graph
from hwaccel.golden.fixed import run_golden
from hwaccel.ref.cpu import CpuEngine

ROUNDS, RUNS = 5, 20
Run = Callable[[], Any]


def best_rate(fn: Run, batch: int) -> float:
    """Images/s of the fastest of several timed calls of ``fn`` on a batch of ``batch``."""
    return batch / best_time(fn)


def _ort_session(model: Any, threads: int) -> Any:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    return ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])


def _process_cpu_seconds(pids: list[int]) -> float:
    """User + system CPU seconds of this process and of ``pids`` (its engine's shard processes)."""
    total = time.process_time()
    for pid in pids:
        fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime
    return total


def _engines(qdq: Any, fixed: Any, x: np.ndarray, cores: int) -> dict[str, Callable[[], tuple[Run, Run, list[int]]]]:
    """name -> make(): (run returning the final codes' float outputs, close, the engine's shard processes)."""
    def ort(threads: int) -> tuple[Run, Run, list[int]]:
        session = _ort_session(qdq, threads)
        return (lambda: session.run(None, {"input": x})[0]), (lambda: None), []

    def cpu(workers: int, stages: int = 1) -> tuple[Run, Run, list[int]]:
        engine = CpuEngine(fixed, workers, stages)
        return (lambda: engine.run({"input": x})["output"]), engine.close, engine.worker_pids

    engines = {"onnxruntime_qdq_1_thread": lambda: ort(1), f"onnxruntime_qdq_{cores}_threads": lambda: ort(cores),
               "hwaccel_cpu_1_worker": lambda: cpu(1), f"hwaccel_cpu_{cores}_workers": lambda: cpu(cores),
               "hwaccel_cpu_1_worker_2_pipeline_stages": lambda: cpu(1, 2)}
    return engines


def main(batch: int = 1024) -> None:
    qdq, _ = quantize_graph(load_model(MODELS / "cnn.onnx"), {"input": calibration("cnn")}, QuantConfig())
    fixed = lower_model(qdq)
    x = np.resize(split("cnn")[2], (batch, 1, 8, 8)).astype(np.float32)
    golden = run_golden(fixed, {"input": x})["output"]
    cores = os.cpu_count() or 1
    engines = _engines(qdq, fixed, x, cores)
    best = {name: float("inf") for name in engines}
    busy = {name: [0.0, 0.0] for name in engines}  # CPU seconds, wall seconds
    load_before = os.getloadavg()
    with threadpool_limits(limits=1, user_api="blas"):
        for _ in range(ROUNDS):
            for name, make in engines.items():
                run, close, pids = make()
                try:
                    out = run()
                    if name.startswith("hwaccel"):
                        assert np.array_equal(out, golden), f"{name} differs from golden"
                    cpu_start, wall_start = _process_cpu_seconds(pids), time.perf_counter()
                    for _ in range(RUNS):
                        start = time.perf_counter()
                        run()
                        best[name] = min(best[name], time.perf_counter() - start)
                    busy[name][0] += _process_cpu_seconds(pids) - cpu_start
                    busy[name][1] += time.perf_counter() - wall_start
                finally:
                    close()
    rates = {name: batch / seconds for name, seconds in best.items()}
    ort_best = max(rates["onnxruntime_qdq_1_thread"], rates[f"onnxruntime_qdq_{cores}_threads"])
    cpu_all = rates[f"hwaccel_cpu_{cores}_workers"]
    result = {
        "model": "cnn (8-bit QDQ, hwaccel quantize)", "batch": batch, "cpu_count": cores,
        "protocol": f"best run of {ROUNDS} interleaved rounds x {RUNS} runs, fresh session/engine per round",
        "load_average_1min_before_after": [round(load_before[0], 2), round(os.getloadavg()[0], 2)],
        "images_per_s": {k: round(v) for k, v in rates.items()},
        "cores_busy_while_timed": {k: round(cpu / wall, 2) for k, (cpu, wall) in busy.items()},
        "ratio_cpu_all_cores_to_onnxruntime_all_threads": cpu_all / rates[f"onnxruntime_qdq_{cores}_threads"],
        "ratio_cpu_all_cores_to_onnxruntime_1_thread": cpu_all / rates["onnxruntime_qdq_1_thread"],
        "ratio_cpu_all_cores_to_onnxruntime_best": cpu_all / ort_best,
        "ratio_cpu_1_worker_to_onnxruntime_1_thread": rates["hwaccel_cpu_1_worker"] / rates["onnxruntime_qdq_1_thread"],
        "scaling_1_to_all_cores": cpu_all / rates["hwaccel_cpu_1_worker"],
        "targets": {"ratio_to_onnxruntime": 1.0, "scaling_1_to_2_cores": 1.5},
        "bit_exact_vs_golden": True,
    }
    write_json("cpu_engine", result)
    for name, rate in rates.items():
        print(f"{name:40s} {rate:12,.0f} images/s")
    for key in sorted(k for k in result if k.startswith(("ratio", "scaling"))):
        print(f"{key:50s} {result[key]:.2f}")


if __name__ == "__main__":
    main()
