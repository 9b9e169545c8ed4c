"""The MLPerf Tiny builders (tests/mlperf_tiny.py): published MAC and layer counts, onnxruntime's
quantize_static output (QDQ, per-channel int8 weights), and the SCALE-Sim layer tables of
benchmarks/scalesim_layers.py against the networks."""

from __future__ import annotations

import importlib.util
from collections import Counter
from pathlib import Path

import numpy as np
import onnx
import pytest

pytest.importorskip("torch")
ort = pytest.importorskip("onnxruntime")

from mlperf_tiny import NETWORKS, inputs, quantized_model  # noqa: E402

from hwaccel.frontend import load_model  # noqa: E402
from hwaccel.summary import summarize  # noqa: E402

_spec = importlib.util.spec_from_file_location(  # by path: benchmarks/ stays off sys.path
    "scalesim_layers", Path(__file__).resolve().parent.parent / "benchmarks" / "scalesim_layers.py")
assert _spec is not None and _spec.loader is not None
scalesim_layers = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(scalesim_layers)
LAYERS = scalesim_layers.LAYERS

MACS = {"ad08": 264_192, "resnet8": 12_501_632, "dscnn": 2_656_768}
LAYER_OPS = {"ad08": {"Gemm": 10}, "resnet8": {"Conv": 9, "Gemm": 1, "Add": 3}, "dscnn": {"Conv": 9, "Gemm": 1}}
DEPTHWISE = {"ad08": 0, "resnet8": 0, "dscnn": 4}
OUTPUTS = {"ad08": 640, "resnet8": 10, "dscnn": 12}


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("mlperf_tiny")
    return {name: quantized_model(name, root / name) for name in NETWORKS}


@pytest.mark.parametrize("name", NETWORKS)
def test_macs_and_layers(models: dict[str, Path], name: str) -> None:
    # the float export (the quantized AD08 keeps its BatchNormalization nodes between the Gemms,
    # which hwaccel may count as layers of their own)
    assert summarize(load_model(str(models[name].with_name(f"{name}.onnx")))).total_macs == MACS[name]
    graph = onnx.load(str(models[name])).graph
    ops = Counter(n.op_type for n in graph.node)
    assert {op: ops[op] for op in LAYER_OPS[name]} == LAYER_OPS[name]
    groups = [a.i for n in graph.node if n.op_type == "Conv" for a in n.attribute if a.name == "group"]
    assert sum(g > 1 for g in groups) == DEPTHWISE[name]


@pytest.mark.parametrize("name", NETWORKS)
def test_quantize_static_qdq_per_channel(models: dict[str, Path], name: str) -> None:
    model = onnx.load(str(models[name]))
    ops = Counter(n.op_type for n in model.graph.node)
    assert ops["QuantizeLinear"] > 0 and ops["DequantizeLinear"] > ops["QuantizeLinear"]
    inits = {i.name: onnx.numpy_helper.to_array(i) for i in model.graph.initializer}
    layers = [n for n in model.graph.node if n.op_type in ("Conv", "Gemm")]
    producers = {o: n for n in model.graph.node for o in n.output}
    for layer in layers:  # the weight: an int8 initializer with one scale per output channel
        dq = producers[layer.input[1]]
        assert dq.op_type == "DequantizeLinear"
        assert inits[dq.input[0]].dtype == np.int8
        assert inits[dq.input[1]].size > 1
    session = ort.InferenceSession(str(models[name]), providers=["CPUExecutionProvider"])
    (out,) = session.run(None, {"input": inputs(name, 2)})
    assert out.shape == (2, OUTPUTS[name]) and np.isfinite(out).all()


@pytest.mark.parametrize("name", NETWORKS)
def test_scalesim_layers_match_the_network(name: str) -> None:
    """The benchmark's SCALE-Sim tables have the networks' conv/dense MACs (DS-CNN: without depthwise)."""
    macs = sum(((h + 2 * ph - kh) // s + 1) * ((w + 2 * pw - kw) // s + 1) * kh * kw * ci * co
               for _, h, w, kh, kw, ph, pw, ci, co, s in LAYERS[name])
    depthwise = 4 * 25 * 5 * 3 * 3 * 64 if name == "dscnn" else 0
    assert macs == MACS[name] - depthwise
