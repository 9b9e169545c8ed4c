"""Every output option is checked before any work: an existing path needs ``--force``, a missing or
unwritable directory is one error line and exit 2 (as an unprivileged user: root ignores directory
modes); ``.npz`` outputs take any output name; warnings stay out of the error line; a closed stdout
pipe exits quietly."""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
import warnings
from pathlib import Path
from typing import Iterator

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from hwaccel.cli import build_parser, main
from hwaccel.errors import HwaccelError
from hwaccel.files import save_arrays

from conftest import conv_bn_relu_model, make_model

ROOT = Path(__file__).resolve().parent.parent
MODELS = ROOT / "models"
BUILD = ROOT / "rtl" / "mlp"  # a committed build: verify's checks come before any use of it


@pytest.fixture
def shared() -> Iterator[Path]:
    """A folder every user can read (pytest's tmp_path is root's alone), with a read-only ``ro/``."""
    base = Path(tempfile.mkdtemp(prefix="hwaccel-outputs-"))
    base.chmod(0o755)
    onnx.save(conv_bn_relu_model(), base / "m.onnx")
    np.save(base / "x.npy", np.zeros((2, 2, 5, 5), np.float32))
    np.save(base / "calib.npy", np.random.default_rng(0).normal(size=(8, 784)).astype(np.float32))
    np.save(base / "mlp_x.npy", np.zeros((1, 784), np.float32))
    (base / "ro").mkdir(mode=0o555)
    (base / "ro").chmod(0o555)
    yield base
    shutil.rmtree(base)


def _commands(base: Path, where: str) -> dict[str, list[str]]:
    """One command per output option, writing into ``base / where``."""
    out = base / where
    return {
        "run -o": ["run", str(base / "m.onnx"), "--input", str(base / "x.npy"), "-o", str(out / "y.npz")],
        "quantize -o": ["quantize", str(MODELS / "mlp.onnx"), "--calib", str(base / "calib.npy"), "-o", str(out / "q.onnx")],
        "compile -o": ["compile", str(BUILD / "model.qdq.onnx"), "-o", str(out / "b")],
        "verify --waves": ["verify", str(BUILD), "--input", str(base / "mlp_x.npy"), "--simulator", "amaranth",
                           "--waves", str(out / "w.vcd")],
        "bench --plot": ["bench", str(BUILD / "model.qdq.onnx"), "--batch", "4", "--repeat", "1", "--plot", str(out / "p.png")],
    }


def _as_unprivileged(argv: list[str]) -> tuple[int, str, float]:
    """``main(argv)`` in a forked child running as ``nobody`` (as this user when not root): exit code,
    stderr and seconds taken."""
    import hwaccel.sim.verify  # noqa: F401  # what the child imports, imported while the stdlib is readable

    build_parser()
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns into pytest
        code = 99
        try:
            os.close(read)
            if os.geteuid() == 0:
                nobody = pwd.getpwnam("nobody")
                os.setgroups([])
                os.setgid(nobody.pw_gid)
                os.setuid(nobody.pw_uid)
            sys.stdout = sys.stderr = open(write, "w", closefd=False)
            start = time.perf_counter()
            code = main(argv)
            print(f"\nseconds {time.perf_counter() - start:.3f}", file=sys.stderr)
            sys.stderr.flush()
        except BaseException:
            os.write(write, traceback.format_exc().encode())
        finally:
            os._exit(code)
    os.close(write)
    with open(read) as f:
        text = f.read()
    status = os.waitpid(pid, 0)[1]
    err, _, seconds = text.rpartition("\nseconds ")
    return os.waitstatus_to_exitcode(status), err, float(seconds or "nan")


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
@pytest.mark.parametrize("option", ["run -o", "quantize -o", "compile -o", "verify --waves", "bench --plot"])
def test_unwritable_directory_fails_first_as_unprivileged_user(shared: Path, option: str) -> None:
    argv = _commands(shared, "ro")[option]
    code, err, seconds = _as_unprivileged(argv)
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("hwaccel: error: ") and "must be writable" in lines[0], err
    assert f"{shared / 'ro'}" in lines[0]
    assert seconds < 2.0, f"{option}: the check came after {seconds:.1f} s of work"
    assert list((shared / "ro").iterdir()) == []


@pytest.mark.parametrize("option", ["run -o", "quantize -o", "verify --waves", "bench --plot"])
def test_missing_output_directory_fails_first(shared: Path, option: str, capsys: pytest.CaptureFixture) -> None:
    argv = _commands(shared, "missing")[option]
    start = time.perf_counter()
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"{shared / 'missing'}: output directory does not exist" in err, err
    assert time.perf_counter() - start < 2.0 and not (shared / "missing").exists()


def test_verify_waves_needs_force_to_overwrite(shared: Path, capsys: pytest.CaptureFixture) -> None:
    waves = shared / "w.vcd"
    waves.write_text("keep")
    argv = _commands(shared, ".")["verify --waves"]
    argv[-1] = str(waves)
    assert main(argv) == 2
    assert f"{waves}: already exists (use --force to overwrite)" in capsys.readouterr().err
    assert waves.read_text() == "keep"


def test_npz_output_names_that_are_savez_keywords(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3])
    outs = [helper.make_tensor_value_info(n, TensorProto.FLOAT, ["N", 3]) for n in ("file", "allow_pickle")]
    model = make_model([helper.make_node("Relu", ["x"], ["file"]), helper.make_node("Relu", ["x"], ["allow_pickle"])], [x], outs)
    onnx.save(model, tmp_path / "m.onnx")
    x_value = np.array([[-1.0, 0.5, 2.0]], np.float32)
    np.save(tmp_path / "x.npy", x_value)
    assert main(["run", str(tmp_path / "m.onnx"), "--input", str(tmp_path / "x.npy"), "-o", str(tmp_path / "y.npz")]) == 0
    with np.load(tmp_path / "y.npz", allow_pickle=False) as data:
        assert sorted(data.files) == ["allow_pickle", "file"]
        np.testing.assert_array_equal(data["file"], np.maximum(x_value, 0))
    save_arrays(tmp_path / "z.npz", {"a/b c": np.arange(3)})  # any name numpy itself writes
    with np.load(tmp_path / "z.npz") as data:
        assert data.files == ["a/b c"]


def test_warnings_stay_out_of_the_error_line(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                             capsys: pytest.CaptureFixture) -> None:
    from hwaccel import api

    def warn_then_fail(*args: object, **kwargs: object) -> None:
        np.float32(1e38) * np.float32(10)  # overflow: a RuntimeWarning
        warnings.warn("a library warning", UserWarning)
        raise HwaccelError("the one error")

    monkeypatch.setattr(api, "run", warn_then_fail)
    argv = ["run", "m.onnx", "--input", "x.npy"]
    assert main(argv) == 2
    assert capsys.readouterr().err == "hwaccel: error: the one error\n"
    with pytest.raises(HwaccelError):
        main(["--debug", *argv])
    err = capsys.readouterr().err
    assert "RuntimeWarning" in err and "a library warning" in err  # --debug shows the log


def test_closed_stdout_pipe_exits_quietly() -> None:
    read, write = os.pipe()
    os.close(read)  # the reader is gone before anything is written, as after `| head -1`
    proc = subprocess.run([sys.executable, "-m", "hwaccel", "info", "--ops"], stdout=write, stderr=subprocess.PIPE,
                          text=True)
    os.close(write)
    assert proc.returncode == 0 and proc.stderr == ""
