"""Host side of the network bench: build a top's Verilog once, run :mod:`sim.bench_network` through cocotb.

Builds live in ``sim_build/<name>/<simulator>`` (:mod:`sim.runner`: reused while the Verilog is
unchanged). The simulator runs in a worker thread with its output sent to ``sim.log`` in the
build folder, while this thread follows the bench's progress file with a tqdm bar on stderr.
Outside pytest cocotb's runner returns normally when a test fails, so the results file and the
bench's own result are both checked here: a failure always raises.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

from tqdm import tqdm

from hwaccel.errors import SimulationError

from .bench_network import CASE_ENV, PROGRESS_ENV, RESULT_ENV, NetworkCase

__all__ = ["run_rtl"]


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
            waves: Path | None = None, progress: bool = True) -> dict[str, Any]:
    """Build ``verilog`` (module ``top`` of a :class:`NetworkTop`) once, run ``case`` through cocotb.

    The build lives in ``sim_build/<name>/<simulator>`` and is reused while the Verilog is
    unchanged; the simulator's output goes to ``sim.log`` there. A progress bar (tqdm, on stderr)
    follows the output beats when ``progress``. ``waves`` copies the waveform there.

    Raises
    ------
    SimulationError
        The simulator is missing, the bench failed, or the run stalled (the watchdog's message).
    """
    from cocotb_tools.runner import get_results

    from .runner import BUILD_ROOT, ROOT, _build, _tool_env, simulator_missing

    if reason := simulator_missing(simulator):
        raise SimulationError(f"cannot run {simulator}: {reason}")
    build_dir = BUILD_ROOT / name / simulator
    build_dir.mkdir(parents=True, exist_ok=True)
    source = build_dir / "top.v"
    if not source.exists() or source.read_text() != verilog:
        source.write_text(verilog)
    files = {k: build_dir / f for k, f in ((CASE_ENV, "case.json"), (RESULT_ENV, "result.json"), (PROGRESS_ENV, "progress"))}
    case.save(files[CASE_ENV])
    for k in (RESULT_ENV, PROGRESS_ENV):
        files[k].unlink(missing_ok=True)
    log, xml = build_dir / "sim.log", build_dir / "results.xml"
    log.unlink(missing_ok=True)
    env = {**{k: str(v) for k, v in files.items()}, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    with _output_to(log) as stderr_fd:
        runner = _build(simulator, source, build_dir, waves is not None)

        def test() -> None:
            try:  # under pytest the runner exits on a failed test; elsewhere it returns: the results are checked below
                with _tool_env(simulator):
                    runner.test(test_module="sim.bench_network", hdl_toplevel="top", build_dir=build_dir, test_dir=build_dir,
                                extra_env=env, waves=waves is not None, timescale=("1ns", "1ps"), results_xml=str(xml))
            except SystemExit:
                pass

        per_image = case.out_beats // case.count
        with ThreadPoolExecutor(1) as pool, open(os.dup(stderr_fd), "w") as err, \
                tqdm(total=case.count, unit="img", file=err, disable=not progress, leave=False, desc=f"{simulator}") as bar:
            job = pool.submit(test)
            while not job.done():
                time.sleep(0.2)
                text = files[PROGRESS_ENV].read_text().split() if files[PROGRESS_ENV].exists() else []
                if len(text) == 2:
                    bar.update(int(text[0]) // per_image - bar.n)
            job.result()
    result = json.loads(files[RESULT_ENV].read_text()) if files[RESULT_ENV].exists() else None
    if result is not None and result["error"]:
        raise SimulationError(result["error"])
    n_tests, n_failed = get_results(xml) if xml.exists() else (0, 0)
    if result is None or n_tests == 0 or n_failed:
        raise SimulationError(f"network bench on {simulator} failed ({n_failed} of {n_tests} cocotb tests); see {log}")
    if waves is not None:
        dump = build_dir / ("dump.vcd" if simulator == "verilator" else "top.fst")
        shutil.copyfile(dump, waves)
    return result
