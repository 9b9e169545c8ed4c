"""Shared fixtures: paths, small hand-built ONNX models."""

from __future__ import annotations

from pathlib import Path

import collections

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

ROOT = Path(__file__).resolve().parent.parent
MODELS = ROOT / "models"
ZOO = ["mlp", "cnn", "autoencoder", "dbn", "lstm", "generator", "resnet", "dscnn"]


def make_model(nodes, inputs, outputs, initializers=(), opset=17, name="test") -> onnx.ModelProto:
    graph = helper.make_graph(list(nodes), name, list(inputs), list(outputs), list(initializers))
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 8
    return model


def conv_bn_relu_model(seed: int = 0, batch: int | str = "N") -> onnx.ModelProto:
    """Conv -> BatchNormalization -> Relu -> Gemm, with a Constant and an Identity: exercises the import passes."""
    rng = np.random.default_rng(seed)
    w = rng.normal(size=(4, 2, 3, 3)).astype(np.float32)
    b = rng.normal(size=4).astype(np.float32)
    gamma, beta = rng.uniform(0.5, 2, 4).astype(np.float32), rng.normal(size=4).astype(np.float32)
    mean, var = rng.normal(size=4).astype(np.float32), rng.uniform(0.5, 2, 4).astype(np.float32)
    fc = rng.normal(size=(4 * 5 * 5, 3)).astype(np.float32)
    inits = [numpy_helper.from_array(a, n) for a, n in [(w, "w"), (b, "b"), (gamma, "g"), (beta, "be"), (mean, "m"), (var, "v"), (fc, "fc")]]
    nodes = [
        helper.make_node("Conv", ["x", "w", "b"], ["c"], name="conv", pads=[1, 1, 1, 1]),
        helper.make_node("BatchNormalization", ["c", "g", "be", "m", "v"], ["bn"], name="bn", epsilon=1e-3),
        helper.make_node("Relu", ["bn"], ["r"], name="relu"),
        helper.make_node("Identity", ["r"], ["r2"], name="ident"),
        helper.make_node("Constant", [], ["shape"], name="shape_const", value=numpy_helper.from_array(np.array([-1, 100], np.int64))),
        helper.make_node("Reshape", ["r2", "shape"], ["flat"], name="reshape"),
        helper.make_node("MatMul", ["flat", "fc"], ["y"], name="fc"),
    ]
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [batch, 2, 5, 5])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [batch, 3])
    return make_model(nodes, [x], [y], inits)


@pytest.fixture
def conv_bn_model() -> onnx.ModelProto:
    return conv_bn_relu_model()


# Random hardware-unit parameterisations checked bit-exact, by unit and simulator (issue 5 wants >= 200)
_TALLY: collections.Counter = collections.Counter()


@pytest.fixture
def tally():
    """``tally(unit, where, count)`` records ``count`` parameterisations that passed, for the summary."""

    def record(unit: str, where: str, count: int = 1) -> None:
        _TALLY[(unit, where)] += count

    return record


def pytest_terminal_summary(terminalreporter):
    if not _TALLY:
        return
    by_unit: collections.Counter = collections.Counter()
    by_where: collections.Counter = collections.Counter()
    for (unit, where), n in _TALLY.items():
        by_unit[unit] += n
        by_where[where] += n
    detail = ", ".join(f"{k} {n}" for k, n in sorted(by_where.items()))
    units = ", ".join(f"{k} {n}" for k, n in sorted(by_unit.items()))
    terminalreporter.write_line(
        f"hardware unit parameterisations passed bit-exact: {sum(_TALLY.values())} ({detail}; {units})")
