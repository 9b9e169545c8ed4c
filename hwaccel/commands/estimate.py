"""``hwaccel estimate``: FPGA resources and post-route fmax (Yosys + nextpnr) and/or ASIC area and
energy (:mod:`hwaccel.estimate.asic`) of a compiled build; every number is labelled with its basis."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from ..estimate.asic import estimate_asic
from ..estimate.devices import DEVICES, device
from ..estimate.fpga import DEFAULT_FREQ_MHZ, DEFAULT_PNR_TIMEOUT_S, DEFAULT_SEED, estimate_fpga
from ..estimate.tools import EstimateError

__all__ = ["add_arguments", "run"]


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Add the options of ``hwaccel estimate`` (``--json`` and ``--debug`` are added by the CLI)."""
    p.add_argument("build", help="build directory written by `hwaccel compile`")
    p.add_argument("--fpga", metavar="DEVICE", help=f"synthesize, place and route for DEVICE: {', '.join(DEVICES)}")
    p.add_argument("--asic", metavar="NODE", help="ASIC area and energy estimate at NODE: 45nm or 28nm")
    p.add_argument("--clock-mhz", type=float, default=None,
                   help=f"FPGA: nextpnr's target frequency (default {DEFAULT_FREQ_MHZ:g}); ASIC: the clock for "
                        "throughput and power (default: the build's compile clock)")
    p.add_argument("--seed", type=int, default=DEFAULT_SEED, help=f"nextpnr placement seed (default {DEFAULT_SEED})")
    p.add_argument("--seeds", type=int, default=1,
                   help="place and route with this many seeds (--seed, --seed + 1, ...) and keep the best fmax (default 1)")
    p.add_argument("--pnr-timeout", type=float, default=DEFAULT_PNR_TIMEOUT_S, metavar="SECONDS",
                   help=f"stop a place-and-route run after SECONDS (default {DEFAULT_PNR_TIMEOUT_S:g}); that seed fails")
    p.add_argument("--force-rerun", action="store_true", help="run the FPGA tools even if the result is cached")


def run(args: argparse.Namespace) -> tuple[dict, str]:
    if not args.fpga and not args.asic:
        raise EstimateError("estimate needs --fpga DEVICE and/or --asic NODE, not neither")
    if not Path(args.build).is_dir():
        raise EstimateError(f"build directory must exist, not {args.build!r} "
                            f"(run `hwaccel compile MODEL -o {args.build}`)")
    if args.fpga:
        device(args.fpga)  # an unknown device fails before the ASIC estimate runs
    report: dict[str, Any] = {"build": str(args.build)}
    texts: list[str] = []
    # the ASIC estimate is fast: first, so that its errors come before the long FPGA run
    asic = estimate_asic(args.build, args.asic, clock_mhz=args.clock_mhz) if args.asic else None
    if args.fpga:
        freq = DEFAULT_FREQ_MHZ if args.clock_mhz is None else args.clock_mhz
        fpga = estimate_fpga(args.build, args.fpga, freq, progress=True, seed=args.seed, force=args.force_rerun,
                            seeds=args.seeds, pnr_timeout_s=args.pnr_timeout)
        report["fpga"] = fpga.to_dict()
        texts.append(fpga.format_table())
    if asic is not None:
        report["asic"] = asic.to_dict()
        texts.append(asic.format_table())
    return report, "\n\n".join(texts)
