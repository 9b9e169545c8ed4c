"""The library API (``import hwaccel``): light to import, each function's result serialises to the
JSON its command prints, inputs as paths or arrays; the README's Python example runs as written."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import numpy as np
import pytest

import hwaccel
from hwaccel import api
from hwaccel.cli import main
from hwaccel.errors import HwaccelError, QuantizationError
from hwaccel.ir.graph import Graph

from conftest import MODELS, ROOT

API = ["load", "quantize", "compile", "simulate", "verify", "estimate", "run", "bench"]


def test_import_hwaccel_is_light_and_names_the_api():
    code = ("import sys, hwaccel; heavy = [m for m in ('amaranth', 'torch', 'onnxruntime', 'onnx', 'hwaccel.api') "
            "if m in sys.modules]; print(heavy, sorted(hwaccel.__all__))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert proc.stdout.strip() == f"[] {sorted(['__version__', *API])}"
    assert re.fullmatch(r"\d+\.\d+\.\d+\S*", hwaccel.__version__)
    assert all(callable(getattr(hwaccel, name)) for name in API)


def test_api_names_shared_with_subpackages_stay_functions():
    import hwaccel.estimate.fpga
    from hwaccel.bench import estimated

    assert hwaccel.estimate.__wrapped__ is api.estimate and hwaccel.estimate.fpga is sys.modules["hwaccel.estimate.fpga"]
    assert hwaccel.bench.__wrapped__.__module__ == "hwaccel.bench.suite" and hwaccel.bench.estimated is estimated
    with pytest.raises(AttributeError):
        hwaccel.no_such_name


@pytest.fixture(scope="module")
def qdq(tmp_path_factory):
    """The zoo CNN quantized through the API, calibration given as an array."""
    out = tmp_path_factory.mktemp("api") / "cnn.qdq.onnx"
    calib = np.load(MODELS / "digits_calib.npz")["input"]
    result = hwaccel.quantize(MODELS / "cnn.onnx", calib, out)
    assert result.output == out and out.is_file() and [l["op"] for l in result.layers] == ["Conv", "Conv", "Gemm"]
    return out


@pytest.fixture(scope="module")
def build(qdq):
    return hwaccel.compile(qdq, qdq.parent / "cnn", dsp=64)


def _cli_json(capsys, *argv: str) -> dict:
    assert main([*argv, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_load_float_and_quantized(qdq):
    float_graph, fixed = hwaccel.load(MODELS / "cnn.onnx"), hwaccel.load(qdq)
    assert isinstance(float_graph, Graph) and isinstance(fixed, Graph)
    assert {n.op for n in float_graph.nodes} >= {"Conv", "Gemm"}
    assert {n.op for n in fixed.nodes} != {n.op for n in float_graph.nodes}  # the fixed-point IR


def test_quantize_result_is_the_cli_json(qdq, tmp_path, capsys):
    calib = str(MODELS / "digits_calib.npz")
    result = hwaccel.quantize(str(MODELS / "cnn.onnx"), calib, tmp_path / "a.onnx", weight_bits=6)
    report = _cli_json(capsys, "quantize", str(MODELS / "cnn.onnx"), "--calib", calib, "-o", str(tmp_path / "b.onnx"),
                       "--weight-bits", "6")
    assert {**result.to_dict(), "output": ""} == {**report, "output": ""}
    assert (tmp_path / "a.onnx").read_bytes() == (tmp_path / "b.onnx").read_bytes()
    with pytest.raises(QuantizationError, match="unknown layer"):
        hwaccel.quantize(MODELS / "cnn.onnx", calib, tmp_path / "c.onnx", layer_bits={"nope": 4})
    with pytest.raises(QuantizationError, match="QuantConfig fields"):
        hwaccel.quantize(MODELS / "cnn.onnx", calib, tmp_path / "c.onnx", bits=4)


def test_compile_result_is_the_cli_json(qdq, build, tmp_path, capsys):
    assert build.verilog and "top.v" in build.files and build.dataflow.name == "cnn"
    report = _cli_json(capsys, "compile", str(qdq), "-o", str(tmp_path / "cnn"), "--dsp", "64")
    assert {**build.to_dict(), "output": "", "model": ""} == {**report, "output": "", "model": ""}
    assert report["interval_cycles"] == build.cycles.interval_cycles
    with pytest.raises(HwaccelError, match="already exists"):
        hwaccel.compile(qdq, build.output, dsp=64)


def test_simulate_result_is_the_cli_json(build, capsys):
    result = hwaccel.simulate(build.output, batch=3)
    report = _cli_json(capsys, "simulate", str(build.output), "--batch", "3")
    assert {**result.to_dict(), "model_seconds": 0} == {**report, "model_seconds": 0}
    assert result.cycles.batch == 3 and result.cycles.total_cycles == report["total_cycles"]


def test_run_takes_paths_and_arrays(qdq, tmp_path, capsys):
    sample = MODELS / "digits_sample.npz"
    x = np.load(sample)["input"]
    by_path = hwaccel.run(qdq, sample, engine="golden")
    by_array = hwaccel.run(qdq, x, engine="golden")
    by_dict = hwaccel.run(str(qdq), {"input": x}, engine="golden")
    np.testing.assert_array_equal(by_path.outputs["output"], by_array.outputs["output"])
    np.testing.assert_array_equal(by_path.outputs["output"], by_dict.outputs["output"])
    assert by_path.batch == 16
    report = _cli_json(capsys, "run", str(qdq), "--input", str(sample), "--engine", "golden")
    assert hwaccel.run(str(qdq), str(sample), engine="golden").to_dict() == report
    with pytest.raises(HwaccelError, match="engine must be one of"):
        hwaccel.run(qdq, x, engine="tpu")
    with pytest.raises(HwaccelError, match="input 'input' must have shape"):
        hwaccel.run(qdq, x[:, 0], engine="golden")


def test_estimate_and_verify_errors(build, tmp_path):
    with pytest.raises(HwaccelError, match="needs --fpga DEVICE and/or --asic NODE"):
        hwaccel.estimate(build.output)
    with pytest.raises(HwaccelError, match="build directory must exist"):
        hwaccel.estimate(tmp_path / "none", asic="45nm")
    with pytest.raises(HwaccelError, match="simulator must be one of"):
        hwaccel.verify(build.output, MODELS / "digits_sample.npz", simulator="modelsim")


def test_estimate_asic_result_is_the_cli_json(build, capsys):
    result = hwaccel.estimate(build.output, asic="45nm")
    assert result.fpga is None and result.asic is not None
    assert result.to_dict() == _cli_json(capsys, "estimate", str(build.output), "--asic", "45nm")


def _readme_example() -> str:
    text = (ROOT / "README.md").read_text()
    section = text[text.index("## Python API"):]
    match = re.search(r"```python\n(.*?)```", section, re.S)
    assert match, "README.md: the Python API section has no python code block"
    return match.group(1)


def test_readme_example_is_about_ten_lines():
    lines = [l for l in _readme_example().splitlines() if l.strip() and not l.startswith(("import", "from"))]
    assert 6 <= len(lines) <= 12


@pytest.mark.rtl
def test_readme_python_example_runs(tmp_path):
    """The README's example as written, in a fresh process and working directory with the repository's models."""
    (tmp_path / "models").symlink_to(ROOT / "models")
    script = tmp_path / "example.py"
    script.write_text(_readme_example())
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.run([sys.executable, str(script)], cwd=tmp_path, capture_output=True, text=True, env=env)
    assert proc.returncode == 0, proc.stderr
    last = proc.stdout.strip().splitlines()[-1].split()
    assert last[0] == "True" and last[1] == last[2]  # bit-exact, RTL cycles == the cycle model's
    assert (tmp_path / "build" / "cnn" / "top.v").is_file()
