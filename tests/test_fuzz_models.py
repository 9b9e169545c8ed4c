"""Structure-aware fuzzing of the front end (issue 21), seeded: mutated small models through
``hwaccel info``, ``run --engine float|golden``, ``quantize`` and (a cheap subset) ``compile`` +
``simulate``, in-process. Every command succeeds or exits 2 with one line naming a file it was
given; never a traceback. The mutation engine is ``benchmarks/fuzz_models.py`` (which also runs
1,000 cases for the record); here a few hundred per run. Plus the property that anything
``quantize`` writes runs in golden and in onnxruntime.
"""

from __future__ import annotations

import importlib.util
import sys

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from conftest import ROOT

_spec = importlib.util.spec_from_file_location("fuzz_models", ROOT / "benchmarks" / "fuzz_models.py")  # benchmarks/ stays off sys.path
fuzz_models = importlib.util.module_from_spec(_spec)
sys.modules["fuzz_models"] = fuzz_models  # dataclasses look the module up by name
_spec.loader.exec_module(fuzz_models)

CASES = 300  # ~30 s on one core; benchmarks/fuzz_models.py runs 1,000


def _failures_text(summary) -> str:
    return "\n".join(f"case {f['case']} {f['mutations']} {f['command']}: {f['status']}\n{f['detail'][-800:]}"
                     for f in summary.failures[:5])


@pytest.mark.parametrize("seed", [0, 1])
def test_mutated_models_are_run_or_rejected_in_one_line(tmp_path, seed):
    summary = fuzz_models.fuzz(CASES // 2, seed, tmp_path, compile_every=0)
    assert not summary.failures, _failures_text(summary)
    statuses = summary.to_dict()["by_status"]
    assert statuses.get("rejected", 0) > CASES // 4 and statuses.get("ok", 0) > 10, statuses  # the mutants reach both paths


def test_mutated_models_compile_or_are_rejected(tmp_path):
    prepared = [p for p in fuzz_models.prepare(tmp_path) if not p[0].startswith("mlp")]  # mlp's bias Add is host-only
    rng = np.random.default_rng(7)
    summary = fuzz_models.Summary()
    for index in range(24):
        name, model, quantized, inputs, calib = prepared[index % len(prepared)]
        data, done = fuzz_models.mutate(model, rng, fuzz_models.QDQ_MUTATIONS if quantized else fuzz_models.FLOAT_MUTATIONS)
        for outcome in fuzz_models.run_case(index, data, quantized, inputs, calib, tmp_path, compile_it=True):
            summary.add(index, [name, *done], outcome)
    assert not summary.failures, _failures_text(summary)


def _random_model(rng: np.random.Generator) -> onnx.ModelProto:
    """A small random float CNN or MLP (shapes, kernels, strides, groups drawn from ``rng``)."""
    c_in, c_mid, size = int(rng.integers(1, 4)), int(rng.integers(1, 5)) * 2, int(rng.integers(4, 9))
    k, stride = int(rng.choice([1, 3])), int(rng.choice([1, 2]))
    group = int(rng.choice([1, c_in])) if c_mid % c_in == 0 else 1
    out = (size + 2 * (k // 2) - k) // stride + 1
    inits = {"w1": rng.normal(0, 0.5, (c_mid, c_in // group, k, k)), "b1": rng.normal(0, 0.1, c_mid),
             "w2": rng.normal(0, 0.5, (c_mid * out * out, 5)), "b2": rng.normal(0, 0.1, 5)}
    nodes = [helper.make_node("Conv", ["x", "w1", "b1"], ["c"], name="conv", pads=[k // 2] * 4, strides=[stride] * 2, group=group),
             helper.make_node(str(rng.choice(["Relu", "Sigmoid", "LeakyRelu"])), ["c"], ["a"], name="act"),
             helper.make_node("Flatten", ["a"], ["f"], name="flat"),
             helper.make_node("MatMul", ["f", "w2"], ["m"], name="fc"),
             helper.make_node("Add", ["m", "b2"], ["y"], name="bias")]
    graph = helper.make_graph(nodes, "rand", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", c_in, size, size])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 5])],
                              [numpy_helper.from_array(v.astype(np.float32), n) for n, v in inits.items()])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return model


@pytest.mark.parametrize("seed", range(4))
def test_what_quantize_writes_runs_in_golden_and_onnxruntime(tmp_path, seed):
    ort = pytest.importorskip("onnxruntime")
    from hwaccel import api

    rng = np.random.default_rng(seed)
    model = _random_model(rng)
    path, out = tmp_path / "m.onnx", tmp_path / "m.qdq.onnx"
    onnx.save(model, path)
    c_in, size = (model.graph.input[0].type.tensor_type.shape.dim[i].dim_value for i in (1, 2))
    calib = rng.normal(size=(8, c_in, size, size)).astype(np.float32)
    options = dict(weight_bits=int(rng.choice([4, 8])), act_signed=bool(rng.integers(2)),
                   per_channel=bool(rng.integers(2)), scheme=str(rng.choice(["affine", "pow2"])))
    api.quantize(path, {"x": calib}, out, **options)
    x = calib[:3]
    golden = api.run(out, {"x": x}, "golden").outputs["y"]
    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    session = ort.InferenceSession(str(out), opts, providers=["CPUExecutionProvider"])
    (reference,) = session.run(None, {"x": x})
    assert golden.shape == reference.shape and np.all(np.isfinite(golden))
    step = float(numpy_helper.to_array(next(t for t in onnx.load(out).graph.initializer if t.name == "y.scale")))
    assert np.max(np.abs(golden - reference)) <= step * 1.001 + 1e-6, options
