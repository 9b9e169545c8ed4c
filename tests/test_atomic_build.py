"""``compile --force`` replaces a build atomically: killed at any moment (at random times, and between
the steps of the replace) the path holds the old complete build or the new one; readers refuse a
build without its completion stamp; hidden folders of killed writes are cleaned up by the next one."""

from __future__ import annotations

import hashlib
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from hwaccel.build_dir import MANIFEST, STAMP, read_build, remove_stale
from hwaccel.cli import main

ROOT = Path(__file__).resolve().parent.parent
MODEL = ROOT / "rtl" / "mlp" / "model.qdq.onnx"  # a small QDQ model: a compile takes a few seconds


def _compile(out: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "hwaccel", "compile", str(MODEL), "-o", str(out), *extra]


def _state(out: Path) -> str:
    """``"old"`` or ``"new"`` (by the manifest's folding budget) for a complete, intact build; fails otherwise."""
    assert out.is_dir(), f"no build at {out}"
    stamp = (out / STAMP).read_text().splitlines()
    listed = {line.split("  ", 1)[1]: line.split("  ", 1)[0] for line in stamp}
    files = {str(p.relative_to(out)) for p in out.rglob("*") if p.is_file() and p.name != STAMP}
    assert set(listed) == files
    assert all(hashlib.sha256((out / f).read_bytes()).hexdigest() == h for f, h in listed.items())
    read_build(out)
    return "old" if json.loads((out / MANIFEST).read_text())["cycles"] == OLD_CYCLES[out] else "new"


OLD_CYCLES: dict[Path, dict] = {}


@pytest.fixture(scope="module")
def compiled(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("atomic") / "b"
    subprocess.run(_compile(out, "--dsp", "40"), check=True, capture_output=True)
    return out


@pytest.fixture
def old_build(compiled: Path, tmp_path: Path) -> Path:
    """A build made with another folding budget than the default (a copy per test)."""
    out = tmp_path / "b"
    shutil.copytree(compiled, out)
    OLD_CYCLES[out] = json.loads((out / MANIFEST).read_text())["cycles"]
    return out


def _hidden(out: Path) -> list[str]:
    return sorted(p.name for p in out.parent.iterdir() if p.name.startswith(f".{out.name}."))


def test_kill_at_random_times_leaves_old_or_new(old_build: Path) -> None:
    out, rng, seen = old_build, random.Random(21), set()
    for _ in range(4):
        proc = subprocess.Popen(_compile(out, "--force"), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                start_new_session=True)
        time.sleep(rng.uniform(0.5, 7.0))
        os.killpg(proc.pid, signal.SIGKILL)  # the compile and its Verilog workers
        proc.wait()
        seen.add(_state(out))
    assert main(["compile", str(MODEL), "-o", str(out), "--force"]) == 0
    assert _state(out) == "new" and _hidden(out) == []  # the killed runs' folders are gone


_KILL_AFTER = """
import os, signal, sys
from pathlib import Path
import hwaccel.files as files
from hwaccel.api.compiler import write_compiled
from hwaccel.build_dir import read_build
out = Path(sys.argv[1])
df, manifest = read_build(out)
extra = {k: v for k, v in manifest.items() if k not in ("format", "dataflow")}
extra["cycles"] = {"changed": True}  # the new build differs from the old
real_rename, renames = os.rename, []
def kill_after_exchange(a, b):
    done = real_exchange(a, b)
    os.kill(os.getpid(), signal.SIGKILL)
def no_exchange(a, b):
    return False
def kill_after_first_rename(a, b):
    real_rename(a, b)
    os.kill(os.getpid(), signal.SIGKILL)
real_exchange = files.exchange_paths
if sys.argv[2] == "exchange":
    files.exchange_paths = kill_after_exchange
else:
    files.exchange_paths = no_exchange
    os.rename = kill_after_first_rename
write_compiled(out, df, extra, (out / "model.qdq.onnx").read_bytes(), verilog=False, force=True)
"""


def test_kill_between_exchange_and_cleanup(old_build: Path) -> None:
    out = old_build
    proc = subprocess.run([sys.executable, "-c", _KILL_AFTER, str(out), "exchange"], capture_output=True, text=True)
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    assert _state(out) == "new" and len(_hidden(out)) == 1  # the old build, in a hidden folder of a dead writer
    remove_stale(out)
    assert _hidden(out) == [] and _state(out) == "new"


def test_kill_between_two_renames_is_recovered(old_build: Path) -> None:
    """Where the exchange rename is not available: the old build is moved aside, then the new one
    in; a kill between the two leaves nothing at the path, and the next write puts the old one back."""
    out = old_build
    proc = subprocess.run([sys.executable, "-c", _KILL_AFTER, str(out), "rename"], capture_output=True, text=True)
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    assert not out.exists() and len(_hidden(out)) == 2  # the old build aside, the new one not moved in
    remove_stale(out)
    assert _state(out) == "old" and _hidden(out) == []


def test_incomplete_build_is_refused(old_build: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    half = tmp_path / "half"
    shutil.copytree(old_build, half)
    (half / STAMP).unlink()
    for command in (["simulate", str(half)], ["estimate", str(half), "--asic", "45nm"],
                    ["verify", str(half), "--input", str(tmp_path / "x.npy")]):
        assert main(command) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and f"{half}: incomplete build (no {STAMP}" in err, err


def test_stale_folders_of_dead_writers_are_removed(old_build: Path) -> None:
    out = old_build
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    stale, live = out.parent / f".b.tmp-{dead.pid}-abc", out.parent / f".b.tmp-{os.getppid()}-def"
    for folder in (stale, live):
        (folder / "weights").mkdir(parents=True)
        (folder / MANIFEST).write_text("{")
    remove_stale(out)
    assert not stale.exists() and live.exists()  # a running process's folder stays
    shutil.rmtree(live)
