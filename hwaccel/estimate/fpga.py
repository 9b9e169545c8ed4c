"""FPGA estimate of a build's ``top.v``: Yosys synthesis, nextpnr place and route (YoWASP wheels).

Flow: ``synth_ecp5`` / ``synth_ice40 -dsp`` to a JSON netlist, then nextpnr on the part and
package of :mod:`.devices` with a target ``--freq``, a fixed ``--seed`` (deterministic),
``--timing-allow-fail`` and ``--router router2`` (the default router1 took 160 s to over 15 min on
near-identical netlists of rtl/cnn; router2 about 70 s); resources and per-clock fmax come from
nextpnr's ``--report``.

Methodology: the accelerator core is placed and routed *out of context*: every top-level port but
the clock and reset becomes an internal net of the netlist (a "virtual pin", as vendor tools do for
out-of-context runs), so designs whose stream ports are wider than the package (most of the zoo)
still get an fmax, and every design is measured the same way. I/O is then judged separately: the
port bits the top would need as pins against the package's user I/O (``fits`` counts it,
``core_fits`` does not). When the core exceeds the device, nextpnr stops: the result has the
counts it reported, ``fits=False`` and no fmax. Before place and route the synthesized netlist gets
two steps vendor flows do and Yosys does not: on ECP5 the product and operand registers go into the
multiplier blocks' output and input registers (:mod:`.dsp_registers`), then high fan-out nets are split (:mod:`.fanout`:
a driver per 32 loads); registers the RTL marks ``keep`` stay separate copies (Yosys would merge
twins with the same input).

Results are cached per design (:mod:`.cache`): the key covers the Verilog, device, target
frequency, seed, tool versions and :data:`FLOW_VERSION`.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import shutil
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from ..build_dir import MANIFEST, read_build
from . import cache
from .budgets import COST_MODEL_PARTS
from .cost_model import CostModelEstimate, estimate_cost_model
from .devices import YOSYS, Device, pnr_device as get_device
from .dsp_registers import pack_input_registers, pack_output_registers
from .fanout import replicate_fanout
from .fpga_result import FpgaEstimate
from .memory_map import MAX_LIBMAP_READ_PORTS, map_memories
from .tools import EstimateError, ToolTimeout, last_error, run_tool

__all__ = ["FpgaEstimate", "estimate_fpga", "estimate_fpga_verilog", "multipliers_for_logic", "EstimateError",
           "DEFAULT_FREQ_MHZ", "DEFAULT_SEED", "FLOW_VERSION", "MAX_SEEDS", "DEFAULT_PNR_TIMEOUT_S"]

DEFAULT_FREQ_MHZ = 150.0  # the fmax target
DEFAULT_SEED = 1
FLOW_VERSION = "12"  # bump when the scripts or the parsing below change: part of the cache key
MAX_SEEDS = 16
DEFAULT_PNR_TIMEOUT_S = 1800.0  # one nextpnr run; router2 can go on for hours on a congested design
KEEP_PORTS = ("clk", "rst")  # ports that stay pins: the clock on the global network, the reset
_CACHE_KIND = "fpga"

# Two workarounds for Yosys 0.70 (WASI build); both change names or the mapping of a few memories only:
# * ``rename -hide w:*[*``: ABC reintegration asserts on a wire named like a bit of another wire
#   (Amaranth emits ``\i__payload[0]`` beside ``i__payload``).
# * ``memory_map`` of memories with more than MAX_LIBMAP_READ_PORTS read ports (a Requant
#   activation table read by every lane): ``memory_libmap`` on such a memory ran past WebAssembly's
#   4 GiB (rtl/dbn: a 256 x 8 table, 16 read ports); such a table becomes logic (LUTs) instead
#   (:mod:`.memory_map` places it so).
# Synthesis runs in two Yosys calls: the first elaborates (to ``prep.json``) and lists the multipliers;
# when they need more DSP blocks than the device has, the narrowest ones (fewest operand bits,
# then name: deterministic) are built from logic instead (the generic ``techmap`` of the selected
# cells: shift-and-add rows that become carry chains; ``alumacc`` is not enough, since synth_ice40's
# ``maccmap`` turns a lone product back into ``$mul``), as FINN's ``resType="lut"`` does for narrow
# MACs; the second call synthesizes.
_PREP_SCRIPT = """\
read_verilog design.v
hierarchy -top {top}
rename -hide w:*[*
proc
select -set kept_regs a:keep w:* %i %ci1 t:$*dff* %i
setattr -set keep 1 @kept_regs
flatten
tee -q -o rtl_stat.json stat -json
opt -fast
wreduce
opt_clean
memory_collect
memory_map t:$mem_v2 r:RD_PORTS>{ports} %i
write_json prep.json
"""
_SYNTH_SCRIPT = """\
read_json prep.json
select -read soft_multipliers.txt
techmap
select -clear
{synth} -top {top} -json netlist.json
tee -q -o stat.json stat -json
"""


def estimate_fpga(build_dir: str | os.PathLike[str], device: str = "ecp5-85k", freq_mhz: float = DEFAULT_FREQ_MHZ,
                  progress: bool = True, seed: int = DEFAULT_SEED, force: bool = False, seeds: int = 1,
                  pnr_timeout_s: float = DEFAULT_PNR_TIMEOUT_S) -> FpgaEstimate | CostModelEstimate:
    """FPGA estimate of the ``top.v`` of a build directory written by ``hwaccel compile``.

    A cost-model part (``zu9eg``, ``u250``: no open place and route) gets the cost model's
    estimate instead (:mod:`.cost_model`; the tool options do not apply). On a place-and-route
    device the result carries the memory mapper's placement (:mod:`.memory_map`) beside nextpnr's counts.

    Parameters
    ----------
    build_dir
        The build directory.
    device
        ``"ecp5-85k"``, ``"ecp5-25k"`` or ``"ice40-up5k"``; or a cost-model part, ``"zu9eg"`` or ``"u250"``.
    freq_mhz
        Target clock for nextpnr (timing-driven placement; the result's fmax may be lower or higher).
    progress
        Report the tool steps and elapsed time on stderr.
    seed
        nextpnr's placement seed (the first of ``seeds``).
    force
        Run the tools even when the cache holds the result (the new result replaces it).
    seeds
        Place and route this many times, with seeds ``seed, seed + 1, ...``, and keep the run with
        the highest fmax (a seed sweep, as vendor flows offer); every seed's fmax is in the result.
    pnr_timeout_s
        Stop a place-and-route run after this many seconds; the seed counts as failed (its fmax is
        None) and the sweep goes on. When every seed fails so, the estimate raises.

    Returns
    -------
    FpgaEstimate or CostModelEstimate

    Raises
    ------
    EstimateError
        No such build directory or no ``top.v`` in it, an unknown device, a tool missing or failing.
    """
    root = Path(build_dir)
    if not root.is_dir():
        raise EstimateError(f"build directory must exist, not {str(root)!r} (run `hwaccel compile MODEL -o {root}`)")
    if device in COST_MODEL_PARTS:
        return estimate_cost_model(root, device)
    top = root / "top.v"
    if not top.is_file():
        raise EstimateError(f"{root}: not a build with Verilog (no top.v); recompile it with `hwaccel compile`")
    result = estimate_fpga_verilog(top.read_text(), device, "top", freq_mhz, progress=progress, seed=seed, force=force,
                                   seeds=seeds, pnr_timeout_s=pnr_timeout_s)
    if not (root / MANIFEST).is_file():
        return result
    return replace(result, memory_map=map_memories(read_build(root)[0], device).to_dict())


def estimate_fpga_verilog(verilog: str, device: str = "ecp5-85k", top: str = "top", freq_mhz: float = DEFAULT_FREQ_MHZ,
                          progress: bool = True, seed: int = DEFAULT_SEED, force: bool = False,
                          seeds: int = 1, pnr_timeout_s: float = DEFAULT_PNR_TIMEOUT_S) -> FpgaEstimate:
    """FPGA estimate of Verilog text (a whole ``top.v`` or a single unit); see :func:`estimate_fpga`.

    Parameters
    ----------
    verilog
        Verilog source holding module ``top`` and everything it instantiates.
    top
        The top module's name.
    device, freq_mhz, progress, seed, force, seeds, pnr_timeout_s
        As for :func:`estimate_fpga`.
    """
    dev = get_device(device)
    if isinstance(freq_mhz, bool) or not isinstance(freq_mhz, (int, float)) or not (0 < freq_mhz < math.inf):
        raise EstimateError(f"target frequency must be a positive number of MHz, not {freq_mhz!r}")
    if not top.isidentifier():
        raise EstimateError(f"top must be a Verilog module name, not {top!r}")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise EstimateError(f"seed must be an integer >= 0, not {seed!r}")
    if isinstance(seeds, bool) or not isinstance(seeds, int) or not 1 <= seeds <= MAX_SEEDS:
        raise EstimateError(f"seeds must be an integer in [1, {MAX_SEEDS}], not {seeds!r}")
    freq = float(freq_mhz)
    tools = {YOSYS.name: YOSYS.version(), dev.nextpnr.name: dev.nextpnr.version()}
    key = cache.cache_key(FLOW_VERSION, verilog, top, dev.name, repr(freq), str(seed), str(seeds),
                          json.dumps(tools, sort_keys=True))
    start = time.monotonic()
    hit = None if force else cache.load(_CACHE_KIND, key)
    if hit is not None:
        try:
            return FpgaEstimate.from_dict(hit, cached=True, seconds=time.monotonic() - start)
        except (TypeError, KeyError):
            pass  # an entry of another layout: recompute
    with tempfile.TemporaryDirectory(prefix="hwaccel-fpga-") as tmp:
        work = Path(tmp)
        try:
            result = _run_flow(verilog, dev, top, freq, list(range(seed, seed + seeds)), progress, work, tools,
                               pnr_timeout_s)
        except EstimateError as exc:
            logs = cache.cache_root() / _CACHE_KIND / key / "logs"
            logs.mkdir(parents=True, exist_ok=True)
            for log in [*work.glob("*.log"), *work.glob("*.stdout")]:
                shutil.copy(log, logs / log.name)
            raise EstimateError(f"{exc} (logs: {logs})") from None
    result = replace(result, seconds=time.monotonic() - start)
    cache.store(_CACHE_KIND, key, result.to_dict())
    return result


def _run_flow(verilog: str, dev: Device, top: str, freq: float, seeds: list[int], progress: bool, work: Path,
              tools: dict[str, str], pnr_timeout_s: float) -> FpgaEstimate:
    cells, rtl_cells, port_bits, soft, copies, packed, synth_s = _synthesize(verilog, dev, top, work, progress)
    runs: list[tuple[float, int, tuple]] = []
    seed_fmax: dict[str, float | None] = {}
    stopped, pnr_s = None, 0.0
    for seed in seeds:
        try:
            run = _place_and_route(dev, freq, seed, work, progress, pnr_timeout_s)
        except ToolTimeout as exc:
            seed_fmax[str(seed)], stopped, pnr_s = None, exc, pnr_s + pnr_timeout_s
            continue
        fmax = min(_timing(run[1])[0].values(), default=0.0)
        runs.append((fmax, seed, run))
        seed_fmax[str(seed)], pnr_s = (fmax if run[0] else None), pnr_s + run[4]
        if not run[0]:
            break  # over capacity: every seed stops the same way
    if not runs:
        raise EstimateError(f"{stopped} for any of seeds {', '.join(map(str, seeds))}")
    fmax, seed, (routed, report, util, error, _) = max(runs, key=lambda r: (r[0], -r[1]))
    counts = {"luts": util[dev.lut_bel]["used"], "ffs": sum(n for t, n in cells.items() if t.startswith(dev.ff_cell)),
              "dsp": util[dev.dsp_bel]["used"], "bram": util[dev.bram_bel]["used"], "ios": port_bits}
    available = {"luts": util[dev.lut_bel]["available"], "ffs": util[dev.ff_bel]["available"],
                 "dsp": util[dev.dsp_bel]["available"], "bram": util[dev.bram_bel]["available"], "ios": dev.package_ios}
    names = {dev.lut_bel: "luts", dev.dsp_bel: "dsp", dev.bram_bel: "bram"}
    over = sorted({names.get(b, b) for b, u in util.items() if u["used"] > u["available"]}
                  | {k for k in ("ffs", "ios") if counts[k] > available[k]})
    clocks, path = _timing(report)
    core_fits = routed and not set(over) - {"ios"}
    return FpgaEstimate(
        device=dev.name, part=dev.part, package=dev.package, top=top,
        design_sha256=hashlib.sha256(verilog.encode()).hexdigest(), target_mhz=freq, seed=seed, routed=routed,
        fmax_mhz=min(clocks.values()) if clocks else None, clocks_mhz=clocks, critical_path=path,
        luts=counts["luts"], ffs=counts["ffs"], dsp=counts["dsp"], bram=counts["bram"],
        dist_ram=cells.get(dev.dist_ram_cell, 0) if dev.dist_ram_cell else None, ios=port_bits,
        soft_multipliers=soft, fanout_copies=copies, dsp_packed_ffs=packed, available=available, over=over, core_fits=core_fits,
        fits=core_fits and "ios" not in over, pnr_error=error,
        bels={b: u for b, u in sorted(util.items()) if u["used"]}, yosys_cells=cells, rtl_cells=rtl_cells,
        tools=tools, synth_seconds=synth_s, pnr_seconds=pnr_s, seed_fmax_mhz=seed_fmax)


def _synthesize(verilog: str, dev: Device, top: str, work: Path,
                progress: bool) -> tuple[dict[str, int], dict[str, int], int, int, int, int, float]:
    """Yosys: mapped cells, coarse cells before mapping, port bits, multipliers moved to logic,
    fan-out copies, flip-flops packed into DSP blocks, seconds; writes ``core.json``."""
    (work / "design.v").write_text(verilog)
    (work / "prep.ys").write_text(_PREP_SCRIPT.format(top=top, ports=MAX_LIBMAP_READ_PORTS))
    (work / "synth.ys").write_text(_SYNTH_SCRIPT.format(top=top, synth=dev.synth))
    seconds = 0.0
    for script, step in (("prep", "elaborating (yosys)"), ("synth", "synthesizing (yosys)")):
        code, took = run_tool(YOSYS, ["-q", "-l", f"yosys-{script}.log", f"{script}.ys"], work, step, progress)
        seconds += took
        done = work / ("prep.json" if script == "prep" else "netlist.json")
        if code != 0 or not done.is_file():
            raise EstimateError(f"synthesis (yosys) failed: "
                                f"{last_error(work / f'yosys-{script}.log', work / 'yosys.stdout')}")
        if script == "prep":
            soft = multipliers_for_logic(json.loads(done.read_text())["modules"][top]["cells"], dev)
            (work / "soft_multipliers.txt").write_text("".join(f"{top}/{name}\n" for name in soft))
    cells, port_bits = _stat(work / "stat.json", top)
    rtl_cells, _ = _stat(work / "rtl_stat.json", top)
    copies, packed = _virtual_pins(work / "netlist.json", work / "core.json", top, dev)
    return cells, rtl_cells, port_bits, len(soft), copies, packed, seconds


def multipliers_for_logic(cells: dict[str, Any], dev: Device) -> list[str]:
    """Names of the ``$mul`` cells (Yosys JSON) to build from logic so that the rest fit the
    device's DSP blocks: the narrowest first (operand bits a x b, then name); none when all fit."""
    muls = []
    for name, cell in cells.items():
        if cell["type"] == "$mul":
            a, b = (int(cell["parameters"][k], 2) for k in ("A_WIDTH", "B_WIDTH"))
            muls.append((a * b, name, dev.dsp_cost(a, b)))
    demand = sum(cost for _, _, cost in muls)
    soft = []
    for _, name, cost in sorted(m for m in muls if m[2]):
        if demand <= dev.dsp_blocks:
            break
        soft.append(name)
        demand -= cost
    return soft


def _place_and_route(dev: Device, freq: float, seed: int, work: Path, progress: bool,
                     timeout_s: float | None = None) -> tuple[bool, dict, dict[str, dict[str, int]], str | None, float]:
    """nextpnr on ``core.json``: routed, its report, utilisation per bel type, its error, seconds.

    A run that stops because the design exceeds the device is a result (not routed, the error
    kept); any other failure raises :class:`EstimateError`.
    """
    args = [*dev.nextpnr_args, "--json", "core.json", "--report", "report.json", "--freq", f"{freq:g}",
            "--seed", str(seed), "--router", "router2", "--timing-allow-fail", "-q", "-l", "nextpnr.log"]
    if dev.clock_pin is not None:
        (work / "clock.lpf").write_text(f'LOCATE COMP "{KEEP_PORTS[0]}" SITE "{dev.clock_pin}";\n')
        args += ["--lpf", "clock.lpf", "--lpf-allow-unconstrained"]  # the reset stays the placer's
    for stale in ("report.json", "nextpnr.log"):
        (work / stale).unlink(missing_ok=True)  # another seed's
    code, seconds = run_tool(dev.nextpnr, args, work, f"place and route (nextpnr, seed {seed})", progress, timeout_s)
    routed = code == 0 and (work / "report.json").is_file()
    report = json.loads((work / "report.json").read_text()) if routed else {}
    util = {b: {"used": int(u["used"]), "available": int(u["available"])}
            for b, u in (report.get("utilization") or _log_utilisation(work / "nextpnr.log")).items()}
    error = None if routed else last_error(work / "nextpnr.log", work / f"{dev.nextpnr.name}.stdout")
    exceeded = any(u["used"] > u["available"] for u in util.values())
    if not routed and not exceeded:
        raise EstimateError(f"place and route (nextpnr) failed: {error}")
    missing = [b for b in (dev.lut_bel, dev.ff_bel, dev.dsp_bel, dev.bram_bel) if b not in util]
    if missing:
        raise EstimateError(f"place and route (nextpnr): no utilisation of {', '.join(missing)} in its report")
    return routed, report, util, error, seconds


def _stat(path: Path, top: str) -> tuple[dict[str, int], int]:
    """Cell counts by type (without Yosys's ``$scopeinfo`` markers) and port bits of ``stat -json``."""
    data = json.loads(path.read_text())
    design = data.get("design") or data["modules"][f"\\{top}"]
    cells = {t: int(n) for t, n in sorted(design["num_cells_by_type"].items()) if t != "$scopeinfo"}
    return cells, int(design.get("num_port_bits", 0))


def _virtual_pins(src: Path, dst: Path, top: str, dev: Device) -> tuple[int, int]:
    """Copy the netlist with every port of ``top`` but :data:`KEEP_PORTS` made an internal net, the
    product and operand registers packed into the DSP blocks where the family has them (:mod:`.dsp_registers`)
    and the high-fan-out drivers replicated (:mod:`.fanout`); returns the driver copies added and
    the flip-flops packed."""
    netlist = json.loads(src.read_text())
    module = netlist["modules"][top]
    module["ports"] = {name: port for name, port in module["ports"].items() if name in KEEP_PORTS}
    packed = pack_output_registers(module) + pack_input_registers(module) if dev.dsp_registers else 0
    copies = replicate_fanout(module, dict(dev.fanout_drivers))
    dst.write_text(json.dumps(netlist))
    return copies, packed


_UTIL_LINE = re.compile(r"^Info:\s+([A-Za-z0-9_]+):\s+(\d+)/\s*(\d+)\s+\d+%$")


def _log_utilisation(log: Path) -> dict[str, dict[str, int]]:
    """nextpnr's "Device utilisation" table from its log (printed after packing, before placement)."""
    table: dict[str, dict[str, int]] = {}
    inside = False
    for line in log.read_text(errors="replace").splitlines() if log.is_file() else []:
        if line.startswith("Info: Device utilisation:"):
            inside, table = True, {}
            continue
        match = _UTIL_LINE.match(line.strip()) if inside else None
        if match:
            table[match[1]] = {"used": int(match[2]), "available": int(match[3])}
        elif inside and table:
            inside = False
    return table


def _clock_name(net: str) -> str | None:
    """The design's clock behind a nextpnr clock net (``$glbnet$clk$TRELLIS_IO_IN``, ``clk$SB_IO_IN_$glb_clk``
    -> ``clk``); None for the packer's constant nets (e.g. a DSP's tied-off clock on iCE40)."""
    net = net.removeprefix("$glbnet$")
    return None if net.startswith("$") else net.split("$")[0]


def _timing(report: dict) -> tuple[dict[str, float], dict[str, Any] | None]:
    """Post-route fmax per design clock, and the slowest clock's critical path (end cells, delay)."""
    clocks: dict[str, float] = {}
    for net, value in report.get("fmax", {}).items():
        name = _clock_name(net)
        if name is not None:
            clocks[name] = min(clocks.get(name, math.inf), float(value["achieved"]))
    if not clocks:
        return clocks, None
    slowest = min(clocks, key=lambda c: clocks[c])
    paths = [p for p in report.get("critical_paths", []) if p.get("path")
             and all(_clock_name(p[end].split(" ")[-1]) == slowest for end in ("from", "to"))]
    if not paths:
        return clocks, None
    path = max(paths, key=lambda p: sum(step["delay"] for step in p["path"]))["path"]
    kinds: dict[str, float] = {}  # nextpnr's step types: clk-to-q, source, logic, routing, setup
    for step in path:
        kinds[step["type"]] = kinds.get(step["type"], 0.0) + step["delay"]
    return clocks, {"clock": slowest, "from": path[0]["from"]["cell"], "to": path[-1]["to"]["cell"],
                    "delay_ns": round(sum(step["delay"] for step in path), 3),
                    "routing_ns": round(kinds.get("routing", 0.0), 3), "cells": _path_cells(path)}


def _path_cells(path: list[dict[str, Any]]) -> list[str]:
    """The cells a critical path passes through, in order (a cell listed once)."""
    cells: list[str] = []
    for step in path:
        for end in ("from", "to"):
            cell = step[end]["cell"]
            if not cells or cells[-1] != cell:
                cells.append(cell)
    return cells
