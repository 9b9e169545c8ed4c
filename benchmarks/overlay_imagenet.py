"""The ImageNet networks of the onnx wheel on the overlay (an estimate: perf/overlay.py), two targets.

Each ``light_*.onnx`` is quantized by ``hwaccel quantize`` (8 random N(0, 1) calibration images,
per-channel int8) and its hardware layers scheduled on:

* a ZU9EG-class part (2,520 DSP slices, 912 BRAM36 = 4.2 MB on chip) with DDR4-2400 x64
  (19.2 GB/s) at 300 MHz, the Vitis AI DPU's setting on the ZCU102;
* an ECP5-85k (156 18x18 multipliers, 208 DP16KD = 468 KB) with DDR3-1600 x16 (3.2 GB/s) at 100 MHz.

A row of the array spends ``REQUANT_MULTIPLIERS`` (2) multipliers on its requantizer (a 32 x 16 product), so
``rows x (cols + 2)`` is within the part's multipliers. The multiplier bound is MACs / (array
multipliers x clock). For scale, the DPU publishes 70.8 fps (one thread) and 164.7 fps (several)
for ResNet-50 on three B4096 cores at 281 MHz (6,144 MACs a cycle), 17 % and 39 % of its bound
(Vitis AI model zoo, ZCU102 figures). Writes benchmarks/results/overlay_imagenet.json and a
roofline of ResNet-50 (overlay_resnet50_roofline.png). Usage: python benchmarks/overlay_imagenet.py
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import onnx

from common import RESULTS, write_json

from hwaccel import api
from hwaccel.api.overlay import REQUANT_MULTIPLIERS, onchip_bytes
from hwaccel.estimate.devices import device
from hwaccel.bench.roofline import roofline_png
from hwaccel.errors import HwaccelError
from hwaccel.frontend.fixed_model import fixed_model
from hwaccel.passes.overlay_layers import overlay_layers
from hwaccel.perf.memory import MEMORIES
from hwaccel.perf.overlay import OverlayReport, choose_array

LIGHT = Path(onnx.__file__).parent / "backend" / "test" / "data" / "light"
TARGETS = {  # name: (multipliers, on-chip bytes, memory, clock MHz), from the parts' budgets
    f"{part}+{mem}": (device(part).budget.dsp_blocks, onchip_bytes(part), mem, clock)
    for part, mem, clock in (("zu9eg", "ddr4-2400-x64", 300.0), ("ecp5-85k", "ddr3-1600-x16", 100.0))
}


def _calibration(model: Path, out: Path) -> Path:
    m = onnx.load(str(model), load_external_data=False)
    init = {t.name for t in m.graph.initializer}
    x = next(i for i in m.graph.input if i.name not in init)
    shape = [d.dim_value or 1 for d in x.type.tensor_type.shape.dim]
    shape[0] = 8
    path = out / f"{model.stem}.calib.npy"
    np.save(path, np.random.default_rng(0).standard_normal(shape).astype(np.float32))
    return path


def _summary(r: OverlayReport) -> dict:
    return {"array": f"{r.rows}x{r.cols}", "multipliers": r.multipliers, "cycles": r.cycles, "fps": round(r.throughput_fps, 2),
            "bound_fraction": round(r.bound_fraction, 4), "weight_bytes": r.weight_bytes, "activation_bytes": r.activation_bytes,
            "bytes_per_inference": r.bytes_per_inference, "memory_bound_layers": r.memory_bound_layers,
            "max_layer_need_gbytes_per_s": round(max(l.need_gbytes_per_s for l in r.layers), 2)}


def main() -> int:
    results: dict = {}
    with tempfile.TemporaryDirectory() as tmp:
        for model in sorted(LIGHT.glob("light_*.onnx")):
            name = model.stem.removeprefix("light_")
            row: dict = {}
            results[name] = row
            start = time.perf_counter()
            try:
                q = api.quantize(model, _calibration(model, Path(tmp)), output=Path(tmp) / f"{name}.qdq.onnx", force=True)
                row["quantize_s"] = round(time.perf_counter() - start, 2)
                fixed, _ = fixed_model(str(q.output), None)
                layers = overlay_layers(fixed)
            except HwaccelError as exc:
                row["error"] = str(exc)
                print(f"{name}: {exc}")
                continue
            row.update(layers=len(layers), gmacs=round(sum(l.macs for l in layers) / 1e9, 3),
                       weight_mbytes=round(sum(l.weight_bytes for l in layers) / 1e6, 2))
            for target, (mults, onchip, mem, clock) in TARGETS.items():
                r = choose_array(layers, mults, onchip, MEMORIES[mem].port(clock), row_cost=REQUANT_MULTIPLIERS)
                row[target] = _summary(r)
                if name == "resnet50":
                    row[target]["layers"] = [{"name": l.name, "kind": l.kind, "cycles": l.cycles, "bound": l.bound,
                                              "bytes": l.bytes, "need_gbytes_per_s": round(l.need_gbytes_per_s, 3)}
                                             for l in r.layers]
                    if target.startswith("zu9eg"):
                        roofline_png(r, RESULTS / "overlay_resnet50_roofline.png", force=True)
            print(name, {t: (row[t]["array"], row[t]["fps"], row[t]["bound_fraction"]) for t in TARGETS})
    write_json("overlay_imagenet", {"targets": {k: {"multipliers": v[0], "onchip_bytes": v[1], "memory": v[2], "clock_mhz": v[3]}
                                                for k, v in TARGETS.items()},
                                    "requant_dsp_per_row": REQUANT_MULTIPLIERS, "models": results})
    return 0


if __name__ == "__main__":
    sys.exit(main())
