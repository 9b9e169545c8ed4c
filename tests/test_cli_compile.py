"""``hwaccel compile`` and ``hwaccel simulate``: builds of the zoo, determinism, --force, clear
errors, and the cycle model's JSON."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import pytest

from hwaccel.build_dir import MANIFEST, read_build, read_mem, write_mem
from hwaccel.cli import main
from hwaccel.frontend.qdq import load_quantized
from hwaccel.golden.dataflow import run_dataflow
from hwaccel.golden.fixed import run_golden
from hwaccel.units.dataflow import dataflow_to_dict
from hwaccel.perf.model import cycle_model

from dataflow_cases import ZOO_COMPILED, gated_dense, zoo_fixed, zoo_inputs
from zoo_data import MODELS, calibration


def _calib(tmp_path: Path, name: str) -> str:
    path = tmp_path / f"{name}.calib.npy"
    if name == "generator":
        latents = np.load(MODELS / "generator_latents.npz")
        np.save(path, latents[latents.files[0]][:128])
    else:
        np.save(path, calibration(name))
    return str(path)


def _compile(tmp_path: Path, name: str, out: Path, *extra: str) -> int:
    return main(["compile", str(MODELS / f"{name}.onnx"), "--calib", _calib(tmp_path, name), "-o", str(out), *extra])


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("name", ZOO_COMPILED)
def test_compile_every_zoo_model(tmp_path, capsys, name):
    out = tmp_path / "build" / name
    assert _compile(tmp_path, name, out, "--json") == 0
    report = json.loads(capsys.readouterr().out)
    assert report["output"] == str(out) and MANIFEST in report["files"]
    assert {"latency_cycles", "interval_cycles", "total_cycles", "mac_utilization"} <= set(report)
    df, manifest = read_build(out)
    assert manifest["model"]["source"] == f"{name}.onnx" and manifest["host_ops"][0] == "DequantizeLinear"
    # the quantized model compiled is in the build and lowers to the same graph
    assert run_golden(load_quantized(out / manifest["model"]["file"]), {"input": zoo_inputs(name, 4)})["output"].tobytes() == \
        run_golden(zoo_fixed(name), {"input": zoo_inputs(name, 4)})["output"].tobytes()
    mems = sorted(p.name for p in (out / "weights").iterdir())
    assert mems == sorted(f"{s.name}.{k}.mem" for s in df.stages for k, u in enumerate(s.units) if hasattr(u, "weights"))
    # the build alone (manifest + .mem) reproduces the golden results
    x = zoo_inputs(name, 16)
    golden = run_golden(zoo_fixed(name), {"input": x})
    for key, value in run_dataflow(df, {"input": x}).items():
        if key in golden:
            np.testing.assert_array_equal(value, golden[key])
    assert not [p for p in out.parent.iterdir() if p.name.startswith(".")]  # no temporary directory left


def test_compile_a_qdq_file_and_it_is_deterministic(tmp_path, capsys):
    qdq = tmp_path / "cnn.qdq.onnx"
    assert main(["quantize", str(MODELS / "cnn.onnx"), "--calib", str(MODELS / "digits_calib.npz"), "-o", str(qdq)]) == 0
    out = tmp_path / "cnn"
    assert main(["compile", str(qdq), "-o", str(out), "--dsp", "64"]) == 0
    first = _files(out)
    assert main(["compile", str(qdq), "-o", str(out), "--dsp", "64", "--force"]) == 0
    assert _files(out) == first and MANIFEST in first
    assert first["model.qdq.onnx"] == qdq.read_bytes()  # a QDQ input is stored as it is
    assert "compiled" in capsys.readouterr().out


def test_force_is_needed_to_replace_a_build(tmp_path, capsys):
    out = tmp_path / "cnn"
    assert _compile(tmp_path, "cnn", out, "--dsp", "64") == 0
    before = _files(out)
    capsys.readouterr()
    assert _compile(tmp_path, "cnn", out, "--dsp", "200") == 2
    err = capsys.readouterr().err
    assert err == f"hwaccel: error: {out}: already exists (use --force to overwrite)\n"
    assert _files(out) == before
    assert _compile(tmp_path, "cnn", out, "--dsp", "200", "--force") == 0
    after = _files(out)
    assert after[MANIFEST] != before[MANIFEST]
    assert json.loads(after[MANIFEST])["dataflow"]["folding"]["target"]["dsp"] == 200
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_host_op_between_hardware_layers_fails_with_the_op_and_why(tmp_path, capsys):
    onnx.save(gated_dense(), tmp_path / "gated.onnx")
    np.save(tmp_path / "calib.npy", np.random.default_rng(0).normal(size=(32, 8)).astype(np.float32))
    assert main(["compile", str(tmp_path / "gated.onnx"), "--calib", str(tmp_path / "calib.npy"), "-o", str(tmp_path / "b")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "(QMul) cannot be compiled: element-wise multiplication has no hardware unit" in err
    assert not (tmp_path / "b").exists()


def test_float_model_needs_calib_and_targets_are_exclusive(tmp_path, capsys):
    assert main(["compile", str(MODELS / "cnn.onnx"), "-o", str(tmp_path / "x")]) == 2
    assert "the model is float; give --calib DATA" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["compile", str(MODELS / "cnn.onnx"), "--dsp", "4", "--luts", "100"])


def test_simulate_json_and_batches(tmp_path, capsys):
    out = tmp_path / "cnn"
    assert _compile(tmp_path, "cnn", out) == 0
    capsys.readouterr()
    totals = {}
    for batch in (1, 50, 51):
        assert main(["simulate", str(out), "--batch", str(batch), "--json"]) == 0
        report = json.loads(capsys.readouterr().out)
        assert {"latency_cycles", "interval_cycles", "total_cycles", "mac_utilization", "layers"} <= set(report)
        totals[batch] = report["total_cycles"]
    assert totals[51] - totals[50] == report["interval_cycles"] == 592
    assert report["mac_utilization"] >= 0.9  # balanced folding of the zoo CNN (by hand: 23680 / (41 * 592) less pruned MACs)
    assert [layer["name"] for layer in report["layers"]] == ["conv0", "maxpool1", "conv2", "maxpool3", "dense4"]
    df, _ = read_build(out)
    assert cycle_model(df, 51).total_cycles == totals[51]
    assert main(["simulate", str(out)]) == 0
    assert "MAC utilization 97.1%" in capsys.readouterr().out


def test_simulate_needs_a_build(tmp_path, capsys):
    assert main(["simulate", str(tmp_path)]) == 2
    assert "not a build directory (no manifest.json)" in capsys.readouterr().err


def test_build_round_trip_keeps_the_dataflow(tmp_path):
    from hwaccel.passes.to_dataflow import to_dataflow

    out = tmp_path / "resnet"
    assert _compile(tmp_path, "resnet", out) == 0
    df, _ = read_build(out)
    assert dataflow_to_dict(df) == dataflow_to_dict(to_dataflow(zoo_fixed("resnet"), name="resnet"))


def test_mem_format_by_hand():
    assert write_mem([-1, 5, -128, 127], 8) == "ff\n05\n80\n7f\n"
    assert write_mem([-3, 2], 3) == "5\n2\n"
    np.testing.assert_array_equal(read_mem("ff\n05\n80\n7f\n", 8, (2, 2)), [[-1, 5], [-128, 127]])
    np.testing.assert_array_equal(read_mem("5\n2\n", 3, (2,), signed=False), [5, 2])
