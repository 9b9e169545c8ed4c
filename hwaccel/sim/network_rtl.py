"""Host side of the network bench: build a top's Verilog once, run :mod:`hwaccel.sim.bench_network` through cocotb.

A build folder (``hwaccel verify``: ``<build dir>/sim_build/<simulator>``; tests:
``<BUILD_ROOT>/<name>/<simulator>``, :mod:`hwaccel.sim.runner`) is reused while the Verilog is
unchanged. Each run's files (case, result, progress, ``sim.log``) go to a folder of their own
inside it (:func:`~hwaccel.sim.runner.run_folder`), so concurrent runs share no file. The
simulator runs in a worker thread with this process's output sent to ``sim.log``, while this
thread follows the bench's progress file with a tqdm bar on stderr. The bench module is imported
by the simulator's Python from the caller's ``sys.path`` (cocotb's runner passes it on), so an
installed package is enough.
Outside pytest cocotb's runner returns normally when a test fails, so the results file and the
bench's own result are both checked here: a failure always raises. The bench ends itself at the
case's wall-clock limit (:class:`~hwaccel.sim.bench_network.SimulationTimeout`); a simulator that
does not return to the bench is killed :data:`KILL_GRACE_S` seconds after that limit.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any, Iterator

from tqdm import tqdm

from hwaccel.errors import SimulationError

from .bench_network import CASE_ENV, PROGRESS_ENV, RESULT_ENV, NetworkCase, SimulationTimeout

__all__ = ["run_rtl", "KILL_GRACE_S"]

KILL_GRACE_S = 20.0  # seconds past the case's timeout before the simulator process is killed


def _children() -> set[int]:
    """The process ids whose parent is this process (Linux ``/proc``; empty elsewhere)."""
    me, found = str(os.getpid()), set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if fields[1] == me:
            found.add(int(stat.parent.name))
    return found


@contextmanager
def _output_to(log: Path) -> Iterator[int]:
    """Send this process's stdout/stderr (and its children's) to ``log``; yields a copy of the old stderr."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = [os.dup(1), os.dup(2)]
    with open(log, "a") as f:
        os.dup2(f.fileno(), 1)
        os.dup2(f.fileno(), 2)
    try:
        yield saved[1]
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        for fd in saved:
            os.close(fd)


def run_rtl(verilog: str, case: NetworkCase, simulator: str = "verilator", name: str = "network",
            waves: Path | None = None, progress: bool = True, build_dir: Path | None = None) -> dict[str, Any]:
    """Build ``verilog`` (module ``top`` of a :class:`NetworkTop`) once, run ``case`` through cocotb.

    The build lives in ``build_dir`` (default ``<BUILD_ROOT>/<name>/<simulator>``) and is reused
    while the Verilog is unchanged; the simulator's output goes to the run's ``sim.log`` (kept when
    the run fails). A progress bar (tqdm, on stderr) follows the output beats when ``progress``.
    ``waves`` copies the waveform there.

    Raises
    ------
    SimulationError
        The simulator is missing, the bench failed, or the run stalled (the watchdog's message).
    """
    from cocotb_tools.runner import get_results

    from .runner import BUILD_ROOT, _build, _tool_env, run_folder, simulator_missing

    if reason := simulator_missing(simulator):
        raise SimulationError(f"cannot run {simulator}: {reason}")
    # absolute: cocotb's runner refuses a relative results path when run under pytest
    build_dir = (BUILD_ROOT / name / simulator if build_dir is None else build_dir).resolve()
    build_dir.mkdir(parents=True, exist_ok=True)
    source = build_dir / "top.v"
    if not source.exists() or source.read_text() != verilog:
        source.write_text(verilog)
    with run_folder(build_dir) as run_dir:
        files = {k: run_dir / f for k, f in ((CASE_ENV, "case.json"), (RESULT_ENV, "result.json"), (PROGRESS_ENV, "progress"))}
        log, xml = run_dir / "sim.log", run_dir / "results.xml"
        with _output_to(log) as stderr_fd:
            runner = _build(simulator, source, build_dir, waves is not None)
            # the limit counts from here: the simulator's start-up is part of the run, its build is not
            replace(case, launched_at=time.time()).save(files[CASE_ENV])

            def test() -> None:
                try:  # under pytest the runner exits on a failed test; elsewhere it returns: the results are checked below
                    with _tool_env(simulator):
                        runner.test(test_module="hwaccel.sim.bench_network", hdl_toplevel="top", build_dir=build_dir,
                                    test_dir=run_dir, extra_env={k: str(v) for k, v in files.items()},
                                    waves=waves is not None, timescale=("1ns", "1ps"), results_xml=str(xml))
                except SystemExit:
                    pass

            per_image = case.out_beats // case.count
            before, killed, start = _children(), False, time.perf_counter()
            with ThreadPoolExecutor(1) as pool, open(os.dup(stderr_fd), "w") as err, \
                    tqdm(total=case.count, unit="img", file=err, disable=not progress, leave=False, desc=f"{simulator}") as bar:
                job = pool.submit(test)
                while not job.done():
                    time.sleep(0.2)
                    text = files[PROGRESS_ENV].read_text().split() if files[PROGRESS_ENV].exists() else []
                    if len(text) == 2:
                        bar.update(int(text[0]) // per_image - bar.n)
                    if case.timeout_s is not None and time.perf_counter() - start > case.timeout_s + KILL_GRACE_S:
                        for pid in _children() - before:  # the simulator this run started
                            os.kill(pid, signal.SIGKILL)
                        killed = True
                try:
                    job.result()
                except Exception:
                    if not killed:
                        raise
        if killed:
            raise SimulationTimeout(f"simulation timed out: {simulator} did not stop {KILL_GRACE_S:g} s after the "
                                    f"{case.timeout_s:g} s limit and was killed (progress in {files[PROGRESS_ENV]})")
        result = json.loads(files[RESULT_ENV].read_text()) if files[RESULT_ENV].exists() else None
        n_tests, n_failed = get_results(xml) if xml.exists() else (0, 0)
        if result is None or (n_tests == 0 or n_failed) and not result["error"]:  # the run's folder stays for its log
            raise SimulationError(f"network bench on {simulator} failed ({n_failed} of {n_tests} cocotb tests); see {log}")
        if waves is not None and not result["error"]:  # Verilator writes its waveform in the run's folder, Icarus in the build's
            dump = run_dir / "dump.vcd" if simulator == "verilator" else build_dir / "top.fst"
            shutil.copyfile(dump, waves)
    if result["error"]:
        raise (SimulationTimeout if result.get("timed_out") else SimulationError)(result["error"])
    return result
