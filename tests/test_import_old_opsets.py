"""Old opsets and the ops of the ONNX zoo's ImageNet models (issue 23): opset 7..10 files are
converted to 11 on import and say so; ``Sum`` becomes a chain of ``Add`` (then an EltwiseAdd in
hardware); ``LRN`` and the variadic ``Mean`` / ``Max`` / ``Min`` run in float on the host. Float results
against onnxruntime on the original file."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from hwaccel.frontend.onnx_import import import_model
from hwaccel.frontend.qdq import lower_model
from hwaccel.frontend.quantize import QuantConfig, quantize_graph
from hwaccel.golden.float_executor import run_float
from hwaccel.passes.to_dataflow import to_dataflow
from hwaccel.summary import format_summary, summarize

from conftest import make_model

ort = pytest.importorskip("onnxruntime")

LIGHT = Path(onnx.__file__).parent / "backend" / "test" / "data" / "light"  # the wheel's ImageNet models, opset 9


def _old_model(opset: int = 9, lrn: bool = True, seed: int = 0) -> onnx.ModelProto:
    """Conv -> Relu -> [LRN] -> Sum(that, Conv(that), that) -> Relu, written at ``opset``."""
    rng = np.random.default_rng(seed)
    inits = [numpy_helper.from_array(rng.normal(0, 0.5, s).astype(np.float32), n) for n, s in
             (("w1", (6, 3, 3, 3)), ("w2", (6, 6, 3, 3)))]
    nodes = [helper.make_node("Conv", ["x", "w1"], ["c1"], name="conv1", pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["c1"], ["r1"], name="relu1")]
    if lrn:
        nodes.append(helper.make_node("LRN", ["r1"], ["n1"], name="lrn", size=3, alpha=0.02, beta=0.75, bias=1.5))
    a = "n1" if lrn else "r1"
    nodes += [helper.make_node("Conv", [a, "w2"], ["c2"], name="conv2", pads=[1, 1, 1, 1]),
              helper.make_node("Sum", [a, "c2", a], ["s"], name="sum"),
              helper.make_node("Relu", ["s"], ["y"], name="relu2")]
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, 6, 6])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 6, 6, 6])
    return make_model(nodes, [x], [y], inits, opset=opset)


def _ort(model: onnx.ModelProto, x: np.ndarray) -> np.ndarray:
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return sess.run(None, {"x": x})[0]


@pytest.mark.parametrize("opset", [7, 9, 10])
def test_old_opset_is_converted_and_says_so(opset):
    model = _old_model(opset)
    graph = import_model(model)
    assert (graph.opset, graph.converted_from) == (11, opset)
    summary = summarize(graph)
    assert summary.to_dict()["converted_from_opset"] == opset
    assert f"opset 11 (converted from opset {opset} on import)" in format_summary(summary, "m.onnx")
    x = np.random.default_rng(1).normal(size=(2, 3, 6, 6)).astype(np.float32)
    np.testing.assert_allclose(run_float(graph, {"x": x})["y"], _ort(model, x), rtol=1e-5, atol=1e-6)


def test_current_opset_is_not_marked_converted():
    graph = import_model(_old_model(13))
    assert (graph.opset, graph.converted_from) == (13, None)
    assert "converted" not in format_summary(summarize(graph), "m.onnx")


def test_sum_becomes_a_chain_of_adds():
    graph = import_model(_old_model(13, lrn=False))
    assert [n.op for n in graph.nodes] == ["Conv", "Relu", "Conv", "Add", "Add", "Relu"]
    assert summarize(import_model(_old_model(13), passes=False)).layers[4].placement == "hardware"


def _lrn_by_the_spec(x: np.ndarray, size: int, alpha: float, beta: float, bias: float) -> np.ndarray:
    """The ONNX operator text's formula, channel by channel."""
    out = np.empty_like(x, dtype=np.float64)
    channels = x.shape[1]
    for c in range(channels):
        lo, hi = max(0, c - (size - 1) // 2), min(channels - 1, c + -(-(size - 1) // 2))
        square_sum = np.sum(x[:, lo:hi + 1].astype(np.float64) ** 2, axis=1)
        out[:, c] = x[:, c] / (bias + alpha / size * square_sum) ** beta
    return out


@pytest.mark.parametrize("size", [1, 2, 3, 4, 5])
def test_lrn_equals_the_spec_and_onnxruntime(size):
    """(onnx.reference's LRN differs from onnxruntime by up to 4.8 here; onnxruntime builds odd sizes only.)"""
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 7, 3, 2])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 7, 3, 2])
    model = make_model([helper.make_node("LRN", ["x"], ["y"], size=size, alpha=0.3, beta=0.6, bias=0.8)], [x], [y])
    data = np.random.default_rng(size).normal(0, 2, (3, 7, 3, 2)).astype(np.float32)
    got = run_float(import_model(model), {"x": data})["y"]
    np.testing.assert_allclose(got, _lrn_by_the_spec(data, size, 0.3, 0.6, 0.8), rtol=1e-6, atol=1e-7)
    if size % 2:
        np.testing.assert_allclose(got, _ort(model, data), rtol=1e-5, atol=1e-7)


