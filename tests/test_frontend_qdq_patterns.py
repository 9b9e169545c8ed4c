"""The QDQ patterns that onnxruntime, tf2onnx and PyTorch's export write fold into the hardware
layers: each model lowers with no host op between hardware layers (the compiler's partition accepts
it) and golden agrees with onnxruntime running the same QDQ model (the independent reference)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from hwaccel.frontend.qdq import lower_model
from hwaccel.golden.fixed import run_golden
from hwaccel.ir.ops import FIXED_DOMAIN
from hwaccel.passes.partition import partition

from conftest import make_model
from ort_quant import ort_quantize
from test_frontend_quantize import compare_codes, compare_layerwise, ort_values

pytest.importorskip("onnxruntime.quantization")

RNG = np.random.default_rng(3)


class Builder:
    """A float / QDQ ONNX graph written by hand, node by node."""

    def __init__(self) -> None:
        self.nodes: list[onnx.NodeProto] = []
        self.inits: list[onnx.TensorProto] = []

    def const(self, name: str, value) -> str:
        self.inits.append(numpy_helper.from_array(np.asarray(value), name))
        return name

    def node(self, op: str, inputs: list[str], out: str, **attrs) -> str:
        self.nodes.append(helper.make_node(op, inputs, [out], name=out, **attrs))
        return out

    def q(self, x: str, scale: float, zp: int, dtype=np.uint8) -> str:
        s, z = self.const(f"{x}_s", np.float32(scale)), self.const(f"{x}_z", dtype(zp))
        return self.node("QuantizeLinear", [x, s, z], f"{x}_q")

    def dq(self, codes: str) -> str:
        return self.node("DequantizeLinear", [codes, f"{codes[:-2]}_s", f"{codes[:-2]}_z"], f"{codes}_dq")

    def qdq(self, x: str, scale: float, zp: int = 128, dtype=np.uint8) -> str:
        return self.dq(self.q(x, scale, zp, dtype))

    def weight(self, name: str, w: np.ndarray, axis: int | None) -> str:
        """Symmetric int8 codes of ``w`` per ``axis`` (or per tensor) behind a DequantizeLinear."""
        reduce = tuple(i for i in range(w.ndim) if i != axis) if axis is not None else None
        scale = (np.abs(w).max(axis=reduce) / 127).astype(np.float32)
        shaped = scale if axis is None else scale.reshape([-1 if i == axis else 1 for i in range(w.ndim)])
        codes = np.clip(np.rint(w / shaped), -127, 127).astype(np.int8)
        self.const(f"{name}_q", codes)
        self.const(f"{name}_s", scale)
        self.const(f"{name}_z", np.zeros(scale.shape, np.int8))
        attrs = {} if axis is None else {"axis": axis}
        return self.node("DequantizeLinear", [f"{name}_q", f"{name}_s", f"{name}_z"], f"{name}_dq", **attrs)

    def model(self, x_shape, y: str, y_shape, opset: int = 17) -> onnx.ModelProto:
        self.node("Identity", [y], "Y")
        return make_model(self.nodes, [helper.make_tensor_value_info("X", TensorProto.FLOAT, list(x_shape))],
                          [helper.make_tensor_value_info("Y", TensorProto.FLOAT, list(y_shape))], self.inits, opset=opset)


def _check(model: onnx.ModelProto, x: np.ndarray, step: float, host_ops: tuple[str, ...] = ()) -> None:
    """(a) lowered with every float op folded (but ``host_ops``) and no host op between hardware
    layers; (b) golden's outputs equal onnxruntime's on >= 99 % of entries, all within one step."""
    graph = lower_model(model)
    partition(graph)
    floats = {n.op for n in graph.nodes if n.domain != FIXED_DOMAIN} - {"QuantizeLinear", "DequantizeLinear"}
    movers = {"Reshape", "Flatten", "Transpose", "Squeeze", "Unsqueeze", "Identity"}
    assert floats - movers == set(host_ops), floats
    got = run_golden(graph, {"X": x})["Y"]
    want = ort_values(model, {"X": x}, ["Y"])[0]
    diff = np.abs(got.astype(np.float64) - want)
    assert diff.max() <= step * 1.001, diff.max() / step
    assert np.mean(diff == 0) >= 0.99, np.mean(diff == 0)


def _fixed_ops(model: onnx.ModelProto) -> list[str]:
    return [n.op for n in lower_model(model).nodes if n.domain == FIXED_DOMAIN]


# onnxruntime's quantize_static on float models with an unfused BatchNormalization ------------------

def _layer_bn_model(conv: bool) -> onnx.ModelProto:
    b = Builder()
    if conv:
        h = b.node("Conv", ["X", b.const("w", RNG.normal(size=(6, 3, 3, 3)).astype(np.float32)),
                            b.const("c", RNG.normal(size=6).astype(np.float32))], "h", pads=[1, 1, 1, 1])
        channels, shape = 6, [8, 3, 6, 6]
    else:
        h = b.node("Gemm", ["X", b.const("w", RNG.normal(size=(12, 10)).astype(np.float32)),
                            b.const("c", RNG.normal(size=12).astype(np.float32))], "h", transB=1)
        channels, shape = 12, [8, 10]
    params = [RNG.uniform(-1.5, 1.5, channels), RNG.normal(0, 0.3, channels), RNG.normal(0, 0.3, channels),
              RNG.uniform(0.5, 1.5, channels)]
    names = [b.const(n, p.astype(np.float32)) for n, p in zip(("g", "be", "m", "v"), params)]
    r = b.node("Relu", [b.node("BatchNormalization", [h, *names], "bn")], "r")
    if conv:
        r = b.node("Flatten", [r], "flat")
    y = b.node("Gemm", [r, b.const("w2", RNG.normal(size=(4, channels * (36 if conv else 1))).astype(np.float32))],
               "y", transB=1)
    out_shape = [8, 4]
    graph = helper.make_graph(b.nodes, "bn", [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", *shape[1:]])],
                              [helper.make_tensor_value_info(y, TensorProto.FLOAT, ["N", out_shape[1]])], b.inits)
    graph.node[0].input[0] = "input"
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return model


@pytest.mark.parametrize("flavour", ["qdq-uint8-per-channel", "qdq-int8-per-tensor"])
@pytest.mark.parametrize("conv", [False, True], ids=["gemm", "conv"])
def test_batchnorm_behind_qdq_pair(tmp_path, conv, flavour):
    """Gemm/Conv -> Q -> DQ -> BatchNormalization(DQ gamma, DQ beta) -> Q: the intermediate codes
    stay, the BN becomes a diagonal layer; every op agrees with onnxruntime layer by layer."""
    src = tmp_path / "f.onnx"
    onnx.save(_layer_bn_model(conv), src)
    shape = (3, 6, 6) if conv else (10,)
    calib = RNG.normal(size=(64, *shape)).astype(np.float32)
    q = onnx.load(ort_quantize(src, tmp_path / "q.onnx", calib, flavour))
    assert "BatchNormalization" in [n.op_type for n in q.graph.node]
    graph = lower_model(q)
    partition(graph)
    assert "BatchNormalization" not in {n.op for n in graph.nodes}
    feeds = {"input": RNG.normal(size=(32, *shape)).astype(np.float32)}
    for name, (same, worst, _) in compare_layerwise(q, feeds).items():
        assert worst <= 1 and same >= 0.999, (name, same, worst)
    same, worst = compare_codes(q, feeds)
    assert worst <= 1 and same >= 0.99, (same, worst)


def test_batchnorm_right_after_quantized_layer_folds_into_it():
    """DQ weights -> Gemm -> BN -> Relu -> Q (no pair between): one QMatMul, float-exact folding."""
    b = Builder()
    x = b.qdq("X", 0.05)
    h = b.node("Gemm", [x, b.weight("w", RNG.normal(size=(6, 5)), 0)], "h", transB=1)
    names = [b.const(n, p.astype(np.float32)) for n, p in zip(
        ("g", "be", "m", "v"), (RNG.uniform(-1.5, 1.5, 6), RNG.normal(size=6), RNG.normal(size=6), RNG.uniform(0.5, 1.5, 6)))]
    y = b.qdq(b.node("Relu", [b.node("BatchNormalization", [h, *names], "bn")], "r"), 0.04, 0)
    model = b.model((16, 5), y, (16, 6))
    assert _fixed_ops(model) == ["QMatMul"]
    _check(model, RNG.normal(size=(16, 5)).astype(np.float32), 0.04)


# data movers and activations between DQ and the next layer -----------------------------------------

def _conv_front(b: Builder) -> str:
    x = b.qdq("X", 0.05)
    return b.node("Conv", [x, b.weight("cw", RNG.normal(size=(4, 2, 3, 3)), 0)], "c")


@pytest.mark.parametrize("mover", ["Flatten", "Reshape"])
def test_dq_mover_gemm_without_q_between(mover):
    """Conv -> Q -> DQ -> Flatten/Reshape -> Gemm (no Q after the mover, as tf2onnx writes it)."""
    b = Builder()
    c = b.qdq(_conv_front(b), 0.1)
    moved = b.node("Flatten", [c], "m") if mover == "Flatten" else b.node("Reshape", [c, b.const("shape", np.array([0, -1]))], "m")
    y = b.qdq(b.node("Gemm", [moved, b.weight("gw", RNG.normal(size=(3, 16)), 0)], "g", transB=1), 0.5)
    model = b.model((5, 2, 4, 4), y, (5, 3))
    assert _fixed_ops(model) == ["QConv", "QMatMul"]
    _check(model, RNG.normal(size=(5, 2, 4, 4)).astype(np.float32), 0.5)


def test_transpose_squeeze_unsqueeze_with_qdq_on_one_side():
    """Layer -> Transpose -> Q (float into the mover) and DQ -> Unsqueeze -> Squeeze -> Gemm."""
    b = Builder()
    x = b.qdq("X", 0.05)
    g = b.node("MatMul", [x, b.weight("w", RNG.normal(size=(6, 4)), 1)], "g")
    t = b.qdq(b.node("Transpose", [g], "t", perm=[1, 0]), 0.2)
    u = b.node("Unsqueeze", [t, b.const("ax", np.array([0]))], "u")
    s = b.node("Squeeze", [u, "ax"], "s")
    y = b.qdq(b.node("MatMul", [s, b.weight("w2", RNG.normal(size=(7, 3)), 1)], "y"), 0.5)
    model = b.model((7, 6), y, (4, 3))
    assert _fixed_ops(model) == ["QMatMul", "QMatMul"]
    _check(model, RNG.normal(size=(7, 6)).astype(np.float32), 0.5)


@pytest.mark.parametrize("act", ["relu", "relu-no-q", "clip06", "clip-bounds"])
def test_activation_after_dq_fuses_into_requant(act):
    """Conv -> Q -> DQ -> Relu/Clip -> Q (one encoding): the activation is the requant's clamp.
    ``relu-no-q``: DQ -> Relu -> Conv (nothing quantizes the Relu)."""
    b = Builder()
    x = b.qdq("X", 0.05)
    w = b.weight("cw", RNG.normal(size=(4, 2, 3, 3)), 0)
    c = b.dq(b.q(b.node("Conv", [x, w], "c"), 0.125, 100))
    if act in ("relu", "relu-no-q"):
        a = b.node("Relu", [c], "a")
    else:
        low, high = (0.0, 6.0) if act == "clip06" else (-1.0, 2.5)
        a = b.node("Clip", [c, b.const("lo", np.float32(low)), b.const("hi", np.float32(high))], "a")
    if act != "relu-no-q":
        a = b.dq(b.q(a, 0.125, 100))
    w2 = b.weight("cw2", RNG.normal(size=(3, 4, 1, 1)), 0)
    y = b.qdq(b.node("Conv", [a, w2], "y"), 0.25)
    model = b.model((5, 2, 6, 6), y, (5, 3, 4, 4))
    assert _fixed_ops(model) == ["QConv", "QConv"]
    _check(model, RNG.normal(0, 2, size=(5, 2, 6, 6)).astype(np.float32), 0.25)


def test_relu_between_different_encodings_is_a_table():
    """DQ -> Relu -> Q with another encoding: a table stage in hardware, exact."""
    b = Builder()
    c = b.qdq(_conv_front(b), 0.1)
    y = b.qdq(b.node("Relu", [c], "a"), 0.07, 0)
    model = b.model((5, 2, 6, 6), y, (5, 4, 4, 4))
    assert _fixed_ops(model) == ["QConv", "QLut"]
    _check(model, RNG.normal(size=(5, 2, 6, 6)).astype(np.float32), 0.07)


# weight scales on every axis; int32 bias DequantizeLinear -------------------------------------------

@pytest.mark.parametrize("op, axis, hardware", [
    ("MatMul", 1, True), ("MatMul", -1, True), ("MatMul", None, True), ("MatMul", 0, False),
    ("Gemm-transB0", 1, True), ("Gemm-transB1", 0, True), ("Gemm-transB1", 1, False)])
def test_weight_scales_per_axis(op, axis, hardware):
    """Scales along the output channels lower (with an int32 per-channel bias DequantizeLinear at
    x_scale * w_scale, as onnxruntime writes it); along the reduction axis the layer stays a float
    op, still equal to onnxruntime."""
    b = Builder()
    x = b.qdq("X", 0.05)
    trans = op == "Gemm-transB1"
    w_float = RNG.normal(size=(6, 8) if trans else (8, 6))
    w = b.weight("w", w_float, axis)
    if op == "MatMul":
        h = b.node("MatMul", [x, w], "h")
    else:
        stored = np.asarray(numpy_helper.to_array(b.inits[-2]))  # the weight scales
        w_scale = stored if stored.size == 6 else np.full(6, stored.reshape(-1)[0], np.float32)
        bias_scale = (np.float32(0.05) * w_scale).astype(np.float32)
        b.const("bias_q", np.rint(RNG.normal(size=6) / bias_scale).astype(np.int32))
        b.const("bias_s", bias_scale)
        b.const("bias_z", np.zeros(6, np.int32))
        bias = b.node("DequantizeLinear", ["bias_q", "bias_s", "bias_z"], "bias", axis=0)
        h = b.node("Gemm", [x, w, bias], "h", transB=int(trans))
    y = b.qdq(h, 0.2)
    model = b.model((9, 8), y, (9, 6))
    assert _fixed_ops(model) == (["QMatMul"] if hardware else [])
    graph = lower_model(model)
    x_in = RNG.normal(size=(9, 8)).astype(np.float32)
    want = ort_values(model, {"X": x_in}, ["Y"])[0]
    diff = np.abs(run_golden(graph, {"X": x_in})["Y"] - want)
    assert diff.max() <= 0.2 * 1.001 and np.mean(diff == 0) >= 0.95, (diff.max(), np.mean(diff == 0))


@pytest.mark.parametrize("group", [1, 2])
def test_conv_transpose_weights_per_axis_1_import(group):
    """ConvTranspose weights (C_in, C_out/group, k, k) per output channel (axis 1): imports, and
    golden matches onnxruntime."""
    b = Builder()
    x = b.qdq("X", 0.05)
    w = b.weight("w", RNG.normal(size=(4, 3, 2, 2)), 1)
    y = b.qdq(b.node("ConvTranspose", [x, w], "h", strides=[2, 2], group=group), 0.3)
    model = b.model((2, 4, 3, 3), y, (2, 3 * group, 6, 6))
    graph = lower_model(model)
    x_in = RNG.normal(size=(2, 4, 3, 3)).astype(np.float32)
    want = ort_values(model, {"X": x_in}, ["Y"])[0]
    diff = np.abs(run_golden(graph, {"X": x_in})["Y"] - want)
    assert diff.max() <= 0.3 * 1.001 and np.mean(diff == 0) >= 0.99


# the MLPerf Tiny networks ---------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["ad08", pytest.param("resnet8", marks=pytest.mark.slow),
                                  pytest.param("dscnn", marks=pytest.mark.slow)])
def test_mlperf_tiny_lowers_without_host_islands(tmp_path, name):
    pytest.importorskip("torch")
    import mlperf_tiny

    path: Path = mlperf_tiny.quantized_model(name, tmp_path)
    graph = lower_model(onnx.load(path))
    partition(graph)
    assert not {n.op for n in graph.nodes if n.domain != FIXED_DOMAIN} - {
        "QuantizeLinear", "DequantizeLinear", "Reshape", "Flatten"}
    if name == "ad08":
        feeds = {"input": mlperf_tiny.inputs(name, 16, seed=5)}
        for layer, (same, worst, _) in compare_layerwise(onnx.load(path), feeds).items():
            assert worst <= 1 and same >= 0.999, (layer, same, worst)
