"""``hwaccel bench`` on the zoo MLP: every row present with units, engines checked against golden,
the FPGA row's arithmetic (interval / fmax) by hand with a fake estimator, the PNG, no silent overwrite."""

from __future__ import annotations

import json
import re
import types

import numpy as np
import onnx
import pytest

from hwaccel.bench import BenchConfig, estimated, measure
from hwaccel.estimate.fpga import EstimateError
from hwaccel.cli import main
from hwaccel.errors import HwaccelError
from hwaccel.frontend.qdq import load_quantized

from ort_quant import ort_u8s8_saturates
from zoo_data import MODELS, calibration

ROW_KEYS = {"engine", "kind", "device", "time_per_inference_ms", "latency_batch1_ms", "throughput_inferences_per_s",
            "energy_per_inference_nJ", "bit_exact", "code_agreement_pct", "notes", "error"}
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def mlp(tmp_path_factory):
    """The zoo MLP quantized with ``hwaccel quantize`` (8-bit), and a build of it with ``hwaccel compile``."""
    root = tmp_path_factory.mktemp("bench")
    np.save(root / "calib.npy", calibration("mlp"))  # digits_calib.npz holds images (N, 1, 8, 8); the MLP takes (N, 64)
    qdq = root / "mlp.qdq.onnx"
    assert main(["quantize", str(MODELS / "mlp.onnx"), "--calib", str(root / "calib.npy"), "-o", str(qdq)]) == 0
    assert main(["compile", str(qdq), "-o", str(root / "build")]) == 0
    return qdq, root / "build"


def _bench(capsys, *args: str) -> tuple[int, dict]:
    code = main(["bench", *args, "--json"])
    out = capsys.readouterr().out
    return code, json.loads(out) if code in (0, 1) else {}


def test_bench_rows_units_and_plot(mlp, tmp_path, capsys):
    qdq, _ = mlp
    png = tmp_path / "bench.png"
    code, report = _bench(capsys, str(qdq), "--float-model", str(MODELS / "mlp.onnx"), "--batch", "64", "--repeat", "1",
                          "--asic", "45nm", "--plot", str(png))
    assert code == 0 and not report["failed"]
    rows = {r["engine"]: r for r in report["rows"]}
    assert all(set(r) == ROW_KEYS for r in report["rows"])
    cores = report["workers"]
    expected = {"onnxruntime float", "onnxruntime QDQ", "hwaccel cpu, 1 core", "ASIC 45nm"}
    expected |= {f"hwaccel cpu, {cores} cores"} if cores > 1 else set()
    expected |= {"hwaccel cpu, 2 pipeline stages"} if measure.pipeline_supported() and cores > 0 else set()
    expected |= {"hwaccel gpu"} if measure.gpu_name() else set()
    assert set(rows) == expected, set(rows)
    for r in report["rows"]:
        assert r["error"] is None, r
        assert r["time_per_inference_ms"] > 0 and r["latency_batch1_ms"] > 0
        assert r["throughput_inferences_per_s"] == pytest.approx(1e3 / r["time_per_inference_ms"])
        assert r["kind"] == ("estimated" if r["engine"].startswith("ASIC") else "measured")
        if r["engine"].startswith("hwaccel"):
            assert r["bit_exact"] is True
    assert rows["onnxruntime QDQ"]["bit_exact"] is None
    if not ort_u8s8_saturates():  # its fused integer kernels miss golden by a few codes on CPUs without VNNI
        assert rows["onnxruntime QDQ"]["code_agreement_pct"] >= 99.0
    assert rows["onnxruntime float"]["bit_exact"] is None and rows["onnxruntime float"]["code_agreement_pct"] is None
    # the ASIC row is the estimate's own numbers; the measured rows have no energy
    asic = report["asic"]
    assert asic["label"] == "estimate"
    assert rows["ASIC 45nm"]["energy_per_inference_nJ"] == pytest.approx(asic["energy_per_inference_nJ"])
    assert rows["ASIC 45nm"]["throughput_inferences_per_s"] == pytest.approx(asic["inferences_per_s"])
    assert all(r["energy_per_inference_nJ"] is None for r in report["rows"] if r["kind"] == "measured")
    assert report["batch"] == 64 and report["plot"] == str(png)
    data = png.read_bytes()
    assert data.startswith(PNG_MAGIC)
    import matplotlib.image

    assert matplotlib.image.imread(png).ndim == 3  # decodes as an image
    # refuses to overwrite the plot without --force (before running anything), and leaves it intact
    assert main(["bench", str(qdq), "--batch", "2", "--repeat", "1", "--plot", str(png)]) == 2
    assert "already exists (use --force to overwrite)" in capsys.readouterr().err
    assert png.read_bytes() == data
    assert main(["bench", str(qdq), "--batch", "2", "--repeat", "1", "--plot", str(png), "--force"]) == 0
    assert png.read_bytes().startswith(PNG_MAGIC) and png.read_bytes() != data


