"""The committed model zoo (models/) and torch-exported test models (tests/data/), checked with onnxruntime.

The metrics recorded by models/train_zoo.py are recomputed here from the .onnx files alone on
the held-out split of models/digits_data.py; shapes and interfaces are checked against the
specification below, not against what the training script wrote.
"""

from __future__ import annotations

import functools
import importlib.util
import json
from typing import TYPE_CHECKING

import numpy as np
import onnx
import pytest

from conftest import MODELS, ROOT, ZOO

if TYPE_CHECKING:
    import onnxruntime

ort = pytest.importorskip("onnxruntime")
pytest.importorskip("sklearn")

# model -> (per-sample input shape, per-sample output shape, metric)
SPEC: dict[str, tuple[tuple[int, ...], tuple[int, ...], str]] = {
    "mlp": ((64,), (10,), "accuracy"),
    "cnn": ((1, 8, 8), (10,), "accuracy"),
    "autoencoder": ((64,), (64,), "mse"),
    "dbn": ((64,), (10,), "accuracy"),
    "lstm": ((8, 8), (10,), "accuracy"),
    "generator": ((8,), (1, 8, 8), "mse"),
    "resnet": ((1, 8, 8), (10,), "accuracy"),
    "dscnn": ((1, 8, 8), (10,), "accuracy"),
}
DATA = ROOT / "tests" / "data"
# test model -> (per-sample input shape, per-sample output shape, ops that must appear)
TEST_MODELS = {
    "resnet_bn": ((3, 16, 16), (10,), {"Conv", "BatchNormalization", "Relu", "Add", "MaxPool", "AveragePool",
                                       "GlobalAveragePool", "Flatten", "Gemm"}),
    "resnet_bn_view": ((3, 16, 16), (10,), {"Conv", "BatchNormalization", "Add", "MaxPool", "AveragePool",
                                            "GlobalAveragePool", "Shape", "Gather", "Unsqueeze", "Concat",
                                            "Reshape", "Gemm"}),
    "conv_variants": ((2, 17, 13), (5,), {"Conv", "AveragePool", "Flatten", "Gemm"}),
}


