"""The import validation layer (hwaccel.frontend.validate*): each malformed model of issue 21 is one
clear error line naming the file, node and tensor, exit 2, before any kernel runs."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from hwaccel.cli import main
from hwaccel.errors import ModelError
from hwaccel.frontend import import_model
from hwaccel.frontend.validate import Limits, check_proto
from hwaccel.ir.ops import ROWS

from conftest import make_model


def _cnn(x_shape=(1, 2, 6, 6), w_shape=(4, 2, 3, 3), group=1, pads=(1, 1, 1, 1), kernel=None, pool=None):
    w = np.ones(w_shape, np.float32)
    attrs = {"group": group, "pads": list(pads)}
    if kernel is not None:
        attrs["kernel_shape"] = list(kernel)
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"], name="conv", **attrs)]
    out = "c"
    if pool is not None:
        nodes.append(helper.make_node("MaxPool", ["c"], ["p"], name="pool", kernel_shape=list(pool)))
        out = "p"
    nodes.append(helper.make_node("Relu", [out], ["y"], name="relu"))
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, list(x_shape))
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", "c", "h", "w"])
    return make_model(nodes, [x], [y], [numpy_helper.from_array(w, "w")])


def _reject(tmp_path, capsys, model: onnx.ModelProto | bytes, *fragments: str, command: str = "info") -> str:
    path = tmp_path / "bad model.onnx"
    path.write_bytes(model if isinstance(model, bytes) else model.SerializeToString())
    assert main([command, str(path)]) == 2
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("hwaccel: error: ") and str(path) in lines[0], lines
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]


def test_valid_model_passes(tmp_path, capsys):
    path = tmp_path / "ok.onnx"
    onnx.save(_cnn(), path)
    assert main(["info", str(path)]) == 0


def test_initializer_bytes_must_match_dims(tmp_path, capsys):
    model = _cnn()
    w = model.graph.initializer[0]
    w.dims[:] = [12, 12, 1, 3]  # 432 elements, 72 stored: used to be "cannot reshape array of size 72"
    _reject(tmp_path, capsys, model, "initializer 'w' holds 288 bytes but its dims [12, 12, 1, 3] (float32) need 1728")


def test_initializer_typed_values_must_match_dims(tmp_path, capsys):
    model = _cnn()
    w = model.graph.initializer[0]
    w.ClearField("raw_data")
    w.float_data.extend([1.0] * 10)  # onnx.helper would refuse to build this
    _reject(tmp_path, capsys, model, "initializer 'w' holds 10 values", "need 72")


def test_conv_weight_channels_and_group(tmp_path, capsys):
    _reject(tmp_path, capsys, _cnn(x_shape=(1, 6, 6, 6), w_shape=(4, 3, 3, 3), group=3),
            "node 'conv' (Conv)", "weight 'w' must take 2 input channels", "not 3")
    _reject(tmp_path, capsys, _cnn(x_shape=(1, 6, 6, 6), w_shape=(4, 2, 3, 3), group=3),
            "attribute group must divide the 4 output channels of weight 'w', not 3")


def test_window_larger_than_padded_input(tmp_path, capsys):
    _reject(tmp_path, capsys, _cnn(x_shape=(1, 2, 2, 2), w_shape=(4, 2, 5, 5), pads=(0, 0, 0, 0)),
            "node 'conv' (Conv)", "must fit the padded input 'x'")


@pytest.mark.parametrize("pads, message", [((-1, 0, 0, 0), "Attribute pads must not contain negative values"),
                                           ((1, 1), "Attribute pads has incorrect size")])
def test_conv_attributes(tmp_path, capsys, pads, message):
    _reject(tmp_path, capsys, _cnn(pads=pads), "node name: conv", message)  # onnx shape inference's words


def test_huge_input_dim_is_refused_before_allocating(tmp_path, capsys):
    line = _reject(tmp_path, capsys, _cnn(x_shape=(1, 2, 10**9, 6)), "graph input 'x' has 12000000000 elements")
    assert "HWACCEL_MAX_TENSOR_ELEMENTS" in line


def test_limits_are_configurable(monkeypatch):
    monkeypatch.setenv("HWACCEL_MAX_TENSOR_ELEMENTS", "50")
    with pytest.raises(ModelError, match="initializer 'w' has 72 elements, more than the limit of 50"):
        import_model(_cnn(), where="m.onnx")
    monkeypatch.setenv("HWACCEL_MAX_TENSOR_ELEMENTS", "1000")
    with pytest.raises(ModelError, match="more than the limit of 100 "):
        check_proto(_cnn(), "m.onnx", Limits(total_bytes=100))


@pytest.mark.parametrize("edit, message", [
    (lambda m: m.graph.ClearField("output"), "the graph must have at least one output, not 0"),
    (lambda m: m.graph.ClearField("node"), "the graph must have at least one node, not 0"),
    (lambda m: setattr(m.graph.input[0].type.tensor_type.shape.dim[2], "dim_value", -3), "dims must be non-negative, not [1, 2, -3, 6]"),
    (lambda m: setattr(m.graph.input[0].type.tensor_type.shape.dim[1], "dim_value", 0),
     "node 'conv' (Conv): input 'x' extents must be positive, not (1, 0, 6, 6)"),
    (lambda m: setattr(m.graph.node[0], "name", "a\x1b[31mb"), "node name must be printable text, not 'a\\x1b[31mb'"),
    (lambda m: setattr(m.graph.node[0], "name", "n" * 2000), "must be at most 1024 characters"),
])
def test_info_refuses_invalid_models(tmp_path, capsys, edit, message):
    model = _cnn()
    edit(model)
    _reject(tmp_path, capsys, model, message)


def test_non_utf8_names(tmp_path, capsys):
    data = _cnn().SerializeToString().replace(b"conv", b"\xff\xfenv", 1)  # same length: still parses
    _reject(tmp_path, capsys, data, "must be UTF-8 text")


def test_pool_window_and_kernel_shape(tmp_path, capsys):
    _reject(tmp_path, capsys, _cnn(pool=(9, 9)), "node 'pool' (MaxPool)", "the window (9 with dilation 1) must fit")


def _qdq_model(scale=0.1, zero=0, w_scale=(0.5, 0.25, 0.5, 0.25), axis=0, zero_type=np.uint8):
    """x -Q/DQ-> Conv(DQ(w)) -> y, with the parameters under test."""
    inits = {"x.s": np.array(scale, np.float32), "x.z": np.array(zero, zero_type),
             "w.q": np.ones((4, 2, 3, 3), np.int8), "w.s": np.array(w_scale, np.float32),
             "w.z": np.zeros(len(w_scale), np.int8)}
    nodes = [helper.make_node("QuantizeLinear", ["x", "x.s", "x.z"], ["x.q"], name="xq"),
             helper.make_node("DequantizeLinear", ["x.q", "x.s", "x.z"], ["x.dq"], name="xdq"),
             helper.make_node("DequantizeLinear", ["w.q", "w.s", "w.z"], ["w.dq"], name="wdq", axis=axis),
             helper.make_node("Conv", ["x.dq", "w.dq"], ["y"], name="conv")]
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 2, 6, 6])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", "c", "h", "w"])
    return make_model(nodes, [x], [y], [numpy_helper.from_array(v, k) for k, v in inits.items()])


@pytest.mark.parametrize("scale", [0.0, -1.0, float("nan"), float("inf"), 1e-45])
def test_qdq_scales_must_be_finite_normal_and_positive(tmp_path, capsys, scale):
    _reject(tmp_path, capsys, _qdq_model(scale=scale), "node 'xq' (QuantizeLinear): scale 'x.s' must be finite and in")


def test_qdq_per_axis_lengths_and_axis(tmp_path, capsys):
    _reject(tmp_path, capsys, _qdq_model(w_scale=(0.5, 0.5, 0.5)),
            "node 'wdq' (DequantizeLinear)", "scale 'w.s' must have one entry per element of axis 0 of 'w.q' (4), not 3")
    _reject(tmp_path, capsys, _qdq_model(axis=7), "attribute axis must be in -4..3 for 'w.q' of rank 4, not 7")


def test_qdq_zero_point_type(tmp_path, capsys):
    model = _qdq_model()
    model.graph.initializer[1].CopyFrom(numpy_helper.from_array(np.array(1000, np.int32), "x.z"))
    _reject(tmp_path, capsys, model, "node name: xq", "y_zero_point", "int32")


def test_valid_qdq_model_runs_in_golden(tmp_path, capsys):
    path = tmp_path / "q.onnx"
    onnx.save(_qdq_model(), path)
    np.save(tmp_path / "x.npy", np.random.default_rng(0).normal(size=(1, 2, 6, 6)).astype(np.float32))
    assert main(["run", str(path), "-i", str(tmp_path / "x.npy"), "--engine", "golden"]) == 0


def test_quantize_empty_calibration_batch(tmp_path, capsys):
    path = tmp_path / "m.onnx"
    onnx.save(_cnn(x_shape=("N", 2, 6, 6)), path)
    np.save(tmp_path / "calib.npy", np.zeros((0, 2, 6, 6), np.float32))
    assert main(["quantize", str(path), "--calib", str(tmp_path / "calib.npy"), "-o", str(tmp_path / "q.onnx")]) == 2
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 1 and "must hold at least one sample, not shape (0, 2, 6, 6)" in lines[0], lines
    assert not (tmp_path / "q.onnx").exists()


def test_every_check_rule_is_a_row_of_the_op_table():
    from hwaccel.frontend import validate  # noqa: F401  (registers the rules)

    checked = {op for op, row in ROWS.items() if row.kernel("check") is not None}
    assert {"Conv", "Gemm", "MatMul", "MaxPool", "QuantizeLinear", "DequantizeLinear", "QLinearConv"} <= checked