def test_text_table(mlp, capsys):
    assert main(["bench", str(mlp[0]), "--batch", "4", "--repeat", "1", "--asic", "28nm"]) == 0
    captured = capsys.readouterr()
    out = captured.out
    for header in ("ms/inference", "latency b=1 ms", "inferences/s", "energy nJ/inf", "= golden"):
        assert header in out
    assert "ASIC 28nm" in out and "estimated" in out and "measured" in out
    assert "bench: measuring hwaccel cpu, 1 core" in captured.err  # progress on stderr


def _fake_fpga(monkeypatch, behaviour):
    calls = []

    def estimate_fpga(build_dir, device):
        calls.append((str(build_dir), device))
        return behaviour()

    monkeypatch.setattr(estimated, "estimate_fpga", estimate_fpga)
    return calls


def _routed(fmax_mhz: float) -> types.SimpleNamespace:
    """The fields of an FpgaEstimate that the FPGA row reads."""
    return types.SimpleNamespace(fmax_mhz=fmax_mhz, fits=True, over=[], pnr_error=None,
                                 to_dict=lambda: {"fmax_mhz": fmax_mhz})


def test_fpga_row_arithmetic(mlp, capsys, monkeypatch):
    qdq, build = mlp
    assert main(["simulate", str(build), "--json"]) == 0
    cycles = json.loads(capsys.readouterr().out)  # the cycle model at batch 1
    calls = _fake_fpga(monkeypatch, lambda: _routed(40.0))
    code, report = _bench(capsys, str(qdq), "--batch", "8", "--repeat", "1", "--fpga", "ecp5-85k", "--build", str(build))
    assert code == 0 and calls == [(str(build), "ecp5-85k")]
    [row] = [r for r in report["rows"] if r["engine"] == "FPGA ecp5-85k"]
    assert row["kind"] == "estimated" and row["error"] is None and row["energy_per_inference_nJ"] is None
    # interval cycles / fmax, and the batch-1 total cycles / fmax, at 40 MHz = 25 ns a cycle
    assert row["time_per_inference_ms"] == pytest.approx(cycles["interval_cycles"] * 25e-9 * 1e3)
    assert row["throughput_inferences_per_s"] == pytest.approx(40e6 / cycles["interval_cycles"])
    assert row["latency_batch1_ms"] == pytest.approx(cycles["total_cycles"] * 25e-9 * 1e3)
    assert "40.0 MHz" in row["device"] and report["fpga"] == {"fmax_mhz": 40.0}


def test_fpga_failure_goes_into_the_row(mlp, capsys, monkeypatch):
    def fail():
        raise EstimateError("place and route (nextpnr) failed: no route")

    _fake_fpga(monkeypatch, fail)
    code, report = _bench(capsys, str(mlp[0]), "--batch", "4", "--repeat", "1", "--fpga", "ecp5-85k", "--asic", "45nm")
    assert code == 0
    rows = {r["engine"]: r for r in report["rows"]}
    assert rows["FPGA ecp5-85k"]["error"] == "place and route (nextpnr) failed: no route"
    assert rows["FPGA ecp5-85k"]["time_per_inference_ms"] is None
    assert rows["ASIC 45nm"]["error"] is None  # the rest of the bench still ran


def test_fpga_design_that_does_not_fit_says_so(mlp, capsys, monkeypatch):
    unfit = types.SimpleNamespace(fmax_mhz=None, fits=False, over=["dsp", "luts"], pnr_error="no BELs remaining",
                                  to_dict=lambda: {"fmax_mhz": None, "over": ["dsp", "luts"]})
    _fake_fpga(monkeypatch, lambda: unfit)
    code, report = _bench(capsys, str(mlp[0]), "--batch", "4", "--repeat", "1", "--fpga", "ecp5-25k")
    [row] = [r for r in report["rows"] if r["engine"] == "FPGA ecp5-25k"]
    assert code == 0 and row["error"] == "does not fit on ecp5-25k: dsp, luts over capacity"
    assert row["throughput_inferences_per_s"] is None and report["fpga"]["over"] == ["dsp", "luts"]


def test_engine_differing_from_golden_fails(mlp, capsys, monkeypatch):
    def wrong(graph, workers, **kw):
        return (lambda feeds: {t.name: np.zeros((len(feeds["input"]), 10), np.float32) for t in graph.outputs}), (lambda: None)

    monkeypatch.setattr(measure, "_cpu", wrong)
    code, report = _bench(capsys, str(mlp[0]), "--batch", "4", "--repeat", "1")
    assert code == 1 and report["failed"]
    assert {r["engine"]: r["bit_exact"] for r in report["rows"]}["hwaccel cpu, 1 core"] is False


