"""Each import pass keeps the float executor's results (up to float re-association for BN folding)
and leaves a graph the verifier accepts."""

from __future__ import annotations

import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper

from hwaccel.frontend import import_model
from hwaccel.golden.float_executor import run_float
from hwaccel.ir import verify_graph
from hwaccel.passes.eliminate_dead import eliminate_dead
from hwaccel.passes.fold_batchnorm import fold_batchnorm
from hwaccel.passes.fold_constants import fold_constants
from hwaccel.passes.pipeline import IMPORT_PASSES
from hwaccel.passes.remove_identity import remove_identity

from conftest import conv_bn_relu_model, make_model

X = np.random.default_rng(7).normal(size=(3, 2, 5, 5)).astype(np.float32)


@pytest.mark.parametrize("index", range(len(IMPORT_PASSES)))
def test_each_import_pass_preserves_results(index):
    graph = import_model(conv_bn_relu_model(), passes=False)
    for p in IMPORT_PASSES[:index]:
        graph = p(graph)
    before = run_float(graph, {"x": X})["y"]
    after_graph = IMPORT_PASSES[index](graph)
    verify_graph(after_graph, where=IMPORT_PASSES[index].__name__)
    tol = 1e-5 if IMPORT_PASSES[index] is fold_batchnorm else 0
    np.testing.assert_allclose(run_float(after_graph, {"x": X})["y"], before, rtol=tol, atol=tol)


def test_fold_batchnorm_removes_bn_only_after_conv():
    graph = fold_batchnorm(import_model(conv_bn_relu_model(), passes=False))
    assert "BatchNormalization" not in [n.op for n in graph.nodes]


def _gemm_bn_model(trans_b: int):
    rng = np.random.default_rng(2)
    w = rng.normal(size=(5, 4) if trans_b else (4, 5)).astype(np.float32)
    inits = [numpy_helper.from_array(a, n) for a, n in [
        (w, "w"), (rng.normal(size=5).astype(np.float32), "c"),
        (rng.uniform(0.5, 2, 5).astype(np.float32), "g"), (rng.normal(size=5).astype(np.float32), "b"),
        (rng.normal(size=5).astype(np.float32), "m"), (rng.uniform(0.5, 2, 5).astype(np.float32), "v")]]
    nodes = [helper.make_node("Gemm", ["x", "w", "c"], ["h"], name="gemm", transB=trans_b, alpha=0.5, beta=2.0),
             helper.make_node("BatchNormalization", ["h", "g", "b", "m", "v"], ["y"], name="bn")]
    return make_model(nodes, [helper.make_tensor_value_info("x", TensorProto.FLOAT, [3, 4])],
                      [helper.make_tensor_value_info("y", TensorProto.FLOAT, [3, 5])], inits)


@pytest.mark.parametrize("trans_b", [0, 1])
def test_fold_batchnorm_into_gemm(trans_b):
    raw = import_model(_gemm_bn_model(trans_b), passes=False)
    folded = fold_batchnorm(raw)
    assert [n.op for n in folded.nodes] == ["Gemm"]
    x = np.random.default_rng(0).normal(size=(3, 4)).astype(np.float32)
    np.testing.assert_allclose(run_float(folded, {"x": x})["y"], run_float(raw, {"x": x})["y"], rtol=1e-5, atol=1e-5)


def test_bn_with_two_consumers_of_conv_output_is_kept():
    model = conv_bn_relu_model()
    model.graph.node.append(helper.make_node("Relu", ["c"], ["extra"], name="extra_relu"))
    model.graph.output.append(helper.make_tensor_value_info("extra", TensorProto.FLOAT, ["N", 4, 5, 5]))
    graph = import_model(model)
    # not folded into the Conv (whose unnormalized output another node reads): a depthwise 1x1 Conv of its own
    convs = [n for n in graph.nodes if n.op == "Conv"]
    assert len(convs) == 2 and convs[1].attr("group") == 4 and convs[1].inputs[0] == "c"
    assert "BatchNormalization" not in [n.op for n in graph.nodes]


def test_identity_on_graph_output_is_kept():
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])
    graph = import_model(make_model([helper.make_node("Relu", ["x"], ["r"]), helper.make_node("Identity", ["r"], ["y"])], [x], [y]))
    assert [n.op for n in graph.nodes] == ["Relu", "Identity"]


def test_dead_nodes_and_initializers_are_removed():
    graph = import_model(conv_bn_relu_model(), passes=False)
    dead = graph.replace(initializers={**graph.initializers, "unused": np.zeros(3, np.float32)})
    cleaned = eliminate_dead(remove_identity(fold_constants(dead)))
    assert "unused" not in cleaned.initializers
    verify_graph(cleaned)
