"""Running the YoWASP tools (Yosys, nextpnr: WebAssembly builds run by wasmtime) with progress on stderr.

Three properties of the wheels shape this module:

* The WASI sandbox maps ``/tmp`` to a private directory, so a tool cannot see absolute paths under
  the host's ``/tmp``: every tool runs with ``cwd`` set to its work directory, on relative names.
* Yosys's linked ABC renumbers the standard file descriptors, after which the WASI build loses its
  stdout and stderr (every later message, errors included, vanishes): each tool writes its log
  with ``-l FILE`` and errors are read from that file.
* A tool runs in a subprocess (``sys.executable`` calling the wheel's Python entry point, which
  needs no console script on ``PATH``), so its inherited stdio never reaches our stdout (``--json``)
  and Ctrl-C can stop it.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from ..errors import HwaccelError

__all__ = ["EstimateError", "Tool", "run_tool", "last_error"]

_LAUNCH = "import importlib, sys; sys.exit(getattr(importlib.import_module(sys.argv[1]), sys.argv[2])(sys.argv[3:]))"
_NOTE_EVERY_S = 30.0  # progress lines when stderr is not a terminal


class EstimateError(HwaccelError):
    """An estimate cannot be made: a bad argument, a missing build or tool, or a tool that failed."""


@dataclass(frozen=True)
class Tool:
    """A YoWASP tool: ``func(argv) -> exit code`` in module ``module`` of pip package ``package``."""

    name: str
    package: str
    module: str
    func: str

    def version(self) -> str:
        """The installed wheel's version (part of the cache key).

        Raises
        ------
        EstimateError
            The wheel is not installed.
        """
        try:
            version = importlib.metadata.version(self.package)
        except importlib.metadata.PackageNotFoundError:
            version = None
        if version is None or importlib.util.find_spec(self.module) is None:
            raise EstimateError(f"{self.name} is not installed; the FPGA estimate needs it: pip install {self.package}")
        return version


class ToolTimeout(EstimateError):
    """A tool ran past its time limit and was stopped."""


def run_tool(tool: Tool, args: list[str], cwd: Path, step: str, progress: bool,
             timeout_s: float | None = None) -> tuple[int, float]:
    """Run ``tool`` on ``args`` in ``cwd``; its stdout and stderr go to ``cwd/<name>.stdout``.

    Parameters
    ----------
    tool, args
        The tool and its command line (file names relative to ``cwd``).
    cwd
        Work directory.
    step
        What the step does, for the progress lines (e.g. ``"synthesizing (yosys)"``).
    progress
        Report the step and its elapsed seconds on stderr (one updating line on a terminal).
    timeout_s
        Stop the tool after this many seconds and raise :class:`ToolTimeout` (None: no limit).

    Returns
    -------
    tuple[int, float]
        The exit code and the wall-clock seconds.
    """
    tool.version()
    start = time.monotonic()
    with open(cwd / f"{tool.name}.stdout", "wb") as out:
        proc = subprocess.Popen([sys.executable, "-c", _LAUNCH, tool.module, tool.func, *args], cwd=cwd,
                                stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT)
        try:
            code = _wait(proc, step, start, progress, timeout_s)
        except BaseException:
            proc.kill()
            proc.wait()
            raise
    return code, time.monotonic() - start


def _wait(proc: subprocess.Popen, step: str, start: float, progress: bool, timeout_s: float | None) -> int:
    tty = progress and sys.stderr.isatty()
    back = "\r" if tty else ""
    if progress:
        print(f"{step}...", end="" if tty else "\n", file=sys.stderr, flush=True)
    next_note = _NOTE_EVERY_S
    while True:
        try:
            code = proc.wait(timeout=1.0)
            break
        except subprocess.TimeoutExpired:
            elapsed = time.monotonic() - start
            if timeout_s is not None and elapsed > timeout_s:
                proc.kill()
                proc.wait()
                if progress:
                    print(f"{back}{step}... stopped after {elapsed:.0f} s", file=sys.stderr, flush=True)
                raise ToolTimeout(f"{step} did not finish within {timeout_s:g} s")
            if tty or (progress and elapsed >= next_note):
                print(f"{back}{step}... {elapsed:.0f} s", end="" if tty else "\n", file=sys.stderr, flush=True)
                next_note += _NOTE_EVERY_S
    if progress:
        outcome = "done" if code == 0 else f"exit code {code}"
        print(f"{back}{step}... {outcome} in {time.monotonic() - start:.1f} s", file=sys.stderr, flush=True)
    return code


def last_error(*paths: Path) -> str:
    """The most telling line of a failed tool's logs: its last ``ERROR:`` line, else the last line of
    a Python traceback (with wasmtime's "Caused by" reason), else the last non-empty line; ``"no log"``
    when the files are empty."""
    lines: list[str] = []
    for path in paths:
        if path.is_file():
            lines += [line.strip() for line in path.read_text(errors="replace").splitlines() if line.strip()]
    errors = [line for line in lines if "ERROR:" in line]
    if errors:
        return errors[-1]
    raised = [i for i, line in enumerate(lines) if line.split(":")[0].endswith(("Error", "Trap", "Exception"))]
    if raised:
        line, rest = lines[raised[-1]], lines[raised[-1] + 1:]
        cause = rest[rest.index("Caused by:") + 1] if "Caused by:" in rest[:-1] else None
        return f"{line} caused by: {cause}" if cause else line
    return lines[-1] if lines else "no log"
