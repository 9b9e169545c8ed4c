"""SCALE-Sim 3.0 reference for the MLPerf Tiny networks: their conv/dense layers as SCALE-Sim
topologies, run in SCALE-Sim's own virtualenv (it needs numpy < 2.4; the project's .venv has newer).

Conventions (they reproduce issue 20's figures 48,123 / 83,936 / 21,877 exactly, with ``os``):
- a conv layer's IFMAP is its input plus the ONNX padding on each side (SCALE-Sim has no padding);
  SCALE-Sim rounds a strided layer's output up (34x34, 3x3, stride 2: 17x17, not 16x16), so its
  MAC count is a little above the network's;
- a dense layer is a 1x1 conv on a 1x1 IFMAP (the same cycles as SCALE-Sim's GEMM form M=1);
- DS-CNN's depthwise layers are left out, as are pooling and the residual adds;
- a 16x16 array, SCALE-Sim's default SRAMs (256/256/128 kB), CALC bandwidth (no stalls).
Per layer SCALE-Sim reports "Total Cycles (incl. prefetch)" (the issue's figures: compute plus the
first fill of the SRAMs from DRAM) and "Total Cycles" (compute only); both are summed over layers.
"""

from __future__ import annotations

import csv
import subprocess
import sys
import time
from pathlib import Path

VENV = Path(__file__).resolve().parent.parent / ".venv-scalesim"
PACKAGES = ("scalesim==3.0.0", "numpy<2.4")
DATAFLOWS = ("os", "ws", "is")
ISSUE_CYCLES = {"ad08": 48_123, "resnet8": 83_936, "dscnn": 21_877}  # issue 20, SCALE-Sim 3.0 at 16x16

# (name, in_h, in_w, k_h, k_w, pad_h, pad_w, c_in, c_out, stride), from tests/mlperf_tiny.py
Layer = tuple[str, int, int, int, int, int, int, int, int, int]


def _dense(sizes: list[int]) -> list[Layer]:
    return [(f"fc{i}", 1, 1, 1, 1, 0, 0, a, b, 1) for i, (a, b) in enumerate(zip(sizes, sizes[1:]))]


LAYERS: dict[str, list[Layer]] = {
    "ad08": _dense([640, 128, 128, 128, 128, 8, 128, 128, 128, 128, 640]),
    "resnet8": [
        ("stem", 32, 32, 3, 3, 1, 1, 3, 16, 1),
        ("s1_conv1", 32, 32, 3, 3, 1, 1, 16, 16, 1), ("s1_conv2", 32, 32, 3, 3, 1, 1, 16, 16, 1),
        ("s2_conv1", 32, 32, 3, 3, 1, 1, 16, 32, 2), ("s2_conv2", 16, 16, 3, 3, 1, 1, 32, 32, 1),
        ("s2_short", 32, 32, 1, 1, 0, 0, 16, 32, 2),
        ("s3_conv1", 16, 16, 3, 3, 1, 1, 32, 64, 2), ("s3_conv2", 8, 8, 3, 3, 1, 1, 64, 64, 1),
        ("s3_short", 16, 16, 1, 1, 0, 0, 32, 64, 2),
        ("fc", 1, 1, 1, 1, 0, 0, 64, 10, 1)],
    "dscnn": [("conv1", 49, 10, 10, 4, 5, 1, 1, 64, 2)]
    + [(f"pw{i}", 25, 5, 1, 1, 0, 0, 64, 64, 1) for i in range(1, 5)]
    + [("fc", 1, 1, 1, 1, 0, 0, 64, 12, 1)],
}

CONFIG = """[general]
run_name = {run}

[architecture_presets]
ArrayHeight: {rows}
ArrayWidth: {cols}
IfmapSramSzkB: 256
FilterSramSzkB: 256
OfmapSramSzkB: 128
IfmapOffset: 0
FilterOffset: 10000000
OfmapOffset: 20000000
Bandwidth: 10
Dataflow: {dataflow}
MemoryBanks: 1
ReadRequestBuffer: 32
WriteRequestBuffer: 32

[layout]
IfmapCustomLayout: False
IfmapSRAMBankBandwidth: 100
IfmapSRAMBankNum: 10
IfmapSRAMBankPort: 2
FilterCustomLayout: False
FilterSRAMBankBandwidth: 100
FilterSRAMBankNum: 10
FilterSRAMBankPort: 2

[sparsity]
SparsitySupport: false
SparseRep: ellpack_block
OptimizedMapping: false
BlockSize: 8
RandomNumberGeneratorSeed: 40

[run_presets]
InterfaceBandwidth: CALC
UseRamulatorTrace: False
"""

