"""Post-training quantization: QDQ output runs in onnxruntime and matches the golden model."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import helper

from hwaccel.frontend import load_model
from hwaccel.frontend.qdq import lower_model
from hwaccel.frontend.quantize import QuantConfig, quantize_graph
from hwaccel.golden.fixed import run_golden

from ort_quant import SATURATION, ort_u8s8_saturates
from zoo_data import CLASSIFIERS, MODELS, calibration, split

ort = pytest.importorskip("onnxruntime")


HOST_OPS = {"Softmax"}  # float ops after the hardware partition (onnxruntime fuses them into approximate kernels)


def final_codes(model: onnx.ModelProto) -> list[str]:
    """The codes leaving the hardware partition: walking back from each output past host-only ops,
    the input of the last DequantizeLinear reached."""
    producers = {o: n for n in model.graph.node for o in n.output}
    codes = []
    for out in model.graph.output:
        node = producers[out.name]
        while True:
            while node.op_type != "DequantizeLinear":
                node = producers[node.input[0]]
            quantize = producers.get(node.input[0])
            before = producers.get(quantize.input[0]) if quantize is not None and quantize.op_type == "QuantizeLinear" else None
            if before is None or before.op_type not in HOST_OPS:
                break
            node = producers[before.input[0]]
        codes.append(node.input[0])
    return codes


def ort_values(model: onnx.ModelProto, feeds: dict, names: list[str], fused: bool = False) -> list[np.ndarray]:
    """Values ``names`` computed by onnxruntime. By default at the basic optimization level, where
    every QDQ op runs its standard ONNX kernel; ``fused`` enables onnxruntime's QDQ fusions, which
    replace some groups with contrib approximations (QLinearAveragePool, QLinearSoftmax).
    Where its integer kernels saturate (:func:`ort_u8s8_saturates`), a model of QLinear ops runs in
    ONNX's own reference evaluator instead."""
    m = onnx.ModelProto()
    m.CopyFrom(model)
    existing = {o.name for o in m.graph.output}
    m.graph.output.extend(helper.make_empty_tensor_value_info(n) for n in names if n not in existing)
    if ort_u8s8_saturates() and any(n.op_type.startswith("QLinear") for n in m.graph.node):
        from onnx.reference import ReferenceEvaluator
        from onnx.version_converter import convert_version

        return ReferenceEvaluator(convert_version(m, 21)).run(names, feeds)  # its kernels start at opset 19
    options = ort.SessionOptions()
    if not fused:
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
    sess = ort.InferenceSession(m.SerializeToString(), options, providers=["CPUExecutionProvider"])
    return sess.run(names, feeds)


def compare_codes(qdq: onnx.ModelProto, feeds: dict, fused: bool = False) -> tuple[float, int]:
    """Fraction of identical output codes and the largest code difference, golden vs onnxruntime."""
    graph = lower_model(qdq)
    names = final_codes(qdq)
    golden = run_golden(graph, feeds, outputs=names)
    ref = ort_values(qdq, feeds, names, fused)
    same, total, worst = 0, 0, 0
    for name, r in zip(names, ref):
        g = golden[name].astype(np.int64)
        diff = np.abs(g - r.astype(np.int64))
        same += int((diff == 0).sum())
        total += diff.size
        worst = max(worst, int(diff.max()))
    return same / total, worst


def quantized(name: str, **config) -> onnx.ModelProto:
    graph = load_model(MODELS / f"{name}.onnx")
    qdq, _ = quantize_graph(graph, {graph.inputs[0].name: calibration(name)}, QuantConfig(**config))
    return qdq


# lstm: its integer cell's narrow tables are not onnxruntime's float cell; test_golden_recurrent.py pins that agreement
@pytest.mark.parametrize("name", [n for n in CLASSIFIERS + ["autoencoder"] if n != "lstm" and (MODELS / f"{n}.onnx").exists()])
def test_zoo_golden_matches_onnxruntime_on_our_qdq(name):
    qdq = quantized(name)
    x_test = split(name)[2]
    same, worst = compare_codes(qdq, {"input": x_test})
    assert worst <= 1 and same >= 0.99, (same, worst)


@pytest.mark.parametrize("name", ["cnn", "resnet", "mlp"])
def test_zoo_golden_matches_fused_onnxruntime(name):
    """Where onnxruntime's fused integer kernels (QLinearConv, QGemm, ...) compute the QDQ semantics,
    they agree with golden too (models without average pools, whose fused kernel deviates)."""
    if ort_u8s8_saturates():
        pytest.skip(SATURATION)
    same, worst = compare_codes(quantized(name), {"input": split(name)[2]}, fused=True)
    assert worst <= 1 and same >= 0.99, (same, worst)