def test_sum_residual_compiles_to_an_add_stage_and_lrn_stays_on_the_host():
    rng = np.random.default_rng(2)
    calib = rng.normal(size=(16, 3, 6, 6)).astype(np.float32)
    qdq, _ = quantize_graph(import_model(_old_model(9, lrn=False)), {"x": calib}, QuantConfig())
    df = to_dataflow(lower_model(qdq), fifos=False)
    assert [s.kind for s in df.stages].count("add") == 2
    lrn_graph = import_model(_old_model(9))
    layer = next(layer for layer in summarize(lrn_graph).layers if layer.op == "LRN")
    assert layer.placement == "host" and "LRN" in layer.reason


def _variadic_model(op: str, shapes: list[tuple[int, ...]], opset: int, elem: int = TensorProto.FLOAT) -> onnx.ModelProto:
    names = [f"x{i}" for i in range(len(shapes))]
    inputs = [helper.make_tensor_value_info(n, elem, list(s)) for n, s in zip(names, shapes)]
    out = np.broadcast_shapes(*shapes)
    y = helper.make_tensor_value_info("y", elem, list(out))
    return make_model([helper.make_node(op, names, ["y"], name=op.lower())], inputs, [y], opset=opset)


@pytest.mark.parametrize("opset", [9, 13])
@pytest.mark.parametrize("op", ["Mean", "Max", "Min"])
@pytest.mark.parametrize("shapes", [[(2, 3, 4)], [(2, 3, 4), (3, 1)], [(2, 1, 4), (2, 3, 4), (4,)]], ids=["one", "two", "three"])
def test_variadic_mean_max_min_equal_onnxruntime(op, opset, shapes):
    """Mean equals onnxruntime bit for bit (both scale the left-to-right sum by 1/n); Max and Min
    take no rounding at all. The opset-9 files are converted first."""
    model = _variadic_model(op, shapes, opset)
    rng = np.random.default_rng(len(shapes))
    feeds = {f"x{i}": rng.normal(size=s).astype(np.float32) for i, s in enumerate(shapes)}
    graph = import_model(model)
    assert graph.converted_from == (opset if opset < 11 else None)
    got = run_float(graph, feeds)["y"]
    want = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, feeds)[0]
    assert got.dtype == want.dtype and got.shape == want.shape
    np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("op", ["Max", "Min"])
def test_max_min_of_integers_keep_the_type(op):
    model = _variadic_model(op, [(5,), (3, 5)], 13, TensorProto.INT32)
    rng = np.random.default_rng(3)
    feeds = {"x0": rng.integers(-100, 100, 5, dtype=np.int32), "x1": rng.integers(-100, 100, (3, 5), dtype=np.int32)}
    got = run_float(import_model(model), feeds)["y"]
    want = (np.maximum if op == "Max" else np.minimum)(feeds["x0"], feeds["x1"])
    assert got.dtype == np.int32
    np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("op", ["Mean", "Max", "Min"])
def test_variadic_ops_run_on_the_host_with_a_reason(op):
    layer = summarize(import_model(_variadic_model(op, [(1, 4), (1, 4)], 13))).layers[0]
    assert (layer.op, layer.placement) == (op, "host") and f"{op} of tensors has no hardware unit" in layer.reason


def weight_dims(model: onnx.ModelProto) -> dict[str, list[int]]:
    """Every weight's dims: the float initializers and the ConstantOfShape fills."""
    shapes = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    dims = {t.name: list(t.dims) for t in model.graph.initializer if t.data_type == TensorProto.FLOAT}
    for n in model.graph.node:
        if n.op_type == "ConstantOfShape":
            dims[n.output[0]] = [int(d) for d in shapes[n.input[0]]]
    return dims


