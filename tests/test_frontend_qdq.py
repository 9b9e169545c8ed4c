"""Models quantized by onnxruntime's quantize_static import and lower to fixed point; golden agrees
with onnxruntime on the same quantized model (<= 1 code step everywhere, >= 99 % identical)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from hwaccel.errors import QuantizationError
from hwaccel.frontend.qdq import load_quantized, lower_model

from conftest import make_model
from ort_quant import ort_quantize
from test_frontend_quantize import compare_codes, compare_layerwise
from zoo_data import MODELS, calibration, split

pytest.importorskip("onnxruntime.quantization")

DATA = Path(__file__).resolve().parent / "data"
TORCH_MODELS = sorted(DATA.glob("*.onnx")) if DATA.exists() else []


def _digits_like(shape, count, seed=0):
    return np.random.default_rng(seed).uniform(0, 1, size=(count, *shape)).astype(np.float32)


def _assert_layerwise(qdq: onnx.ModelProto, feeds: dict) -> None:
    """Every fixed-point op within 1 code of onnxruntime on onnxruntime's own inputs; >= 99.9 %
    identical, except average pools, whose differences must all sit at exact rounding ties (which
    onnxruntime's float path breaks by float32 rounding noise, and golden half to even)."""
    for name, (same, worst, at_ties) in compare_layerwise(qdq, feeds).items():
        assert worst <= 1, (name, same, worst)
        assert same >= 0.999 or at_ties, (name, same, worst, at_ties)


# end to end (outputs of the whole network): models where 1-code differences do not amplify
END_TO_END = ["cnn", "resnet", "mlp", "autoencoder", "dbn"]


@pytest.mark.parametrize("flavour", ["qdq-int8-per-tensor", "qdq-uint8-per-channel"])
@pytest.mark.parametrize("name", ["cnn", "resnet", "dscnn", "mlp", "autoencoder", "dbn"])
def test_zoo_quantized_by_onnxruntime(tmp_path, name, flavour):
    path = ort_quantize(MODELS / f"{name}.onnx", tmp_path / "q.onnx", calibration(name), flavour)
    feeds = {"input": split(name)[2]}
    _assert_layerwise(onnx.load(path), feeds)
    if name in END_TO_END:
        same, worst = compare_codes(onnx.load(path), feeds)
        assert worst <= 1 and same >= 0.99, (same, worst)


@pytest.mark.parametrize("flavour", ["qdq-int8-per-tensor", "qdq-uint8-per-channel"])
@pytest.mark.parametrize("path", TORCH_MODELS, ids=lambda p: p.stem)
def test_torch_exported_quantized_by_onnxruntime(tmp_path, path, flavour):
    model = onnx.load(path)
    dims = [d.dim_value for d in model.graph.input[0].type.tensor_type.shape.dim[1:]]
    name = model.graph.input[0].name
    q = ort_quantize(path, tmp_path / "q.onnx", _digits_like(dims, 64), flavour, input_name=name)
    _assert_layerwise(onnx.load(q), {name: _digits_like(dims, 128, seed=1)})


def _qoperator_float_model(tmp_path) -> Path:
    rng = np.random.default_rng(3)
    inits = [
        numpy_helper.from_array(rng.normal(0, 0.3, (6, 1, 3, 3)).astype(np.float32), "w1"),
        numpy_helper.from_array(rng.normal(0, 0.1, 6).astype(np.float32), "b1"),
        numpy_helper.from_array(rng.normal(0, 0.2, (6 * 3 * 3, 10)).astype(np.float32), "fc"),
    ]
    nodes = [
        helper.make_node("Conv", ["input", "w1", "b1"], ["c"], name="conv", pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c"], ["r"], name="relu"),
        helper.make_node("MaxPool", ["r"], ["p"], name="pool", kernel_shape=[3, 3], strides=[3, 3], pads=[0, 0, 1, 1]),
        helper.make_node("Flatten", ["p"], ["f"], name="flatten"),
        helper.make_node("MatMul", ["f", "fc"], ["output"], name="fc"),
    ]
    x = helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 1, 8, 8])
    y = helper.make_tensor_value_info("output", TensorProto.FLOAT, ["N", 10])
    path = tmp_path / "float.onnx"
    onnx.save(make_model(nodes, [x], [y], inits, opset=13), path)
    return path


def test_qoperator_model_uses_qlinear_ops(tmp_path):
    q = ort_quantize(_qoperator_float_model(tmp_path), tmp_path / "q.onnx", _digits_like((1, 8, 8), 64), "qoperator-uint8")
    model = onnx.load(q)
    assert {"QLinearConv", "QLinearMatMul"} <= {n.op_type for n in model.graph.node}
    graph = load_quantized(q)
    assert {"QConv", "QMatMul"} <= {n.op for n in graph.nodes}
    same, worst = compare_codes(model, {"input": _digits_like((1, 8, 8), 128, seed=1)})
    assert worst <= 1 and same >= 0.99, (same, worst)


def test_float_model_is_rejected_with_advice():
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])
    with pytest.raises(QuantizationError, match="run `hwaccel quantize MODEL --calib DATA` first"):
        lower_model(make_model([helper.make_node("Relu", ["x"], ["y"])], [x], [y]))


def test_weight_given_as_quantize_of_float_constant():
    """QuantizeLinear(float W) -> DequantizeLinear: the codes are evaluated at lowering time."""
    import onnxruntime as ort

    from hwaccel.golden.fixed import run_golden
    from hwaccel.ir import verify_graph

    rng = np.random.default_rng(0)
    scalars = {"xs": (0.05, np.float32), "xz": (0, np.int8), "ws": (0.02, np.float32), "wz": (0, np.int8),
               "ys": (0.1, np.float32), "yz": (0, np.int8)}
    inits = [numpy_helper.from_array(rng.normal(size=(4, 3)).astype(np.float32), "W")]
    inits += [numpy_helper.from_array(np.array(v, t), k) for k, (v, t) in scalars.items()]
    nodes = [
        helper.make_node("QuantizeLinear", ["X", "xs", "xz"], ["xq"]),
        helper.make_node("DequantizeLinear", ["xq", "xs", "xz"], ["xd"]),
        helper.make_node("QuantizeLinear", ["W", "ws", "wz"], ["wq"]),
        helper.make_node("DequantizeLinear", ["wq", "ws", "wz"], ["wd"]),
        helper.make_node("MatMul", ["xd", "wd"], ["y"]),
        helper.make_node("QuantizeLinear", ["y", "ys", "yz"], ["yq"]),
        helper.make_node("DequantizeLinear", ["yq", "ys", "yz"], ["Y"]),
    ]
    model = make_model(nodes, [helper.make_tensor_value_info("X", TensorProto.FLOAT, [2, 4])],
                       [helper.make_tensor_value_info("Y", TensorProto.FLOAT, [2, 3])], inits)
    graph = lower_model(model)
    verify_graph(graph)
    assert [n.op for n in graph.nodes] == ["QuantizeLinear", "QMatMul", "DequantizeLinear"]
    x = rng.normal(size=(2, 4)).astype(np.float32)
    want = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, {"X": x})[0]
    np.testing.assert_array_equal(run_golden(graph, {"X": x})["Y"], want)
