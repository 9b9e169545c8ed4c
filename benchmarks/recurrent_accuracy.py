"""Quantization error of PyTorch-exported recurrent cells (issue 22) and the zoo LSTM's accuracy.

For each cell of tests/torch_cells.py (GRU hidden 16 with both ``linear_before_reset``, RNN hidden
20, bidirectional LSTM hidden 16, LSTM hidden 24; random weights, 12 steps, 8/8 bits) and seeds
0..9: the golden output error as a fraction of the float output range, with the hidden state's
range joined with its bound (-1, 1) ("after", what ``hwaccel quantize`` does) and calibrated only
("before", the quantizer until issue 22), at the cell format ``hwaccel quantize`` chose (auto), and
which one it chose. Also the zoo LSTM's digits accuracy, float and golden, and for every cell format
of the ladder (hwaccel.passes.lower.cell_format, 8..12-bit table indices) plus the pre-issue-22 wide
one: the worst cell error, the zoo accuracy and how often golden's zoo output codes equal
onnxruntime's (which runs the cell in float). Writes benchmarks/results/recurrent_accuracy.json.
Usage: python benchmarks/recurrent_accuracy.py
"""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import onnx

from common import MODELS, calibration, split, write_json

import hwaccel
import hwaccel.frontend.quantize as quantize_module
from hwaccel.frontend import load_model
from hwaccel.frontend.qdq import lower_model
from hwaccel.frontend.quantize import QuantConfig, quantize_graph
from hwaccel.golden.fixed import run_golden
from hwaccel.golden.float_executor import run_float
from hwaccel.passes.lower.cell_format import CELL_BITS, CellFormat, ladder
from hwaccel.passes.lower_qdq import LowerOptions
from test_frontend_quantize import compare_codes
from test_golden_recurrent import WIDE, with_format
from torch_cells import CELLS, cell_inputs, export_cell, quantized_error

SEEDS = range(10)
FORMATS = [WIDE, *(ladder(b) for b in CELL_BITS)]


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
        row["auto_cell_bits"] = [hwaccel.quantize(export_cell(name, seed, work / "cell.onnx"), {"x": cell_inputs(1000 + seed)},
                                                  work / "cell.qdq.onnx", force=True).cell_format["cell_bits"] for seed in SEEDS]
        results[name] = row
        print(name, {k: round(row[k]["max"], 4) for k in ("before", "after")}, "auto cell bits", row["auto_cell_bits"])
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


def format_error(name: str, seed: int, work: Path, fmt: CellFormat) -> float:
    """As torch_cells.quantized_error, with the cells lowered at ``fmt``."""
    model = export_cell(name, seed, work / f"{name}_{seed}.onnx")
    qdq = hwaccel.quantize(model, {"x": cell_inputs(1000 + seed)}, work / f"{name}_{seed}.qdq.onnx", force=True).output
    x = cell_inputs(2000 + seed)
    expected = run_float(load_model(model), {"x": x})["y"]
    got = run_golden(lower_model(onnx.load(qdq), options=LowerOptions(cell_format=fmt)), {"x": x})["y"]
    return float(np.abs(got - expected).max() / np.abs(expected).max())


def cell_formats(work: Path) -> list[dict]:
    graph = load_model(MODELS / "lstm.onnx")
    _, _, x, y = split("lstm")
    qdq, _ = quantize_graph(graph, {"input": calibration("lstm")}, QuantConfig())
    rows = []
    for fmt in FORMATS:
        worst = {name: max(format_error(name, seed, work, fmt) for seed in SEEDS) for name in CELLS}
        same, diff = compare_codes(with_format(qdq, fmt), {"input": x})
        accuracy = float(np.mean(run_golden(lower_model(with_format(qdq, fmt)), {"input": x})["output"].argmax(1) == y))
        rows.append({"format": vars(fmt), "worst_error": worst, "zoo_lstm_accuracy": accuracy,
                     "zoo_same_codes_as_onnxruntime": same, "zoo_largest_code_difference": diff})
        print(vars(fmt), {k: round(v, 4) for k, v in worst.items()}, accuracy, round(same, 4), diff)
    return rows


def main() -> None:
    with tempfile.TemporaryDirectory() as work:
        cells = cell_errors(Path(work))
        formats = cell_formats(Path(work))
    write_json("recurrent_accuracy", {
        "metric": "largest |golden - float| / largest |float| on 64 random sequences (uniform [-1, 1), 12 steps), "
                  "8-bit weights and activations, calibrated on another 64; zoo lstm: digits top-1 accuracy",
        "seeds": list(SEEDS), "cells": {name: {"module": m, "hidden": h, "bidirectional": b, "linear_before_reset": lbr}
                                        for name, (m, h, b, lbr) in CELLS.items()},
        "results": cells, "zoo_lstm_accuracy": zoo_lstm(), "cell_formats": formats,
    })


if __name__ == "__main__":
    main()
