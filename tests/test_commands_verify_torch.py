# amaranth: UnusedElaboratable=no
"""``hwaccel compile`` then ``verify`` on Verilator for torch-exported CNNs quantized by onnxruntime.

The user path end to end: ``tests/data/{conv_variants,resnet_bn}.onnx`` (stride-2, dilated and
non-square convs, an AveragePool with stride 1 and a Gemm head; residual blocks with BatchNorm,
MaxPool, AveragePool, GlobalAveragePool and a Gemm head) go through onnxruntime's
``quant_pre_process`` and ``quantize_static`` (per-tensor int8 and per-channel uint8 QDQ, as
:func:`dataflow_cases.torch_fixed`), the QDQ file through the ``hwaccel compile`` command, and the
build through :func:`hwaccel.sim.verify.verify_build` on 100 inputs back to back in Verilator: every
output code equals the golden executor's and the cycle count equals the cycle model's.
:func:`torch_build` is shared with ``benchmarks/compile_verify.py``.
"""

from __future__ import annotations

import contextlib
import io
import json
import time
from pathlib import Path

import numpy as np
import pytest

from hwaccel.cli import main
from hwaccel.sim.verify import verify_build
from hwaccel.sim.runner import simulator_missing

from dataflow_cases import TORCH, torch_fixed

MODELS = ("conv_variants", "resnet_bn")
FLAVOURS = ("qdq-int8-per-tensor", "qdq-uint8-per-channel")
CASES = [(model, flavour) for model in MODELS for flavour in FLAVOURS]
COUNT = 100
INPUT_SEED = 2024
# Hardware stages expected from the torch definitions (tests/data/make_torch_models.py): every layer
# in hardware, BatchNorm folded into the convs, only the input Quantize / output Dequantize on the host
STAGES = {
    "conv_variants": ["conv"] * 4 + ["avgpool", "dense"],
    "resnet_bn": ["conv"] * 6 + ["maxpool", "add", "add", "avgpool", "gpool", "dense"],
}
HOST_OPS = ["DequantizeLinear", "QuantizeLinear"]


def case_name(model: str, flavour: str) -> str:
    """``torch_conv_variants_int8_per_tensor``: the build's (and its Verilator build's) name."""
    return f"torch_{model}_{flavour.removeprefix('qdq-').replace('-', '_')}"


def torch_build(work: Path, model: str, flavour: str, count: int = COUNT) -> tuple[Path, Path, dict]:
    """Quantize ``model`` with onnxruntime, compile it with ``hwaccel compile``, write ``count`` inputs.

    Parameters
    ----------
    work : Path
        An empty directory for the quantized model, the build and the inputs.
    model, flavour : str
        A model of ``tests/data`` and an :data:`ort_quant.FLAVOURS` name.
    count : int
        Inputs drawn from uniform(-1.5, 1.5) with seed :data:`INPUT_SEED`.

    Returns
    -------
    tuple
        The build directory, the inputs ``.npz`` and the compile command's JSON report with
        ``quantize_seconds`` and ``compile_seconds`` added.
    """
    start = time.perf_counter()
    torch_fixed(work, model, flavour)  # quant_pre_process + quantize_static, 64 calibration inputs
    quantize_s = time.perf_counter() - start
    qdq, build = work / "q.onnx", work / case_name(model, flavour)
    out = io.StringIO()
    start = time.perf_counter()
    with contextlib.redirect_stdout(out):
        code = main(["compile", str(qdq), "-o", str(build), "--json"])
    compile_s = time.perf_counter() - start
    if code != 0:
        raise RuntimeError(f"hwaccel compile {qdq} exited with {code}: {out.getvalue()}")
    report = {**json.loads(out.getvalue()), "quantize_seconds": quantize_s, "compile_seconds": compile_s}
    inputs = work / "inputs.npz"
    x = np.random.default_rng(INPUT_SEED).uniform(-1.5, 1.5, (count,) + TORCH[model]).astype(np.float32)
    np.savez(inputs, input=x)
    return build, inputs, report


@pytest.mark.rtl
@pytest.mark.slow
@pytest.mark.parametrize("model, flavour", CASES)
def test_onnxruntime_quantized_torch_model_on_verilator(tmp_path, model, flavour):
    """100 inputs back to back: every output code equals golden, cycles equal the cycle model."""
    if reason := simulator_missing("verilator"):
        pytest.skip(reason)
    pytest.importorskip("onnxruntime.quantization")
    build, inputs, compiled = torch_build(tmp_path, model, flavour)
    manifest = json.loads((build / "manifest.json").read_text())
    assert sorted(layer["kind"] for layer in manifest["layers"]) == sorted(STAGES[model])
    assert compiled["host_ops"] == HOST_OPS and compiled["verilog"]
    report = verify_build(build, str(inputs), count=COUNT, simulator="verilator", progress=False)
    assert report["count"] == COUNT >= 100
    assert report["mismatches"] == 0 and report["bit_exact"], report["first_mismatches"]
    assert report["cycles_rtl"] == report["cycles_model"]
