"""Quantization error of PyTorch-exported recurrent cells (issue 22) and the zoo LSTM's accuracy.

For each cell of tests/torch_cells.py (GRU hidden 16 with both ``linear_before_reset``, RNN hidden
20, bidirectional LSTM hidden 16, LSTM hidden 24; random weights, 12 steps, 8/8 bits) and seeds
0..9: the golden output error as a fraction of the float output range, with the hidden state's
range joined with its bound (-1, 1) ("after", what ``hwaccel quantize`` does) and calibrated only
("before", the quantizer until issue 22). Also the zoo LSTM's digits accuracy, float and golden.
Writes benchmarks/results/recurrent_accuracy.json. Usage: python benchmarks/recurrent_accuracy.py
"""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from common import MODELS, calibration, split, write_json

import hwaccel.frontend.quantize as quantize_module
from hwaccel.frontend import load_model
from hwaccel.frontend.qdq import lower_model
from hwaccel.frontend.quantize import QuantConfig, quantize_graph
from hwaccel.golden.fixed import run_golden
from hwaccel.golden.float_executor import run_float
from torch_cells import CELLS, quantized_error

SEEDS = range(10)


@contextlib.contextmanager
def calibrated_hidden_state() -> Iterator[None]:
    """The quantizer as before issue 22: the hidden state's range is the calibrated one only."""
    bounded = quantize_module._bounded_state
    quantize_module._bounded_state = lambda node, value: False
    try:
        yield
    finally:
        quantize_module._bounded_state = bounded


def cell_errors(work: Path) -> dict:
    results = {}
    for name in CELLS:
        row = {}
        for label, context in (("before", calibrated_hidden_state), ("after", contextlib.nullcontext)):
            with context():
                errors = [quantized_error(name, seed, work) for seed in SEEDS]
            row[label] = {"max": max(errors), "per_seed": errors}
        results[name] = row
        print(name, {k: round(v["max"], 4) for k, v in row.items()})
    return results


def zoo_lstm() -> dict:
    graph = load_model(MODELS / "lstm.onnx")
    _, _, x, y = split("lstm")
    accuracy = {"float": float(np.mean(run_float(graph, {"input": x})["output"].argmax(1) == y))}
    for label, context in (("before", calibrated_hidden_state), ("after", contextlib.nullcontext)):
        with context():
            qdq, _ = quantize_graph(graph, {"input": calibration("lstm")}, QuantConfig())
        accuracy[label] = float(np.mean(run_golden(lower_model(qdq), {"input": x})["output"].argmax(1) == y))
    print("zoo lstm", accuracy)
    return accuracy


def main() -> None:
    with tempfile.TemporaryDirectory() as work:
        cells = cell_errors(Path(work))
    write_json("recurrent_accuracy", {
        "metric": "largest |golden - float| / largest |float| on 64 random sequences (uniform [-1, 1), 12 steps), "
                  "8-bit weights and activations, calibrated on another 64; zoo lstm: digits top-1 accuracy",
        "seeds": list(SEEDS), "cells": {name: {"module": m, "hidden": h, "bidirectional": b, "linear_before_reset": lbr}
                                        for name, (m, h, b, lbr) in CELLS.items()},
        "results": cells, "zoo_lstm_accuracy": zoo_lstm(),
    })


if __name__ == "__main__":
    main()
