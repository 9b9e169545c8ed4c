"""The command line: reports, --json, and one-line errors with exit code 2."""

from __future__ import annotations

import json
import math
import subprocess
import sys

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from hwaccel.cli import main

from conftest import conv_bn_relu_model, make_model


@pytest.fixture
def model_path(tmp_path):
    path = tmp_path / "m.onnx"
    onnx.save(conv_bn_relu_model(), path)
    return path


def test_info_json(model_path, capsys):
    assert main(["info", str(model_path), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert [layer["op"] for layer in report["layers"]] == ["Conv", "Relu", "Reshape", "MatMul"]
    conv = report["layers"][0]
    assert conv["macs"] == 4 * 5 * 5 * 2 * 3 * 3  # out pixels x channels x (C_in x k x k)
    assert conv["params"] == 4 * 2 * 3 * 3 + 4
    assert report["layers"][2]["params"] == 0  # the Reshape's shape constant is not a parameter
    assert report["layers"][3]["macs"] == 100 * 3 and report["layers"][3]["params"] == 300
    assert report["totals"]["macs"] == 1800 + 300
    assert report["inputs"] == [{"name": "x", "shape": ["N", 2, 5, 5], "dtype": "float32"}]


def test_info_text(model_path, capsys):
    assert main(["info", str(model_path)]) == 0
    out = capsys.readouterr().out
    assert "Conv" in out and "total: 376 parameters, 2,100 MACs" in out


def test_run_float_and_save(model_path, tmp_path, capsys):
    x = np.random.default_rng(0).normal(size=(4, 2, 5, 5)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    out = tmp_path / "y.npz"
    assert main(["run", str(model_path), "--input", str(tmp_path / "x.npy"), "-o", str(out), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["outputs"]["y"]["shape"] == [4, 3]
    ref = main(["run", str(model_path), "--input", str(tmp_path / "x.npy"), "--engine", "onnxruntime", "--json"])
    assert ref == 0
    ort_values = np.array(json.loads(capsys.readouterr().out)["outputs"]["y"]["values"], np.float32)
    np.testing.assert_allclose(np.load(out)["y"], ort_values, rtol=1e-5, atol=1e-5)
    # refuses to overwrite without --force, and leaves the file intact
    before = out.read_bytes()
    assert main(["run", str(model_path), "--input", str(tmp_path / "x.npy"), "-o", str(out)]) == 2
    assert "already exists (use --force to overwrite)" in capsys.readouterr().err
    assert out.read_bytes() == before
    assert main(["run", str(model_path), "--input", str(tmp_path / "x.npy"), "-o", str(out), "--force"]) == 0


def test_run_rejects_wrong_input_shape(model_path, tmp_path, capsys):
    np.save(tmp_path / "x.npy", np.zeros((4, 3, 5, 5), np.float32))
    assert main(["run", str(model_path), "--input", str(tmp_path / "x.npy")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "input 'x' must have shape ('N', 2, 5, 5), not (4, 3, 5, 5)" in err


def test_run_npz_missing_key(model_path, tmp_path, capsys):
    np.savez(tmp_path / "x.npz", other=np.zeros((1, 2, 5, 5), np.float32))
    assert main(["run", str(model_path), "--input", str(tmp_path / "x.npz")]) == 2
    assert "missing input(s) ['x']" in capsys.readouterr().err


def _bad_files(tmp_path):
    good = conv_bn_relu_model().SerializeToString()
    files = {
        "malformed.onnx": b"\x0a\xff\xff\xff\xff\x0f garbage",
        "truncated.onnx": good[: len(good) // 3],
        "notonnx.onnx": b"PK\x03\x04 this is a zip, not a model",
    }
    paths = {}
    for name, data in files.items():
        paths[name] = tmp_path / name
        paths[name].write_bytes(data)
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])
    unsupported = make_model([helper.make_node("Erf", ["x"], ["a"], name="e"), helper.make_node("Sin", ["a"], ["y"], name="s")], [x], [y])
    paths["unsupported.onnx"] = tmp_path / "unsupported.onnx"
    onnx.save(unsupported, paths["unsupported.onnx"])
    escape = conv_bn_relu_model()
    t = next(t for t in escape.graph.initializer if t.name == "fc")
    t.ClearField("raw_data"); t.ClearField("float_data")
    t.data_location = TensorProto.EXTERNAL
    t.external_data.add(key="location", value="../../etc/passwd")
    paths["escape.onnx"] = tmp_path / "escape.onnx"
    paths["escape.onnx"].write_bytes(escape.SerializeToString())
    return paths


@pytest.mark.parametrize("name, message", [
    ("malformed.onnx", "malformed.onnx: "),
    ("truncated.onnx", "truncated.onnx: "),
    ("notonnx.onnx", "notonnx.onnx: "),
    ("unsupported.onnx", "2 unsupported node(s): e (Erf, opset 17), s (Sin, opset 17)"),
    ("escape.onnx", "must not contain '..'"),
])
def test_bad_model_files_exit_2_with_one_line(tmp_path, name, message):
    path = _bad_files(tmp_path)[name]
    for command in (["info", str(path)], ["run", str(path), "--input", str(tmp_path / "none.npy")]):
        proc = subprocess.run([sys.executable, "-m", "hwaccel", *command], capture_output=True, text=True)
        assert proc.returncode == 2, proc.stderr
        assert proc.stdout == ""
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("hwaccel: error: ") and message in lines[0], proc.stderr


def test_debug_shows_traceback(tmp_path):
    path = _bad_files(tmp_path)["notonnx.onnx"]
    proc = subprocess.run([sys.executable, "-m", "hwaccel", "--debug", "info", str(path)], capture_output=True, text=True)
    assert proc.returncode != 0 and "Traceback" in proc.stderr


def test_help_explains_commands():
    proc = subprocess.run([sys.executable, "-m", "hwaccel", "--help"], capture_output=True, text=True)
    assert proc.returncode == 0 and "info" in proc.stdout and "run" in proc.stdout and "Example" in proc.stdout


ZOO_CNN = "models/cnn.onnx"


def _repo(path: str) -> str:
    from conftest import ROOT

    return str(ROOT / path)


def test_quantize_then_golden_cpu_and_onnxruntime(tmp_path, capsys):
    out = tmp_path / "cnn.qdq.onnx"
    calib = _repo("models/digits_calib.npz")
    assert main(["quantize", _repo(ZOO_CNN), "--calib", calib, "-o", str(out), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert [l["op"] for l in report["layers"]] == ["Conv", "Conv", "Gemm"]
    assert all(l["acc_bits"] == 8 + 8 + math.ceil(math.log2(t)) + 1 for l, t in zip(report["layers"], [1 * 9 + 1, 8 * 9 + 1, 64 + 1]))
    assert report["host_ops"] == []
    # refuses to overwrite
    assert main(["quantize", _repo(ZOO_CNN), "--calib", calib, "-o", str(out)]) == 2
    assert "already exists" in capsys.readouterr().err
    sample = _repo("models/digits_sample.npz")
    results = {}
    for engine in ("golden", "cpu", "onnxruntime"):
        assert main(["run", str(out), "--input", sample, "--engine", engine, "--json"]) == 0
        results[engine] = np.array(json.loads(capsys.readouterr().out)["outputs"]["output"]["values"])
    np.testing.assert_array_equal(results["golden"], results["cpu"])
    labels = np.load(sample)["label"]
    assert (results["golden"].argmax(1) == labels).mean() >= 0.9


def test_golden_engine_on_float_model_tells_to_quantize(capsys):
    assert main(["run", _repo(ZOO_CNN), "--input", _repo("models/digits_sample.npz"), "--engine", "golden"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "run `hwaccel quantize MODEL --calib DATA` first" in err


@pytest.mark.parametrize("args, message", [
    (["--weight-bits", "1"], "weight bits must be in 2..16, not 1"),
    (["--prune", "1.5"], "prune fraction must be in [0, 1), not 1.5"),
    (["--share", "1"], "weight sharing needs at least 2 clusters, not 1"),
])
def test_quantize_rejects_bad_options(tmp_path, capsys, args, message):
    out = tmp_path / "q.onnx"
    code = main(["quantize", _repo(ZOO_CNN), "--calib", _repo("models/digits_calib.npz"), "-o", str(out), *args])
    assert code == 2 and message in capsys.readouterr().err and not out.exists()


def test_quantize_bits_per_layer_unknown_layer(tmp_path, capsys):
    bits = tmp_path / "bits.json"
    bits.write_text(json.dumps({"no_such_layer": 4}))
    code = main(["quantize", _repo(ZOO_CNN), "--calib", _repo("models/digits_calib.npz"), "-o", str(tmp_path / "q.onnx"),
                 "--bits-per-layer", str(bits)])
    assert code == 2 and "unknown layer(s) ['no_such_layer']" in capsys.readouterr().err


def test_quantize_prune_and_share_are_reported(tmp_path, capsys):
    out = tmp_path / "q.onnx"
    assert main(["quantize", _repo(ZOO_CNN), "--calib", _repo("models/digits_calib.npz"), "-o", str(out),
                 "--prune", "0.5", "--share", "8", "--weight-bits", "6", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    for layer in report["layers"]:
        assert layer["weight_bits"] == 6
        assert layer["sparsity"] >= 0.45
        assert layer["distinct_weights"] <= 8 + 1  # eight shared values plus the pruned zero


def _all_models():
    from conftest import ROOT

    return sorted((ROOT / "models").glob("*.onnx")) + sorted((ROOT / "tests" / "data").glob("*.onnx"))


@pytest.mark.parametrize("path", _all_models(), ids=lambda p: p.stem)
def test_info_and_run_on_every_zoo_and_torch_model(path, tmp_path, capsys):
    assert main(["info", str(path), "--json", "--ir"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["totals"]["macs"] > 0 and report["layers"]
    shape = [d if isinstance(d, int) else 3 for d in report["inputs"][0]["shape"]]
    x = np.random.default_rng(0).uniform(0, 1, size=shape).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    outputs = {}
    for engine in ("float", "onnxruntime"):
        assert main(["run", str(path), "--input", str(tmp_path / "x.npy"), "--engine", engine, "--json"]) == 0
        outputs[engine] = json.loads(capsys.readouterr().out)["outputs"]
    for name, entry in outputs["float"].items():
        np.testing.assert_allclose(entry["values"], outputs["onnxruntime"][name]["values"], rtol=1e-5, atol=1e-5)


def test_info_ir_listing(model_path, capsys):
    assert main(["info", str(model_path), "--ir"]) == 0
    out = capsys.readouterr().out
    assert "conv: Conv(x(N, 2, 5, 5) float32, conv.weight_bn, conv.bias_bn) -> bn(N, 4, 5, 5) float32" in out


def test_version_is_the_package_version():
    import hwaccel

    proc = subprocess.run([sys.executable, "-m", "hwaccel", "--version"], capture_output=True, text=True)
    assert proc.returncode == 0 and proc.stdout == f"hwaccel {hwaccel.__version__}\n"
    assert "--version" in subprocess.run([sys.executable, "-m", "hwaccel", "--help"], capture_output=True, text=True).stdout


def _bad_command_lines(tmp_path):
    """One command line per command that fails with a user error, and the error class it must name."""
    missing = str(tmp_path / "missing.onnx")
    empty = tmp_path / "empty"
    empty.mkdir()
    np.save(tmp_path / "x.npy", np.zeros((1, 2, 5, 5), np.float32))
    x = str(tmp_path / "x.npy")
    return {
        "info": (["info", missing], "ModelError"),
        "run": (["run", missing, "--input", x], "ModelError"),
        "quantize": (["quantize", missing, "--calib", x], "ModelError"),
        "compile": (["compile", missing], "ModelError"),
        "simulate": (["simulate", str(empty)], "HwaccelError"),
        "verify": (["verify", str(empty), "--input", x], "HwaccelError"),
        "estimate": (["estimate", str(empty)], "EstimateError"),
        "bench": (["bench", missing], "ModelError"),
    }


@pytest.mark.parametrize("command", ["info", "run", "quantize", "compile", "simulate", "verify", "estimate", "bench"])
def test_every_command_error_in_json_mode_is_a_json_object(tmp_path, capsys, command):
    argv, kind = _bad_command_lines(tmp_path)[command]
    assert main([*argv, "--json"]) == 2
    captured = capsys.readouterr()
    report = json.loads(captured.out)
    assert report == {"error": report["error"], "kind": kind} and report["error"]
    assert captured.err == f"hwaccel: error: {report['error']}\n"
    assert main(argv) == 2  # without --json: the one line on stderr, nothing on stdout
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == f"hwaccel: error: {report['error']}\n"


def test_json_error_from_the_process_and_for_usage_errors(tmp_path, model_path):
    proc = subprocess.run([sys.executable, "-m", "hwaccel", "simulate", str(tmp_path), "--json"], capture_output=True, text=True)
    assert proc.returncode == 2 and json.loads(proc.stdout)["kind"] == "HwaccelError"
    assert proc.stderr.count("\n") == 1 and proc.stderr.startswith("hwaccel: error: ")
    proc = subprocess.run([sys.executable, "-m", "hwaccel", "compile", str(model_path), "--dsp", "4", "--luts", "9", "--json"],
                          capture_output=True, text=True)
    assert proc.returncode == 2 and json.loads(proc.stdout) == {
        "error": "argument --luts: not allowed with argument --dsp", "kind": "UsageError"}
    assert proc.stderr == "hwaccel: error: argument --luts: not allowed with argument --dsp\n"
    proc = subprocess.run([sys.executable, "-m", "hwaccel", "compile", str(model_path), "--dsp", "4", "--luts", "9"],
                          capture_output=True, text=True)
    assert proc.returncode == 2 and proc.stdout == "" and "usage:" in proc.stderr  # argparse's own, without --json


def test_info_ops_lists_every_row_with_its_placement(capsys):
    """`info --ops` reads the op table: every row, its placement, and the reason of each host row."""
    from hwaccel.ir.ops import ROWS

    assert main(["info", "--ops", "--json"]) == 0
    rows = {r["op"]: r for r in json.loads(capsys.readouterr().out)["ops"]}
    assert set(rows) == set(ROWS)
    for op, row in ROWS.items():
        assert rows[op]["placement"] == row.where.where
        assert rows[op]["detail"], op  # the unit, or why it is on the host / free in a stream
    assert rows["LSTM"]["placement"] == "hardware" and "Recurrent" in rows["LSTM"]["detail"]
    assert rows["Softmax"]["placement"] == "host" and "no hardware unit" in rows["Softmax"]["detail"]
    assert main(["info", "--json"]) == 2
    assert json.loads(capsys.readouterr().out)["kind"] == "HwaccelError"


def test_readme_op_table_is_the_op_table(capsys):
    """The README's op table is exactly what `hwaccel info --ops --markdown` prints."""
    from pathlib import Path

    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    table = readme.split("<!-- op table: begin -->\n")[1].split("\n<!-- op table: end -->")[0]
    assert main(["info", "--ops", "--markdown"]) == 0
    assert table == capsys.readouterr().out.strip(), "README op table is stale: paste `hwaccel info --ops --markdown`"
