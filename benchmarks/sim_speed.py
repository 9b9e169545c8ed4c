"""Simulated cycles per second of a MatVec 16x16 unit (PE=4, SIMD=4, 8-bit) on three simulators.

Verilator and Icarus run through cocotb, amaranth.sim in-process; all three are driven cycle by
cycle by the same Python harness (hwaccel/sim/harness.py) with no stalls, and the run is checked against
the golden model and the cycle model. Build time (Verilog export + simulator build, from scratch)
is reported apart. Writes benchmarks/results/sim_speed.json.
"""

from __future__ import annotations

import shutil
import sys
import time

import numpy as np

from common import ROOT, write_json

sys.path.insert(0, str(ROOT))

from hwaccel.hw.matvec import MatVec  # noqa: E402
from hwaccel.units import MatVecParams  # noqa: E402
from hwaccel.sim.harness import RunConfig  # noqa: E402
from hwaccel.sim.pysim import run_pysim  # noqa: E402
from hwaccel.sim.runner import BUILD_ROOT, SIMULATORS, run_rtl, simulator_missing  # noqa: E402
from sim.bench_matvec import matvec_case, random_vectors  # noqa: E402

RUN = (RunConfig("no_stall", check_cycles=True),)


def main(vectors: int = 2000) -> None:
    rng = np.random.default_rng(0)
    params = MatVecParams(16, 16, rng.integers(-128, 128, (16, 16)), rng.integers(-1000, 1000, 16), pe=4, simd=4,
                          x_zero_point=128)
    case = matvec_case(params, random_vectors(params, vectors, rng), "matvec16x16")
    rows = {}
    start = time.perf_counter()
    outcome = run_pysim(MatVec(params), case, RUN)[0]
    rows["amaranth.sim"] = {"sim_cycles": outcome.cycles, "run_s": outcome.wall_s,
                            "setup_s": time.perf_counter() - start - outcome.wall_s}
    for simulator in SIMULATORS:
        if reason := simulator_missing(simulator):
            print(f"{simulator}: skipped ({reason})")
            continue
        shutil.rmtree(BUILD_ROOT / "sim_speed" / simulator, ignore_errors=True)
        start = time.perf_counter()
        result = run_rtl([MatVec(params)], [case], "sim.bench_matvec", "sim_speed", simulator, RUN)["matvec16x16"]["no_stall"]
        rows[simulator] = {"sim_cycles": result["sim_cycles"], "run_s": result["wall_s"],
                           "setup_s": time.perf_counter() - start - result["wall_s"]}
    for name, row in rows.items():
        row["cycles_per_s"] = row["sim_cycles"] / row["run_s"]
        print(f"{name:>13}: {row['cycles_per_s']:>10,.0f} cycles/s  ({row['sim_cycles']} cycles in {row['run_s']:.2f} s, "
              f"setup {row['setup_s']:.1f} s)")
    write_json("sim_speed", {
        "unit": "MatVec in=16 out=16 pe=4 simd=4 bits_x=8 bits_w=8", "vectors": vectors,
        "cycle_model_total_cycles": params.total_cycles(vectors), "harness": "Python, cycle by cycle, no stalls",
        "simulators": rows,
    })


if __name__ == "__main__":
    main()