def densify(model: onnx.ModelProto, seed: int = 0) -> onnx.ModelProto:
    """``model`` with each ConstantOfShape weight replaced by a seeded random initializer: conv and
    dense weights He-scaled, batch-norm scales and variances (and Mul scales) in 0.5..1.5, the rest
    (biases, means) N(0, 0.1). With the shipped fills every channel is equal: channel order, groups
    and concatenations go unseen."""
    rng = np.random.default_rng(seed)
    dims = weight_dims(model)
    users = {}
    for n in model.graph.node:
        for k, name in enumerate(n.input):
            users.setdefault(name, (n, k))
    nodes, inits = [], []
    for n in model.graph.node:
        if n.op_type != "ConstantOfShape":
            nodes.append(n)
            continue
        shape = dims[n.output[0]]
        user, k = users.get(n.output[0], (None, -1))
        op = user.op_type if user is not None else ""
        if op in ("Conv", "Gemm") and k == 1:
            trans_b = any(a.name == "transB" and a.i for a in user.attribute)
            fan_in = int(np.prod(shape[1:])) if op == "Conv" or trans_b else shape[0]
            w = rng.standard_normal(shape, dtype=np.float32) * np.float32(np.sqrt(2.0 / fan_in))
        elif (op == "BatchNormalization" and k in (1, 4)) or op == "Mul":
            w = rng.uniform(0.5, 1.5, shape).astype(np.float32)
        else:
            w = rng.standard_normal(shape, dtype=np.float32) * np.float32(0.1)
        inits.append(numpy_helper.from_array(w, n.output[0]))
    dense = onnx.ModelProto()
    dense.CopyFrom(model)
    del dense.graph.node[:]
    dense.graph.node.extend(nodes)
    used = {i for n in nodes for i in n.input}
    del dense.graph.initializer[:]  # the fills' shape vectors go
    dense.graph.initializer.extend([t for t in model.graph.initializer if t.name in used] + inits)
    del dense.graph.input[:]
    dense.graph.input.extend(i for i in model.graph.input if i.name in used)
    if dense.ir_version < 4:  # IR 3: every initializer is also a graph input
        dense.graph.input.extend(helper.make_tensor_value_info(t.name, t.data_type, list(t.dims)) for t in inits)
    return dense


def test_squeezenet_with_random_weights_equals_onnxruntime():
    """The fastest light model (opset 9, converted on import; Concat of expand branches), its fills
    replaced by random weights: the float executor's logits equal onnxruntime's (rtol 1e-4).
    benchmarks/light_models.py runs all nine."""
    model = densify(onnx.load(LIGHT / "light_squeezenet.onnx"))
    graph = import_model(model, where="squeezenet")
    assert graph.converted_from == 9
    x = np.random.default_rng(0).standard_normal((1, 3, 224, 224)).astype(np.float32)
    logits = next(n.input[0] for n in model.graph.node if n.op_type == "Softmax")
    probe = onnx.ModelProto()
    probe.CopyFrom(model)
    probe.graph.output.append(helper.make_tensor_value_info(logits, TensorProto.FLOAT, None))
    want = ort.InferenceSession(probe.SerializeToString(), providers=["CPUExecutionProvider"]).run([logits], {"data_0": x})[0]
    got = run_float(graph, {"data_0": x}, outputs=[logits])[logits]
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5 * np.abs(want).max())
    assert np.ptp(want) > 0.1 * np.abs(want).max()  # the classes differ: not the fills' flat output


@pytest.mark.parametrize("op", ["Mean", "Max", "Min"])
def test_variadic_ops_stay_float_host_ops_in_the_golden_model(op):
    """Quantized, the op stays a float op between a DequantizeLinear and a QuantizeLinear (on the
    host, as LRN); the golden model runs it and stays within 5 % of the float model."""
    from hwaccel.golden.fixed import run_golden

    rng = np.random.default_rng(6)
    inits = [numpy_helper.from_array(rng.normal(0, 0.5, s).astype(np.float32), n)
             for n, s in (("w1", (4, 3, 3, 3)), ("w2", (4, 3, 3, 3)), ("w3", (4, 4, 3, 3)))]
    nodes = [helper.make_node("Conv", ["x", "w1"], ["a"], pads=[1, 1, 1, 1]), helper.make_node("Conv", ["x", "w2"], ["b"], pads=[1, 1, 1, 1]),
             helper.make_node(op, ["a", "b"], ["m"], name="join"), helper.make_node("Conv", ["m", "w3"], ["y"], pads=[1, 1, 1, 1])]
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, 6, 6])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 4, 6, 6])
    graph = import_model(make_model(nodes, [x], [y], inits))
    qdq, _ = quantize_graph(graph, {"x": rng.normal(size=(32, 3, 6, 6)).astype(np.float32)}, QuantConfig())
    lowered = lower_model(qdq)
    ops = [n.op for n in lowered.nodes]
    assert ops[ops.index(op) - 1] == "DequantizeLinear" and ops[ops.index(op) + 1] == "QuantizeLinear"
    data = rng.normal(size=(2, 3, 6, 6)).astype(np.float32)
    want = run_float(graph, {"x": data})["y"]
    got = next(iter(run_golden(lowered, {"x": data}).values()))
    assert np.abs(got - want).max() < 0.05 * np.abs(want).max()