@pytest.mark.parametrize("name", [n for n in CLASSIFIERS if (MODELS / f"{n}.onnx").exists()])
def test_zoo_accuracy_8bit(name):
    graph = load_model(MODELS / f"{name}.onnx")
    _, _, x_test, y_test = split(name)
    from hwaccel.golden.float_executor import run_float

    float_acc = np.mean(run_float(graph, {"input": x_test})["output"].argmax(1) == y_test)
    qdq = quantized(name)
    golden_acc = np.mean(run_golden(lower_model(qdq), {"input": x_test})["output"].argmax(1) == y_test)
    options = ort.SessionOptions()
    if ort_u8s8_saturates():  # its QDQ reference: standard kernels, no fused integer GEMM
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
    sess = ort.InferenceSession(qdq.SerializeToString(), options, providers=["CPUExecutionProvider"])
    ort_acc = np.mean(sess.run(None, {"input": x_test})[0].argmax(1) == y_test)
    assert golden_acc >= float_acc - 0.01, (float_acc, golden_acc)
    assert abs(ort_acc - golden_acc) <= 0.003 + 1e-9, (ort_acc, golden_acc)


def compare_layerwise(qdq: onnx.ModelProto, feeds: dict) -> dict[str, tuple[float, int]]:
    """Per fixed-point op: golden on onnxruntime's own input codes vs onnxruntime's output codes.

    Isolates each op's arithmetic from the amplification of earlier 1-code differences.
    """
    from hwaccel.golden.fixed import FIXED_KERNELS
    from hwaccel.ir.ops import FIXED_DOMAIN

    graph = lower_model(qdq)
    fixed = [n for n in graph.nodes if n.domain == FIXED_DOMAIN]
    wanted = sorted({v for n in fixed for v in (*n.inputs, *n.outputs) if v and v not in graph.initializers})
    ref = dict(zip(wanted, ort_values(qdq, feeds, wanted)))
    result = {}
    for node in fixed:
        xs = [ref[i] if i in ref else graph.initializers.get(i) if i else None for i in node.inputs]
        got = FIXED_KERNELS[node.op](node, xs, graph).astype(np.int64)
        diff = np.abs(got - ref[node.outputs[0]].astype(np.int64))
        at_ties = bool(np.all(_pool_ties(node, xs[0])[diff != 0])) if node.op == "QAveragePool" else None
        result[node.name] = (float(np.mean(diff == 0)), int(diff.max()), at_ties)
    return result


def _pool_ties(node, x: np.ndarray) -> np.ndarray:
    """True where an average pool's exact rescaled value ``sum * M0 * 2^-n`` is a rounding tie k + 1/2."""
    from hwaccel.golden.fixed_ops.pool import _windows, window_count_map

    windows, spatial = _windows(node, x.astype(np.int64) - int(node.attr("x_zero_point", 0)), 0)
    sums = windows.sum(axis=tuple(range(-spatial, 0)))
    counts = np.broadcast_to(window_count_map(tuple(x.shape[2:]), node.attrs), sums.shape)
    ties = np.zeros(sums.shape, bool)
    for count, rq in node.attr("requants").items():
        mask = counts == count
        value = sums[mask].astype(np.float64) * float(rq.multiplier[0]) * 2.0 ** -float(rq.shift[0])
        ties[mask] = np.abs(value - np.floor(value) - 0.5) < 1e-4  # within the multiplier error of k + 1/2
    return ties


def _reshape_gemm(path, batch, shape: list[int]) -> None:
    w = helper.make_tensor("w", onnx.TensorProto.FLOAT, (2, 3), np.arange(6, dtype=np.float32).tolist())
    graph = helper.make_graph(
        [helper.make_node("Reshape", ["x", "shape"], ["flat"]), helper.make_node("Gemm", ["flat", "w"], ["y"], transB=1)],
        "reshape_gemm", [helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, (batch, 3, 1))],
        [helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, (batch, 2))],
        [w, helper.make_tensor("shape", onnx.TensorProto.INT64, (2,), shape)])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), path)


def test_a_batch_one_export_calibrates_on_many_samples(tmp_path):
    """An exporter's fixed batch 1 and a Reshape to (1, -1): the samples run one at a time, and every
    range equals the one the same network exported with a free batch gets from all samples at once."""
    from hwaccel.api import quantize

    _reshape_gemm(tmp_path / "batch1.onnx", 1, [1, -1])
    _reshape_gemm(tmp_path / "batchn.onnx", "N", [-1, 3])
    np.save(tmp_path / "calib.npy", np.random.default_rng(0).standard_normal((5, 3, 1)).astype(np.float32))
    one, many = (quantize(tmp_path / f"{m}.onnx", tmp_path / "calib.npy", output=tmp_path / f"{m}.q.onnx")
                 for m in ("batch1", "batchn"))
    assert len(one.activations) == 3 and one.activations == many.activations
