"""ONNX import: validation errors, safe loading, import passes (checked against onnxruntime)."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from hwaccel.errors import ModelError, UnsupportedOpError
from hwaccel.frontend import import_model, load_model
from hwaccel.golden.float_executor import run_float
from hwaccel.ir import verify_graph

from conftest import conv_bn_relu_model, make_model

ort = pytest.importorskip("onnxruntime")


def _ort(model: onnx.ModelProto, feeds):
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return sess.run(None, feeds)


def test_import_folds_bn_constants_and_identity(conv_bn_model):
    graph = import_model(conv_bn_model)
    verify_graph(graph)
    ops = [n.op for n in graph.nodes]
    assert ops == ["Conv", "Relu", "Reshape", "MatMul"]
    x = np.random.default_rng(1).normal(size=(3, 2, 5, 5)).astype(np.float32)
    (expected,) = _ort(conv_bn_model, {"x": x})
    got = run_float(graph, {"x": x})["y"]
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)


def test_dynamic_batch_is_kept_symbolic(conv_bn_model):
    graph = import_model(conv_bn_model)
    assert graph.inputs[0].shape == ("N", 2, 5, 5)
    for batch in (1, 7):
        x = np.ones((batch, 2, 5, 5), np.float32)
        assert run_float(graph, {"x": x})["y"].shape == (batch, 3)


def test_unsupported_ops_are_all_listed_in_one_error():
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])
    nodes = [
        helper.make_node("Relu", ["x"], ["a"], name="ok"),
        helper.make_node("Erf", ["a"], ["b"], name="erf1"),
        helper.make_node("Sin", ["b"], ["c"], name="sin1"),
        helper.make_node("Erf", ["c"], ["y"], name="erf2"),
    ]
    with pytest.raises(UnsupportedOpError) as info:
        import_model(make_model(nodes, [x], [y]), where="m.onnx")
    assert [(n, op) for n, op, _ in info.value.unsupported] == [("erf1", "Erf"), ("sin1", "Sin"), ("erf2", "Erf")]
    assert str(info.value) == "m.onnx: 3 unsupported node(s): erf1 (Erf, opset 17), sin1 (Sin, opset 17), erf2 (Erf, opset 17)"


def test_custom_domain_op_is_unsupported():
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])
    node = helper.make_node("Fancy", ["x"], ["y"], name="f", domain="com.example")
    model = make_model([node], [x], [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])])
    model.opset_import.append(helper.make_opsetid("com.example", 1))
    with pytest.raises(UnsupportedOpError, match=r"f \(com.example.Fancy, opset 17\)"):
        import_model(model)


def test_opset_out_of_range_is_rejected():
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])
    model = make_model([helper.make_node("Relu", ["x"], ["y"])], [x], [y], opset=6)
    with pytest.raises(ModelError, match="opset must be in 7..[0-9]+, not 6"):
        import_model(model)


def test_unsupported_element_type_is_rejected():
    x = helper.make_tensor_value_info("x", TensorProto.BFLOAT16, [1, 4])
    y = helper.make_tensor_value_info("y", TensorProto.BFLOAT16, [1, 4])
    with pytest.raises(ModelError, match="element type must be one of .*not 'bfloat16'"):
        import_model(make_model([helper.make_node("Relu", ["x"], ["y"])], [x], [y]))


def test_inconsistent_shapes_fail_shape_inference():
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3])
    w = numpy_helper.from_array(np.ones((4, 5), np.float32), "w")
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 5])
    with pytest.raises(ModelError, match="shape inference failed"):
        import_model(make_model([helper.make_node("MatMul", ["x", "w"], ["y"])], [x], [y], [w]))


@pytest.mark.parametrize(
    "content, message",
    [
        (b"", "file is empty"),
        (b"this is not a protobuf at all \xff\xfe", "not a valid ONNX model|not an ONNX model"),
        (b"\x08\x07", "not an ONNX model"),
    ],
)
def test_bad_files(tmp_path, content, message):
    path = tmp_path / "bad.onnx"
    path.write_bytes(content)
    with pytest.raises(ModelError, match=message):
        load_model(path)


def test_truncated_file(tmp_path, conv_bn_model):
    data = conv_bn_model.SerializeToString()
    path = tmp_path / "trunc.onnx"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelError, match="trunc.onnx"):
        load_model(path)


def test_missing_file(tmp_path):
    with pytest.raises(ModelError, match="no such file"):
        load_model(tmp_path / "nope.onnx")


def test_size_limit(tmp_path, conv_bn_model):
    path = tmp_path / "m.onnx"
    onnx.save(conv_bn_model, path)
    with pytest.raises(ModelError, match="more than the limit of 100"):
        load_model(path, max_bytes=100)


def _external_model(tmp_path, location: str) -> str:
    model = conv_bn_relu_model()
    for t in model.graph.initializer:
        if t.name == "fc":
            t.ClearField("raw_data")
            t.ClearField("float_data")
            t.data_location = TensorProto.EXTERNAL
            del t.external_data[:]
            t.external_data.add(key="location", value=location)
    sub = tmp_path / "model_dir"
    sub.mkdir(exist_ok=True)
    path = sub / "m.onnx"
    path.write_bytes(model.SerializeToString())
    return str(path)


@pytest.mark.parametrize("location, message", [
    ("../secret.bin", "must not contain '..'"),
    ("/etc/passwd", "must be a relative path"),
    ("missing.bin", "file not found"),
])
def test_external_data_must_stay_inside_model_dir(tmp_path, location, message):
    (tmp_path / "secret.bin").write_bytes(b"\0" * 1200)
    with pytest.raises(ModelError, match=message):
        load_model(_external_model(tmp_path, location))


def test_external_data_symlink_escape(tmp_path):
    (tmp_path / "secret.bin").write_bytes(b"\0" * 1200)
    path = _external_model(tmp_path, "link.bin")
    (tmp_path / "model_dir" / "link.bin").symlink_to(tmp_path / "secret.bin")
    with pytest.raises(ModelError, match="resolves outside"):
        load_model(path)


def test_external_data_inside_dir_loads(tmp_path):
    model = conv_bn_relu_model()
    sub = tmp_path / "d"
    sub.mkdir()
    onnx.save(model, sub / "m.onnx", save_as_external_data=True, all_tensors_to_one_file=True, location="w.bin", size_threshold=0)
    graph = load_model(sub / "m.onnx")
    x = np.ones((2, 2, 5, 5), np.float32)
    reference = conv_bn_relu_model()  # onnx.save pointed ``model`` at the external file
    np.testing.assert_allclose(run_float(graph, {"x": x})["y"], _ort(reference, {"x": x})[0], rtol=1e-5, atol=1e-5)


def test_model_local_functions_are_inlined():
    f = helper.make_function("local", "MyRelu", ["x"], ["y"], [helper.make_node("Relu", ["x"], ["y"])],
                             [helper.make_opsetid("", 17)])
    graph = helper.make_graph([helper.make_node("MyRelu", ["X"], ["Y"], domain="local")], "g",
                              [helper.make_tensor_value_info("X", TensorProto.FLOAT, [1, 4])],
                              [helper.make_tensor_value_info("Y", TensorProto.FLOAT, [1, 4])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("local", 1)],
                              functions=[f])
    imported = import_model(model)
    assert [n.op for n in imported.nodes] == ["Relu"]
    x = np.array([[-1, 0, 2, -3]], np.float32)
    np.testing.assert_array_equal(run_float(imported, {"X": x})["Y"], np.maximum(x, 0))
