"""FPGA estimate of every build in rtl/: LUT/FF/DSP/BRAM, post-route fmax, fit, tool seconds.

Runs :func:`hwaccel.estimate.fpga.estimate_fpga` (Yosys + nextpnr, YoWASP wheels) on each
``rtl/<model>/top.v`` for one device (default ecp5-85k, target 150 MHz, seed 1). Results are cached
per design, so a re-run after an unchanged ``make rtl`` is instant (``--force`` reruns the tools);
``synth_seconds`` / ``pnr_seconds`` are always those of the run that produced the result.
``compiler_multipliers`` is the compiler's DSP-equivalent multiplier count (manifest) beside the
DSP blocks Yosys used. Writes benchmarks/results/fpga_estimate.json.

Usage: python benchmarks/fpga_estimate.py [--device D] [--force] [models]
"""

from __future__ import annotations

import argparse
import json

from common import ROOT, write_json

from hwaccel.errors import HwaccelError
from hwaccel.estimate.fpga import DEFAULT_FREQ_MHZ, DEFAULT_SEED, FLOW_VERSION, estimate_fpga

KEYS = ("luts", "ffs", "dsp", "soft_multipliers", "bram", "dist_ram", "ios", "fmax_mhz", "clocks_mhz", "fits", "core_fits", "over",
        "routed", "pnr_error", "critical_path", "available", "synth_seconds", "pnr_seconds", "cached", "basis")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("models", nargs="*", help="builds under rtl/ (default: all with a top.v)")
    parser.add_argument("--device", default="ecp5-85k")
    parser.add_argument("--force", action="store_true", help="rerun the tools even for cached results")
    args = parser.parse_args(argv)
    names = args.models or sorted(p.parent.name for p in (ROOT / "rtl").glob("*/top.v"))
    results: dict[str, dict] = {}
    tools: dict[str, str] = {}
    for name in names:
        build = ROOT / "rtl" / name
        print(f"== {name}", flush=True)
        try:
            est = estimate_fpga(build, args.device, force=args.force)
        except HwaccelError as exc:
            results[name] = {"error": str(exc)}
            print(f"{name}: {exc}", flush=True)
            continue
        tools = est.tools
        manifest = json.loads((build / "manifest.json").read_text())
        results[name] = {**{k: v for k, v in est.to_dict().items() if k in KEYS},
                         "top_v_bytes": (build / "top.v").stat().st_size,
                         "compiler_multipliers": manifest.get("cycles", {}).get("multipliers")}
        print(est.format_table(), flush=True)
    write_json("fpga_estimate", {"device": args.device, "target_mhz": DEFAULT_FREQ_MHZ, "seed": DEFAULT_SEED,
                                 "flow_version": FLOW_VERSION, "tools": tools, "results": results})


if __name__ == "__main__":
    main()
