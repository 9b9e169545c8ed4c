"""The CPU engine is bit-identical to the golden model (single process and sharded)."""

from __future__ import annotations

import numpy as np
import pytest

from hwaccel.frontend import load_model
from hwaccel.frontend.qdq import lower_model
from hwaccel.frontend.quantize import QuantConfig, quantize_graph
from hwaccel.golden.fixed import run_golden
from hwaccel.ref.cpu import exact_float_dtype, run_cpu

from zoo_data import MODELS, calibration, split

ZOO_PIXEL_MODELS = ["mlp", "cnn", "autoencoder", "dbn", "lstm", "resnet", "dscnn"]


def test_exact_float_dtype_bounds():
    # float32 has a 24-bit significand: every integer with |v| < 2**24 (25 signed bits) is exact
    assert exact_float_dtype(25) == np.float32
    assert np.float32(2**24 - 1) + np.float32(1) == 2**24
    assert exact_float_dtype(26) == np.float64
    assert exact_float_dtype(54) == np.float64
    assert exact_float_dtype(55) is None


@pytest.mark.parametrize("name", [n for n in ZOO_PIXEL_MODELS if (MODELS / f"{n}.onnx").exists()])
@pytest.mark.parametrize("workers", [1, 2])
def test_cpu_engine_equals_golden_on_zoo(name, workers):
    graph = load_model(MODELS / f"{name}.onnx")
    qdq, _ = quantize_graph(graph, {"input": calibration(name)}, QuantConfig())
    fixed = lower_model(qdq)
    x = split(name)[2][:97]  # odd batch: uneven shards
    golden = run_golden(fixed, {"input": x})
    fast = run_cpu(fixed, {"input": x}, workers=workers)
    for key in golden:
        assert fast[key].dtype == golden[key].dtype
        np.testing.assert_array_equal(fast[key], golden[key])


@pytest.mark.parametrize("weight_bits, act_bits", [(16, 16), (12, 8), (3, 5)])
def test_cpu_engine_equals_golden_for_wide_and_narrow_widths(weight_bits, act_bits):
    graph = load_model(MODELS / "cnn.onnx")
    qdq, _ = quantize_graph(graph, {"input": calibration("cnn")}, QuantConfig(weight_bits=weight_bits, act_bits=act_bits))
    fixed = lower_model(qdq)
    x = split("cnn")[2][:64]
    golden, fast = run_golden(fixed, {"input": x}), run_cpu(fixed, {"input": x}, workers=1)
    for key in golden:
        np.testing.assert_array_equal(fast[key], golden[key])
