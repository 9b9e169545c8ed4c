"""Lowering QDQ to fixed point: every accumulator width holds the worst case of the actual weights."""

from __future__ import annotations

import numpy as np
import pytest

from hwaccel.frontend import load_model
from hwaccel.frontend.qdq import lower_model
from hwaccel.frontend.quantize import QuantConfig, quantize_graph
from hwaccel.ir import verify_graph

from zoo_data import MODELS, calibration

MODELS_WITH_MACS = ["mlp", "cnn", "autoencoder", "dbn", "resnet", "dscnn", "generator"]


def _calib(name):
    if name == "generator":
        return np.load(MODELS / "generator_latents.npz")["input"][:128]
    return calibration(name)


def _worst_abs_acc(node, graph) -> int:
    """max |bias + sum (x - zx)(w - zw)| over every input code vector, from the weights themselves."""
    x_quant = graph.values[node.inputs[0]].quant
    zx = int(node.attr("x_zero_point"))
    x_span = max(x_quant.qmax - zx, zx - x_quant.qmin)
    w = graph.initializers[node.inputs[1]].astype(np.int64)
    zw = np.asarray(node.attr("w_zero_point")).astype(np.int64)
    if node.op == "QMatMul":
        per_output = np.abs(w - zw.reshape(1, -1)).sum(axis=0)
    elif node.op == "QConvTranspose":
        per_output = np.abs(w).sum(axis=(0, 2, 3))  # bound: every tap of every input channel
        per_output = np.tile(per_output, int(node.attr("group", 1)))
    else:
        per_output = np.abs(w - zw.reshape(-1, 1, 1, 1)).reshape(w.shape[0], -1).sum(axis=1)
    bias = np.abs(graph.initializers[node.inputs[2]].astype(np.int64)) if len(node.inputs) > 2 and node.inputs[2] else 0
    return int((per_output * x_span + bias).max())


@pytest.mark.parametrize("bits", [(8, 8), (4, 8), (16, 16)])
@pytest.mark.parametrize("name", MODELS_WITH_MACS)
def test_accumulator_width_cannot_overflow(name, bits):
    graph = load_model(MODELS / f"{name}.onnx")
    qdq, _ = quantize_graph(graph, {"input": _calib(name)}, QuantConfig(weight_bits=bits[0], act_bits=bits[1]))
    fixed = lower_model(qdq)
    verify_graph(fixed)
    checked = 0
    for node in fixed.nodes:
        if node.op in ("QConv", "QMatMul", "QConvTranspose"):
            acc_bits = int(node.attr("acc_bits"))
            assert acc_bits == bits[0] + bits[1] + int(np.ceil(np.log2(max(2, acc_terms(node, fixed))))) + 1
            assert _worst_abs_acc(node, fixed) <= (1 << (acc_bits - 1)) - 1, node.name
            checked += 1
    assert checked >= 1


def acc_terms(node, graph) -> int:
    """Terms per accumulator: K products plus the bias (worth one product here: small biases)."""
    w = graph.initializers[node.inputs[1]]
    if node.op == "QMatMul":
        k = w.shape[0]
    elif node.op == "QConvTranspose":
        k = w.shape[0] // int(node.attr("group", 1)) * int(np.prod(w.shape[2:]))
    else:
        k = int(np.prod(w.shape[1:]))
    return k + (1 if len(node.inputs) > 2 and node.inputs[2] else 0)