@functools.cache
def split() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    spec = importlib.util.spec_from_file_location("digits_data", MODELS / "digits_data.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.load_split()


@functools.cache
def session(path: str) -> onnxruntime.InferenceSession:
    return ort.InferenceSession(path, providers=["CPUExecutionProvider"])


def run(path, x: np.ndarray) -> np.ndarray:
    return session(str(path)).run(["output"], {"input": x})[0]


@functools.cache
def metrics() -> dict:
    return json.loads((MODELS / "metrics.json").read_text())


def zoo_inputs(name: str, images: np.ndarray) -> np.ndarray:
    """The model's input for ``images`` (N, 64); the generator's are the stored latent codes."""
    if name == "generator":
        latents = np.load(MODELS / "generator_latents.npz")["input"]
        return latents[: len(images)]
    return images.reshape((len(images),) + SPEC[name][0])


def shape_of(value_info: onnx.ValueInfoProto) -> list[int | str]:
    return [d.dim_param or d.dim_value for d in value_info.type.tensor_type.shape.dim]


def check_interface(path, in_shape, out_shape) -> onnx.ModelProto:
    model = onnx.load(path)
    onnx.checker.check_model(model)
    assert [o.version for o in model.opset_import if o.domain in ("", "ai.onnx")] == [17]
    assert [i.name for i in model.graph.input] == ["input"]
    assert [o.name for o in model.graph.output] == ["output"]
    assert shape_of(model.graph.input[0]) == ["N", *in_shape]
    assert shape_of(model.graph.output[0]) == ["N", *out_shape]
    assert model.graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.FLOAT
    return model


def test_zoo_list_is_complete():
    assert sorted(SPEC) == sorted(ZOO)
    assert sorted(metrics()["models"]) == sorted(ZOO)
    assert all((MODELS / f"{name}.onnx").is_file() for name in ZOO)


def test_split_is_the_documented_one():
    from sklearn.datasets import load_digits

    x_train, y_train, x_test, y_test = split()
    assert x_train.shape == (1347, 64) and x_test.shape == (450, 64)
    assert x_train.dtype == x_test.dtype == np.float32
    assert np.all(x_test * 16 == np.round(x_test * 16)) and x_test.min() == 0.0 and x_test.max() == 1.0
    # stratified: every class holds a quarter of its images (rounded) in the test split
    _, y_all = load_digits(return_X_y=True)
    assert np.all(np.abs(np.bincount(y_test, minlength=10) - np.bincount(y_all) / 4) <= 1)
    assert np.array_equal(np.bincount(y_train) + np.bincount(y_test), np.bincount(y_all))
    assert metrics()["split"]["n_test"] == 450


def test_sample_and_calibration_sets_come_from_the_split():
    x_train, _, x_test, y_test = split()
    sample, calib = np.load(MODELS / "digits_sample.npz"), np.load(MODELS / "digits_calib.npz")
    assert sorted(sample.files) == ["input", "label"] and calib.files == ["input"]
    assert sample["input"].dtype == calib["input"].dtype == np.float32
    assert sample["input"].shape == (16, 1, 8, 8) and calib["input"].shape == (256, 1, 8, 8)
    np.testing.assert_array_equal(sample["input"].reshape(16, 64), x_test[:16])
    np.testing.assert_array_equal(sample["label"], y_test[:16])
    np.testing.assert_array_equal(calib["input"].reshape(256, 64), x_train[:256])


@pytest.mark.parametrize("name", ZOO)
def test_zoo_model_interface(name):
    in_shape, out_shape, _ = SPEC[name]
    model = check_interface(MODELS / f"{name}.onnx", in_shape, out_shape)
    n_weights = sum(int(np.prod(t.dims)) for t in model.graph.initializer if t.data_type == onnx.TensorProto.FLOAT)
    assert n_weights < 50_000


@pytest.mark.parametrize("name", ZOO)
def test_zoo_model_runs_on_sample(name):
    sample = np.load(MODELS / "digits_sample.npz")
    out = run(MODELS / f"{name}.onnx", zoo_inputs(name, sample["input"].reshape(16, 64)))
    assert out.shape == (16, *SPEC[name][1]) and out.dtype == np.float32
    assert np.all(np.isfinite(out))
    if SPEC[name][2] == "accuracy":  # 16 test digits: a trained classifier gets most of them
        assert np.mean(out.argmax(axis=1) == sample["label"]) >= 0.8
    else:  # sigmoid images
        assert out.min() >= 0.0 and out.max() <= 1.0


@pytest.mark.parametrize("name", ZOO)
def test_zoo_metric_is_reproduced_by_onnxruntime(name):
    _, _, x_test, y_test = split()
    out = run(MODELS / f"{name}.onnx", zoo_inputs(name, x_test))
    entry = metrics()["models"][name]
    assert entry["metric"] == SPEC[name][2]
    if entry["metric"] == "accuracy":
        accuracy = np.count_nonzero(out.argmax(axis=1) == y_test) / len(y_test)
        assert abs(entry["value"] - accuracy) <= 1e-9
    else:
        mse = np.mean((out.reshape(len(x_test), 64).astype(np.float64) - x_test) ** 2)
        np.testing.assert_allclose(entry["value"], mse, rtol=1e-4)


def test_zoo_quality():
    """The targets of the zoo: accurate classifiers, autoencoders better than the mean image."""
    x_train, _, x_test, y_test = split()
    acc = {n: np.mean(run(MODELS / f"{n}.onnx", zoo_inputs(n, x_test)).argmax(1) == y_test)
           for n in ZOO if SPEC[n][2] == "accuracy"}
    assert acc["mlp"] >= 0.95 and acc["cnn"] >= 0.97
    assert min(acc.values()) >= 0.9
    mean_image_mse = np.mean((x_test - x_train.mean(axis=0)) ** 2)
    for name in ["autoencoder", "generator"]:
        out = run(MODELS / f"{name}.onnx", zoo_inputs(name, x_test)).reshape(len(x_test), 64)
        assert np.mean((out - x_test) ** 2) < 0.5 * mean_image_mse


def test_zoo_exercises_host_softmax_and_batchnorm():
    mlp, resnet = onnx.load(MODELS / "mlp.onnx"), onnx.load(MODELS / "resnet.onnx")
    assert mlp.graph.node[-1].op_type == "Softmax"
    sample = np.load(MODELS / "digits_sample.npz")["input"]
    np.testing.assert_allclose(run(MODELS / "mlp.onnx", sample.reshape(16, 64)).sum(axis=1), 1.0, rtol=1e-5)
    bns = [n for n in resnet.graph.node if n.op_type == "BatchNormalization"]
    assert bns and all(a.i == 0 for n in bns for a in n.attribute if a.name == "training_mode")


@pytest.mark.parametrize("name", sorted(TEST_MODELS))
def test_torch_exported_test_model(name):
    in_shape, out_shape, ops = TEST_MODELS[name]
    path = DATA / f"{name}.onnx"
    assert path.stat().st_size < 200_000
    model = check_interface(path, in_shape, out_shape)
    assert ops <= {n.op_type for n in model.graph.node}
    x = np.random.default_rng(0).normal(size=(3, *in_shape)).astype(np.float32)
    out3, out1 = run(path, x), run(path, x[1:2])  # dynamic batch: rows do not depend on the batch
    assert out3.shape == (3, *out_shape) and np.all(np.isfinite(out3))
    np.testing.assert_allclose(out1[0], out3[1], rtol=1e-5, atol=1e-6)