def test_pipeline_row_when_the_cpu_engine_supports_it(mlp, capsys, monkeypatch):
    seen = []

    class PipelinedEngine(measure.CpuEngine):  # records what each row asks for
        def __init__(self, graph, workers=None, pipeline_stages=1):
            seen.append((workers, pipeline_stages))
            super().__init__(graph, workers, pipeline_stages)

    monkeypatch.setattr(measure, "CpuEngine", PipelinedEngine)
    monkeypatch.setattr(measure, "pipeline_supported", lambda: True)
    code, report = _bench(capsys, str(mlp[0]), "--batch", "4", "--repeat", "1", "--workers", "4", "--pipeline-stages", "2")
    rows = {r["engine"]: r for r in report["rows"]}
    assert code == 0 and rows["hwaccel cpu, 2 pipeline stages"]["bit_exact"] is True
    assert (4, 1) in seen and (2, 2) in seen  # the pipelined row: 2 shards x 2 stages, as many processes as cores


def test_random_inputs_are_exact_codes(mlp):
    graph = load_quantized(mlp[0])
    feeds = measure.random_feeds(graph, 32, seed=3)
    x = feeds["input"]
    assert x.shape == (32, 64) and x.dtype == np.float32
    assert np.array_equal(x, measure.random_feeds(graph, 32, seed=3)["input"])
    codes = x / np.float32(1 / 255) - 128  # the MLP's input encoding: scale 1/255, zero point -128 (int8)
    assert np.allclose(codes, np.round(codes), atol=1e-3) and codes.min() >= -128.5 and codes.max() <= 127.5


def test_input_file_reused_to_batch(mlp, tmp_path, capsys):
    x = calibration("mlp")[:5]
    np.save(tmp_path / "x.npy", x)
    code, report = _bench(capsys, str(mlp[0]), "--input", str(tmp_path / "x.npy"), "--batch", "12", "--repeat", "1")
    assert code == 0 and report["inputs"] == str(tmp_path / "x.npy")
    assert measure.repeat_feeds({"input": x}, 12)["input"][11].tolist() == x[1].tolist()


def test_errors(mlp, tmp_path, capsys):
    qdq, build = mlp
    with pytest.raises(SystemExit):  # argparse: --asic takes the known nodes only
        main(["bench", str(qdq), "--asic", "7nm"])
    capsys.readouterr()
    with pytest.raises(HwaccelError, match=r"node must be one of \['45nm', '28nm'\], not '7nm'"):
        BenchConfig(str(qdq), asic="7nm")
    with pytest.raises(HwaccelError, match="batch must be an integer >= 1, not 0"):
        BenchConfig(str(qdq), batch=0)
    assert main(["bench", str(MODELS / "mlp.onnx"), "--batch", "2"]) == 2
    assert "must be quantized (QDQ)" in capsys.readouterr().err
    other = tmp_path / "other.qdq.onnx"
    model = onnx.load(qdq)
    model.doc_string = "another model"  # the same network in another file: its sha256 differs from the build's
    onnx.save(model, other)
    assert main(["bench", str(other), "--batch", "2", "--asic", "45nm", "--build", str(build)]) == 2
    assert "compiled from another model" in capsys.readouterr().err


@pytest.mark.slow
def test_real_fpga_estimate(mlp, tmp_path, capsys):
    """With the real estimator (Yosys + nextpnr) on a narrowly folded build of the same model: the
    default build (148 multipliers) takes nextpnr many minutes, which belongs in benchmarks/."""
    small = tmp_path / "small"
    assert main(["compile", str(mlp[0]), "--dsp", "16", "-o", str(small)]) == 0
    capsys.readouterr()
    code, report = _bench(capsys, str(mlp[0]), "--batch", "4", "--repeat", "1", "--fpga", "ecp5-85k", "--build", str(small))
    [row] = [r for r in report["rows"] if r["engine"] == "FPGA ecp5-85k"]
    assert code == 0 and row["error"] is None and row["throughput_inferences_per_s"] > 0
    fpga = report["fpga"]
    assert fpga["routed"] and fpga["core_fits"] and fpga["dsp"] == fpga["yosys_cells"]["MULT18X18D"] > 0
    assert f"post-route fmax {fpga['fmax_mhz']:.1f} MHz" in row["device"]
    interval = float(re.search(r"interval ([0-9.e+]+) cycles", row["notes"])[1])  # the cycle model's, at that fmax
    assert row["throughput_inferences_per_s"] == pytest.approx(fpga["fmax_mhz"] * 1e6 / interval)