# run in the SCALE-Sim venv: no traces, no per-layer printout; reports go to argv[4]/<run_name>/
DRIVER = ("import sys; from scalesim.scale_sim import scalesim; "
          "scalesim(save_disk_space=True, verbose=False, config=sys.argv[1], topology=sys.argv[2], "
          "layout=sys.argv[3]).run_scale(top_path=sys.argv[4])")


def venv_python() -> Path:
    """The SCALE-Sim virtualenv's interpreter, creating the venv first if it is missing."""
    python = VENV / "bin" / "python"
    if python.exists():
        return python
    how = f"python3 -m venv {VENV} && {VENV}/bin/pip install {' '.join(repr(p) for p in PACKAGES)}"
    print(f"creating the SCALE-Sim virtualenv: {how}", flush=True)
    try:
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", *PACKAGES], check=True)
    except (OSError, subprocess.CalledProcessError) as exc:
        raise SystemExit(f"SCALE-Sim virtualenv could not be created ({exc}); create it by hand: {how}")
    return python


def _ifmap(size: int, pad: int) -> int:
    return size + 2 * pad


def out_size(size: int, kernel: int, pad: int, stride: int) -> int:
    """SCALE-Sim's output size of a layer (rounded up, on the padded IFMAP)."""
    return -(-(_ifmap(size, pad) - kernel + stride) // stride)


def scalesim_macs(layers: list[Layer]) -> int:
    """MACs of ``layers`` as SCALE-Sim counts them (its output sizes)."""
    return sum(out_size(h, kh, ph, s) * out_size(w, kw, pw, s) * kh * kw * ci * co
               for _, h, w, kh, kw, ph, pw, ci, co, s in layers)


def write_topology(layers: list[Layer], path: Path) -> Path:
    """SCALE-Sim's conv topology CSV of ``layers`` (one stride for both axes, trailing commas)."""
    rows = ["Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, Num Filter, Strides,"]
    for name, h, w, kh, kw, ph, pw, ci, co, s in layers:
        if kh > h + 2 * ph or kw > w + 2 * pw:
            raise ValueError(f"layer {name}: filter must fit the IFMAP, not {kh}x{kw} on {h}x{w}")
        rows.append(f"{name}, {_ifmap(h, ph)}, {_ifmap(w, pw)}, {kh}, {kw}, {ci}, {co}, {s},")
    path.write_text("\n".join(rows) + "\n")
    return path


def run_scalesim(name: str, dataflow: str, work: Path, rows: int = 16, cols: int = 16,
                 timeout: float = 1800) -> dict:
    """SCALE-Sim on network ``name`` with ``dataflow`` on a ``rows`` x ``cols`` array: summed cycles
    (with and without the prefetch) and the per-layer rows of its COMPUTE_REPORT.csv."""
    work.mkdir(parents=True, exist_ok=True)
    run = f"{name}_{dataflow}"
    config = work / f"{run}.cfg"
    config.write_text(CONFIG.format(run=run, rows=rows, cols=cols, dataflow=dataflow))
    topology = write_topology(LAYERS[name], work / f"{name}.csv")
    layout = work / "layout.csv"  # read, but used only with custom layouts: the header suffices
    layout.write_text("Layer name, IFMAP Height Intraline Factor,\n")
    start = time.perf_counter()
    done = subprocess.run([str(venv_python()), "-c", DRIVER, str(config), str(topology), str(layout), str(work)],
                          timeout=timeout, capture_output=True, text=True)
    if done.returncode:
        raise RuntimeError(f"SCALE-Sim failed on {run} (exit {done.returncode}): {done.stderr.strip()[-2000:]}")
    seconds = time.perf_counter() - start
    with open(work / run / "COMPUTE_REPORT.csv", newline="") as f:
        table = [[c.strip() for c in row if c.strip()] for row in csv.reader(f)]
    per_layer = [{"layer": layer[0], "cycles_incl_prefetch": int(r[1]), "compute_cycles": int(r[2]),
                  "stall_cycles": int(r[3]), "mapping_efficiency_pct": float(r[5])}
                 for layer, r in zip(LAYERS[name], table[1:])]
    return {"total_cycles_incl_prefetch": sum(r["cycles_incl_prefetch"] for r in per_layer),
            "compute_cycles": sum(r["compute_cycles"] for r in per_layer),
            "stall_cycles": sum(r["stall_cycles"] for r in per_layer), "seconds": seconds, "layers": per_layer}
