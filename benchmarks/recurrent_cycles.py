"""Cycles of the zoo LSTM's Recurrent unit at 2, 8 and 32 MAC multipliers against the bound (issue 22).

The zoo LSTM (8 steps of 8 inputs, hidden 32) quantized with the default config, its cell lowered
to a Recurrent unit at each folding ``simd x pe = m`` (``simd`` dividing the 8 inputs); per ``m`` the
folding with the fewest cycles per step. For each: cycles per time step and per sequence (closed
form, and measured in amaranth.sim on one sequence without stalls: they must be equal), against the
bound ``ceil(MACs per step / m) + loop latency``, the loop latency being the unit's pipeline depth
around the recurrence (``MATVEC_TAIL + UPDATE_TAIL``: gate rows through requant and table, the state
update through the output write). The rest of a step is the update pass (one hidden unit a cycle)
and the zero padding of the last row group.
Writes benchmarks/results/recurrent_cycles.json. Usage: python benchmarks/recurrent_cycles.py
"""

from __future__ import annotations

import sys
import time

import numpy as np

from common import MODELS, calibration, write_json

from hwaccel.fixedpoint import code_range
from hwaccel.frontend import load_model
from hwaccel.frontend.qdq import lower_model
from hwaccel.frontend.quantize import QuantConfig, quantize_graph
from hwaccel.golden.recurrent_stage import run_recurrent
from hwaccel.hw.recurrent import Recurrent
from hwaccel.passes.lower_recurrent import recurrent_params
from hwaccel.sim.harness import Port, RunConfig, UnitCase
from hwaccel.sim.pysim import run_pysim
from hwaccel.units.recurrent import MATVEC_TAIL, UPDATE_TAIL

MULTIPLIERS = (2, 8, 32)


def main() -> int:
    graph = load_model(MODELS / "lstm.onnx")
    qdq, _ = quantize_graph(graph, {graph.inputs[0].name: calibration("lstm")}, QuantConfig())
    lowered = lower_model(qdq)
    node = next(n for n in lowered.nodes if n.op == "QLSTM")
    seq = int(graph.inputs[0].shape[1])
    base = recurrent_params(lowered, node, seq)
    macs_per_step = base.rows * (base.inputs + base.hidden)
    lo, hi = code_range(base.bits_x, base.signed_x)
    x = np.random.default_rng(0).integers(lo, hi + 1, (1, seq * base.inputs))
    rows = []
    for m in MULTIPLIERS:
        folds = [(s, m // s) for s in range(1, base.inputs + 1) if base.inputs % s == 0 and m % s == 0 and m // s <= base.rows]
        simd, pe = min(folds, key=lambda f: recurrent_params(lowered, node, seq, simd=f[0], pe=f[1]).step_cycles)
        p = recurrent_params(lowered, node, seq, simd=simd, pe=pe, lanes=1)
        bound = -(-macs_per_step // m) + MATVEC_TAIL + UPDATE_TAIL
        want = run_recurrent(p, x).reshape(-1, 1).tolist()
        beats = x.reshape(-1, simd).tolist()
        case = UnitCase(f"lstm_m{m}", {"i": Port(p.bits_x, simd, p.signed_x, beats)},
                        {"o": Port(p.out_bits, 1, p.out_signed, want)}, p.first_output_cycles, p.total_cycles(1))
        start = time.perf_counter()
        run_pysim(Recurrent(p), case, runs=(RunConfig("no_stall", check_cycles=True),))  # raises unless bit-exact and cycle-equal
        rows.append({"multipliers": m, "simd": simd, "pe": pe, "cycles_per_step": p.step_cycles,
                     "cycles_per_sequence": p.sequence_cycles, "compute_cycles": p.compute_cycles,
                     "amaranth_cycles_equal": True, "bound_per_step": bound,
                     "step_over_bound": round(p.step_cycles / bound, 3), "mac_utilization": round(macs_per_step / (m * p.step_cycles), 3),
                     "sim_seconds": round(time.perf_counter() - start, 1)})
        print(rows[-1])
    write_json("recurrent_cycles", {"model": "zoo lstm", "steps": seq, "inputs": base.inputs, "hidden": base.hidden,
                                    "macs_per_step": macs_per_step, "loop_latency": MATVEC_TAIL + UPDATE_TAIL, "rows": rows})
    return 0


if __name__ == "__main__":
    sys.exit(main())
