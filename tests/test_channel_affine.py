"""Per-channel Mul/Add and batch norms of float models: folded into the convolution before them, or
made depthwise 1x1 convolutions (DenseNet's pre-activation); onnxruntime on the original model is
the reference, and the rewritten model compiles with the scale as a dwconv stage."""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from hwaccel.frontend import load_model
from hwaccel.golden.float_executor import run_float
from hwaccel.passes.channel_affine import affine_to_batchnorm, batchnorm_to_depthwise

RNG = np.random.default_rng(7)


def _const(name: str, array: np.ndarray) -> onnx.TensorProto:
    return numpy_helper.from_array(np.asarray(array, np.float32), name)


def _model(path) -> None:
    """x -> Conv -> BN -> Mul(c) -> Add(d) -> Relu -> MaxPool -> BN -> Mul(c) -> Add(d) -> Relu -> Conv -> y:
    the first chain folds into its Conv, the second has no Conv before it."""
    c = 6
    inits = [_const("w1", RNG.standard_normal((c, 3, 3, 3))), _const("b1", RNG.standard_normal(c)),
             _const("w2", RNG.standard_normal((4, c, 1, 1))), _const("b2", RNG.standard_normal(4))]
    nodes = [helper.make_node("Conv", ["x", "w1", "b1"], ["c1"], pads=[1, 1, 1, 1])]
    value = "c1"
    for k in (1, 2):
        if k == 2:
            nodes += [helper.make_node("MaxPool", [value], ["p"], kernel_shape=[2, 2], strides=[2, 2])]
            value = "p"
        bn = [f"bn{k}_{p}" for p in ("s", "b", "m", "v")]
        inits += [_const(bn[0], RNG.uniform(0.5, 2, c)), _const(bn[1], RNG.standard_normal(c)),
                  _const(bn[2], RNG.standard_normal(c)), _const(bn[3], RNG.uniform(0.5, 2, c)),
                  _const(f"sc{k}", RNG.uniform(0.5, 2, (c, 1, 1))), _const(f"sh{k}", RNG.standard_normal((1, c, 1, 1)))]
        nodes += [helper.make_node("BatchNormalization", [value, *bn], [f"n{k}"], epsilon=1e-3),
                  helper.make_node("Mul", [f"n{k}", f"sc{k}"], [f"m{k}"]),
                  helper.make_node("Add", [f"sh{k}", f"m{k}"], [f"a{k}"]),
                  helper.make_node("Relu", [f"a{k}"], [f"r{k}"])]
        value = f"r{k}"
    nodes.append(helper.make_node("Conv", [value, "w2", "b2"], ["y"]))
    graph = helper.make_graph(nodes, "affine", [helper.make_tensor_value_info("x", TensorProto.FLOAT, (1, 3, 8, 8))],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, (1, 4, 4, 4))], inits)
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), path)


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    path = tmp_path_factory.mktemp("affine") / "affine.onnx"
    _model(path)
    return path


def test_the_rewritten_float_model_equals_onnxruntime(model):
    graph = load_model(str(model))
    ops = [n.op for n in graph.nodes]
    assert "Mul" not in ops and "Add" not in ops and "BatchNormalization" not in ops
    depthwise = [n for n in graph.nodes if n.op == "Conv" and n.attr("group", 1) == 6]
    assert len(depthwise) == 1 and graph.initializers[depthwise[0].inputs[1]].shape == (6, 1, 1, 1)
    x = RNG.standard_normal((1, 3, 8, 8)).astype(np.float32)
    want = ort.InferenceSession(str(model)).run(None, {"x": x})[0]
    got = run_float(graph, {"x": x})["y"]
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5 * np.abs(want).max())


def test_quantized_graphs_are_left_alone(tmp_path):
    """A per-channel Mul in a graph with Q/DQ stays a Mul (a quantized model's float ops stay as written)."""
    nodes = [helper.make_node("QuantizeLinear", ["x", "s", "z"], ["q"]), helper.make_node("DequantizeLinear", ["q", "s", "z"], ["d"]),
             helper.make_node("Mul", ["d", "c"], ["y"])]
    inits = [_const("s", 0.1), numpy_helper.from_array(np.array(0, np.int8), "z"), _const("c", RNG.uniform(1, 2, (3, 1, 1)))]
    graph = helper.make_graph(nodes, "qdq", [helper.make_tensor_value_info("x", TensorProto.FLOAT, (1, 3, 4, 4))],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, (1, 3, 4, 4))], inits)
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), tmp_path / "qdq.onnx")
    loaded = load_model(str(tmp_path / "qdq.onnx"))
    assert [n.op for n in loaded.nodes][-1] == "Mul"
    assert affine_to_batchnorm(loaded) is loaded and batchnorm_to_depthwise(loaded) is loaded


def test_the_scale_compiles_as_a_depthwise_stage(model, tmp_path):
    from hwaccel.frontend.fixed_model import fixed_model
    from hwaccel.passes.fold_lanes import FoldTarget
    from hwaccel.passes.to_dataflow import to_dataflow

    np.save(tmp_path / "calib.npy", RNG.standard_normal((16, 3, 8, 8)).astype(np.float32))
    fixed, _ = fixed_model(str(model), str(tmp_path / "calib.npy"))
    kinds = [s.kind for s in to_dataflow(fixed, FoldTarget()).stages]
    assert kinds.count("dwconv") == 1 and kinds.count("conv") == 2
