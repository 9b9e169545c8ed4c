"""The float executor equals onnxruntime on every zoo model and the torch-exported test models."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest

from hwaccel.frontend import load_model
from hwaccel.golden.float_executor import run_float
from hwaccel.ir import verify_graph

from zoo_data import MODELS, split

ort = pytest.importorskip("onnxruntime")
DATA = Path(__file__).resolve().parent / "data"
ZOO = ["mlp", "cnn", "autoencoder", "dbn", "lstm", "generator", "resnet", "dscnn"]


def _inputs(name: str) -> np.ndarray:
    if name == "generator":
        return np.load(MODELS / "generator_latents.npz")["input"]
    return split(name)[2]


def _ort(path: Path, feeds):
    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, feeds)


@pytest.mark.parametrize("name", ZOO)
def test_zoo_float_matches_onnxruntime(name):
    path = MODELS / f"{name}.onnx"
    graph = load_model(path)
    verify_graph(graph)
    x = _inputs(name)
    got = run_float(graph, {"input": x})["output"]
    (want,) = _ort(path, {"input": x})
    assert got.dtype == want.dtype and got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("path", sorted(DATA.glob("*.onnx")), ids=lambda p: p.stem)
def test_torch_exported_float_matches_onnxruntime(path):
    model = onnx.load(path)
    assert model.opset_import[0].version == 17
    graph = load_model(path)
    verify_graph(graph)
    info = graph.inputs[0]
    x = np.random.default_rng(0).normal(size=(5, *info.shape[1:])).astype(np.float32)
    got = run_float(graph, {info.name: x})
    for (name, value), want in zip(got.items(), _ort(path, {info.name: x})):
        np.testing.assert_allclose(value, want, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("name", ["resnet", "lstm"])
def test_import_removes_bn_and_shape_arithmetic(name):
    ops = {n.op for n in load_model(MODELS / f"{name}.onnx").nodes}
    assert not ops & {"BatchNormalization", "Shape", "ConstantOfShape", "Identity", "Dropout"}, ops
