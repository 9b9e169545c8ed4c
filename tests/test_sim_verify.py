"""``hwaccel.sim.verify``: where a verify builds, and two verifies running at once."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from contextlib import ExitStack
from pathlib import Path

import pytest

from hwaccel.sim import verify as sim_verify
from hwaccel.sim.runner import simulator_missing
from zoo_builds import ROOT, zoo_inputs


def test_sim_folder_inside_the_build(tmp_path) -> None:
    with ExitStack() as stack:
        assert sim_verify._sim_folder(tmp_path, "icarus", True, stack) == tmp_path / "sim_build" / "icarus_waves"
        assert sim_verify._sim_folder(tmp_path, "verilator", False, stack) == tmp_path / "sim_build" / "verilator"


def test_sim_folder_of_a_read_only_build_is_temporary(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(sim_verify.os, "access", lambda path, mode: False)
    with ExitStack() as stack:
        folder = sim_verify._sim_folder(tmp_path / "build", "verilator", False, stack)
        assert folder.is_dir() and tmp_path not in folder.parents
    assert not folder.exists()


@pytest.mark.rtl
def test_two_verifies_at_once(tmp_path) -> None:
    """Two copies of the committed mlp build (same design and name) verified by two processes started
    in the same directory: both pass, each builds inside its own build directory, nothing is written
    to the working directory."""
    if reason := simulator_missing("verilator"):
        pytest.skip(reason)
    inputs = zoo_inputs("mlp", 100)
    builds = [tmp_path / name for name in ("a", "b")]
    for build in builds:
        shutil.copytree(ROOT / "rtl" / "mlp", build)
    work = tmp_path / "work"
    work.mkdir()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    procs = [subprocess.Popen([sys.executable, "-m", "hwaccel", "verify", str(build), "--input", str(inputs),
                               "--count", "4", "--json"], cwd=work, env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for build in builds]
    outputs = [p.communicate(timeout=900) for p in procs]
    for build, proc, (out, err) in zip(builds, procs, outputs):
        assert proc.returncode == 0, err[-2000:]
        report = json.loads(out)
        assert (report["build"], report["bit_exact"], report["cycles_match"]) == (str(build), True, True)
        assert (build / "sim_build" / "verilator" / "top.v").read_text() == (build / "top.v").read_text()
        assert not [p for p in (build / "sim_build" / "verilator").iterdir() if p.name.startswith("run_")]
    assert not list(work.iterdir())


def test_a_join_at_fewer_lanes_than_the_stream_after_it_verifies(tmp_path) -> None:
    """A Concat folded to the lanes its rate needs, a Regroup widening its output to the conv after
    it (the small concat case at the default budget): bit-exact on amaranth, cycles = the model."""
    import numpy as np
    import onnx

    import hwaccel
    from dataflow_cases import _small

    rng = np.random.default_rng(11)
    model, shape = _small("concat_transpose", rng)
    onnx.save(model, tmp_path / "concat.onnx")
    np.savez(tmp_path / "calib.npz", input=rng.uniform(-1, 1, (64,) + shape).astype(np.float32))
    built = hwaccel.compile(tmp_path / "concat.onnx", tmp_path / "build", calib=tmp_path / "calib.npz")
    join = next(s for s in built.dataflow.stages if s.kind == "concat")
    assert join.in_lanes < join.lanes, join.units
    result = hwaccel.verify(built.output, rng.uniform(-1, 1, (4,) + shape).astype(np.float32), simulator="amaranth")
    assert result.ok and result.report["count"] == 4, result
