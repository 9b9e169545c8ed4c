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

from zoo_data import CLASSIFIERS, MODELS, calibration, split

ort = pytest.importorskip("onnxruntime")


def final_codes(model: onnx.ModelProto) -> list[str]:
    """The code values behind the model's outputs: inputs of the last DequantizeLinear nodes."""
    producers = {o: n for n in model.graph.node for o in n.output}
    codes = []
    for out in model.graph.output:
        node = producers[out.name]
        while node.op_type != "DequantizeLinear":
            node = producers[node.input[0]]
        codes.append(node.input[0])
    return codes


def ort_values(model: onnx.ModelProto, feeds: dict, names: list[str]) -> list[np.ndarray]:
    m = onnx.ModelProto()
    m.CopyFrom(model)
    existing = {o.name for o in m.graph.output}
    m.graph.output.extend(helper.make_empty_tensor_value_info(n) for n in names if n not in existing)
    sess = ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"])
    return sess.run(names, feeds)


def compare_codes(qdq: onnx.ModelProto, feeds: dict) -> tuple[float, int]:
    """Fraction of identical output codes and the largest code difference, golden vs onnxruntime."""
    graph = lower_model(qdq)
    names = final_codes(qdq)
    golden = run_golden(graph, feeds, outputs=names)
    ref = ort_values(qdq, feeds, names)
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


@pytest.mark.parametrize("name", [n for n in CLASSIFIERS + ["autoencoder"] if (MODELS / f"{n}.onnx").exists()])
def test_zoo_golden_matches_onnxruntime_on_our_qdq(name):
    qdq = quantized(name)
    x_test = split(name)[2]
    same, worst = compare_codes(qdq, {"input": x_test})
    assert worst <= 1 and same >= 0.99, (same, worst)


@pytest.mark.parametrize("name", [n for n in CLASSIFIERS if (MODELS / f"{n}.onnx").exists()])
def test_zoo_accuracy_8bit(name):
    graph = load_model(MODELS / f"{name}.onnx")
    _, _, x_test, y_test = split(name)
    from hwaccel.golden.execute import run_float

    float_acc = np.mean(run_float(graph, {"input": x_test})["output"].argmax(1) == y_test)
    qdq = quantized(name)
    golden_acc = np.mean(run_golden(lower_model(qdq), {"input": x_test})["output"].argmax(1) == y_test)
    sess = ort.InferenceSession(qdq.SerializeToString(), providers=["CPUExecutionProvider"])
    ort_acc = np.mean(sess.run(None, {"input": x_test})[0].argmax(1) == y_test)
    assert golden_acc >= float_acc - 0.01, (float_acc, golden_acc)
    assert abs(ort_acc - golden_acc) <= 0.003 + 1e-9, (ort_acc, golden_acc)
