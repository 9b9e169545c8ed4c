"""``hwaccel estimate``: FPGA resources and post-route fmax (Yosys + nextpnr) and/or ASIC area and
energy (:mod:`hwaccel.estimate.asic`) of a compiled build, through :func:`hwaccel.api.estimate`; every
number is labelled with its basis. Parts with no open place and route (``zu9eg``, ``u250``) get the
cost model (:mod:`hwaccel.estimate.cost_model`); every FPGA estimate carries the memory mapper's
placement of the build's memories (:mod:`hwaccel.estimate.memory_map`)."""

from __future__ import annotations

import argparse

from .. import api
from ..estimate.budgets import COST_MODEL_PARTS
from ..estimate.devices import DEVICES
from ..estimate.fpga import DEFAULT_FREQ_MHZ, DEFAULT_PNR_TIMEOUT_S, DEFAULT_SEED

__all__ = ["add_arguments", "run"]


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Add the options of ``hwaccel estimate`` (``--json`` and ``--debug`` are added by the CLI)."""
    p.add_argument("build", help="build directory written by `hwaccel compile`")
    p.add_argument("--fpga", metavar="DEVICE", help=f"synthesize, place and route for DEVICE: {', '.join(DEVICES)}; "
                                                    f"or a cost-model estimate (no place and route) for "
                                                    f"{', '.join(COST_MODEL_PARTS)}")
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
    result = api.estimate(args.build, args.fpga, args.asic, clock_mhz=args.clock_mhz, seed=args.seed, seeds=args.seeds,
                          pnr_timeout_s=args.pnr_timeout, force=args.force_rerun, progress=True)
    texts = [e.format_table() for e in (result.fpga, result.asic) if e is not None]
    return result.to_dict(), "\n\n".join(texts)
