"""Shared helpers of the benchmark scripts: zoo data, JSON output."""

from __future__ import annotations

import json
import platform
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
sys.path.insert(0, str(ROOT / "tests"))

from zoo_data import MODELS, calibration, split  # noqa: E402

__all__ = ["ROOT", "RESULTS", "MODELS", "calibration", "split", "write_json", "machine", "best_time"]


def machine() -> dict:
    import os

    return {"python": platform.python_version(), "machine": platform.machine(), "cores": os.cpu_count(),
            "date": time.strftime("%Y-%m-%d")}


def write_json(name: str, data: dict) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps({"machine": machine(), **data}, indent=2, sort_keys=True) + "\n")
    print(f"wrote {path}")
    return path


def best_time(fn, repeats: int = 7) -> float:
    """Fastest of ``repeats`` timed calls of ``fn`` after one warm-up call, in seconds."""
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)
