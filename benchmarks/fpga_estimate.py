"""FPGA estimate of every build in rtl/: LUT/FF/DSP/BRAM, post-route fmax, fit, tool seconds.

Runs :func:`hwaccel.estimate.fpga.estimate_fpga` (Yosys + nextpnr, YoWASP wheels) on each
``rtl/<model>/top.v`` for one device (default ecp5-85k, target 150 MHz, seed 1). Results are cached
per design, so a re-run after an unchanged ``make rtl`` is instant (``--force`` reruns the tools);
``synth_seconds`` / ``pnr_seconds`` are always those of the run that produced the result.
Each design is placed and routed with ``--seeds`` seeds (default 3: 1, 2, 3) and the best kept; every
seed's fmax is in the JSON. ``compiler_multipliers`` is the compiler's DSP-equivalent multiplier count (manifest) beside the
DSP blocks Yosys used. Writes benchmarks/results/fpga_estimate.json.

Usage: python benchmarks/fpga_estimate.py [--device D] [--force] [--seeds N] [--jobs N] [models]
"""

from __future__ import annotations

import argparse
import json
from concurrent.futures import ProcessPoolExecutor

from common import ROOT, write_json

from hwaccel.errors import HwaccelError
from hwaccel.estimate.fpga import DEFAULT_FREQ_MHZ, DEFAULT_SEED, FLOW_VERSION, estimate_fpga

KEYS = ("luts", "ffs", "dsp", "soft_multipliers", "dsp_packed_ffs", "fanout_copies", "seed", "seed_fmax_mhz", "bram", "dist_ram", "ios", "fmax_mhz", "clocks_mhz", "fits", "core_fits", "over",
        "routed", "pnr_error", "critical_path", "available", "synth_seconds", "pnr_seconds", "cached", "basis")


def estimate_one(name: str, device: str, force: bool, seeds: int, timeout_s: float) -> tuple[dict, dict[str, str], str]:
    """The result row of build ``rtl/<name>``, the tool versions and the readable report."""
    build = ROOT / "rtl" / name
    try:
        est = estimate_fpga(build, device, force=force, progress=False, seeds=seeds, pnr_timeout_s=timeout_s)
    except HwaccelError as exc:
        return {"error": str(exc)}, {}, f"{name}: {exc}"
    manifest = json.loads((build / "manifest.json").read_text())
    row = {**{k: v for k, v in est.to_dict().items() if k in KEYS}, "top_v_bytes": (build / "top.v").stat().st_size,
           "compiler_multipliers": manifest.get("cycles", {}).get("multipliers")}
    return row, est.tools, est.format_table()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("models", nargs="*", help="builds under rtl/ (default: all with a top.v)")
    parser.add_argument("--device", default="ecp5-85k")
    parser.add_argument("--force", action="store_true", help="rerun the tools even for cached results")
    parser.add_argument("--seeds", type=int, default=3, help="placement seeds a design, the best kept (default 3)")
    parser.add_argument("--pnr-timeout", type=float, default=1800.0, help="seconds a place-and-route run may take")
    parser.add_argument("--jobs", type=int, default=1, help="designs placed and routed at once (one core each)")
    args = parser.parse_args(argv)
    names = args.models or sorted(p.parent.name for p in (ROOT / "rtl").glob("*/top.v"))
    results: dict[str, dict] = {}
    tools: dict[str, str] = {}
    with ProcessPoolExecutor(max_workers=max(args.jobs, 1)) as pool:
        n = len(names)
        runs = pool.map(estimate_one, names, [args.device] * n, [args.force] * n, [args.seeds] * n, [args.pnr_timeout] * n)
        for name, (row, run_tools, report) in zip(names, runs):
            print(f"== {name}\n{report}", flush=True)
            results[name] = row
            tools = run_tools or tools
    fmax = {name: r.get("fmax_mhz") for name, r in results.items()}
    reached = [f for f in fmax.values() if f is not None]
    summary = {"fmax_mhz": fmax, "lowest_fmax_mhz": min(reached) if len(reached) == len(fmax) else None,
               "all_at_least_100_mhz": len(reached) == len(fmax) and min(reached) >= 100.0}
    print(f"post-route fmax (MHz): {json.dumps({k: None if v is None else round(v, 1) for k, v in fmax.items()})}")
    write_json("fpga_estimate", {"device": args.device, "target_mhz": DEFAULT_FREQ_MHZ, "seed": DEFAULT_SEED, "seeds": args.seeds, "pnr_timeout_s": args.pnr_timeout,
                                 "flow_version": FLOW_VERSION, "tools": tools, "summary": summary, "results": results})


if __name__ == "__main__":
    main()
