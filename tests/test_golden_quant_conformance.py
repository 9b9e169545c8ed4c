"""ONNX node conformance of the quantization ops through lowering + the golden executor, bit-exact.

Scales, zero points and (for the integer matmul/conv ops) the second operand are folded into
constants first: the fixed-point IR needs encodings at compile time, which is how real models
carry them. Exclusions and their reasons live in ``QUANT_EXCLUDED``.
"""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import numpy_helper
from onnx.backend.test.case.node import collect_testcases

from hwaccel.frontend import import_model
from hwaccel.golden.fixed import run_golden
from hwaccel.passes.lower_qdq import lower_qdq

QUANT_OPS = {"QuantizeLinear", "DequantizeLinear", "QLinearConv", "QLinearMatMul", "ConvInteger", "MatMulInteger"}

# name fragment -> reason; a case is excluded when its name contains the fragment
QUANT_EXCLUDED = {
    "e4m3": "float8 codes are not fixed point",
    "e5m2": "float8 codes are not fixed point",
    "float4": "float4 codes are not fixed point",
    "int4": "4-bit containers (int4/uint4 element types) are not supported; 4-bit codes live in int8 containers",
    "int2": "2-bit containers (int2/uint2 element types) are not supported",
    "blocked": "blocked quantization (block_size) is not part of the contract: scales are per tensor or per channel",
    "float16": "float16 scales: the contract computes scales in float32",
    "bfloat16": "bfloat16 scales are not supported",
}


def _cases():
    for case in collect_testcases():
        ops = {n.op_type for n in case.model.graph.node}
        if ops and ops <= QUANT_OPS and case.kind == "node":
            yield case


def _reason(name: str) -> str | None:
    return next((r for frag, r in QUANT_EXCLUDED.items() if frag in name), None)


CASES = {c.name: c for c in _cases()}


def _constant_inputs(case, inputs):
    """Turn every graph input but the first into an initializer holding the case's value."""
    model = type(case.model)()
    model.CopyFrom(case.model)
    graph_inputs = list(model.graph.input)
    keep = graph_inputs[:1]
    for vi, value in zip(graph_inputs[1:], inputs[1:]):
        model.graph.initializer.append(numpy_helper.from_array(np.asarray(value), vi.name))
    del model.graph.input[:]
    model.graph.input.extend(keep)
    if model.opset_import[0].version < 11:  # these ops are unchanged from opset 10 to 11
        model = onnx.version_converter.convert_version(model, 11)
    return model


@pytest.mark.parametrize("name", sorted(CASES))
def test_quant_op_conformance(name):
    reason = _reason(name)
    if reason:
        pytest.skip(reason)
    case = CASES[name]
    for inputs, expected in case.data_sets:
        model = _constant_inputs(case, inputs)
        graph = lower_qdq(import_model(model, where=name))
        got = run_golden(graph, {graph.inputs[0].name: np.asarray(inputs[0])})
        for (out_name, value), want in zip(got.items(), expected):
            want = np.asarray(want)
            assert value.dtype == want.dtype, f"{out_name}: dtype {value.dtype} != {want.dtype}"
            np.testing.assert_array_equal(value, want)


def test_quant_conformance_count():
    runnable = [n for n in CASES if not _reason(n)]
    print(f"\nONNX quantization-op conformance: {len(runnable)} cases run bit-exact, {len(CASES) - len(runnable)} excluded")
    assert len(runnable) >= 15
