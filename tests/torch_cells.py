"""Small PyTorch recurrent models (random weights) exported to ONNX, and their quantization error.

Shared by tests/test_quantize_recurrent_accuracy.py and benchmarks/recurrent_accuracy.py. Every
model maps a ``(batch, SEQ, INPUT)`` sequence to the cell's full output ``Y`` (batch first, both
directions concatenated); inputs are uniform in ``[-1, 1)``. The error measure is issue 22's: the
largest absolute golden error over the largest absolute float output.
"""

from __future__ import annotations

import io
import warnings
from pathlib import Path

import numpy as np
import onnx
from onnx import helper

import hwaccel
from hwaccel.frontend import load_model
from hwaccel.frontend.qdq import lower_model
from hwaccel.golden.fixed import run_golden
from hwaccel.golden.float_executor import run_float

SEQ, INPUT, BATCH = 12, 8, 64
# name -> (torch module, hidden size, bidirectional, ONNX linear_before_reset for GRU)
CELLS: dict[str, tuple[str, int, bool, int | None]] = {
    "gru": ("GRU", 16, False, 1),  # what torch exports
    "gru_lbr0": ("GRU", 16, False, 0),  # the ONNX default, set in the exported file
    "rnn": ("RNN", 20, False, None),
    "bilstm": ("LSTM", 16, True, None),
    "lstm": ("LSTM", 24, False, None),
}


def export_cell(name: str, seed: int, path: Path) -> Path:
    """Export cell ``name`` with torch's default random weights for ``seed`` to ``path``."""
    import torch

    module, hidden, bidirectional, lbr = CELLS[name]

    class Net(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.cell = getattr(torch.nn, module)(INPUT, hidden, batch_first=True, bidirectional=bidirectional)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.cell(x)[0]

    torch.manual_seed(seed)
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(Net().eval(), (torch.zeros(1, SEQ, INPUT),), buffer, input_names=["x"], output_names=["y"],
                          dynamic_axes={"x": {0: "batch"}, "y": {0: "batch"}}, dynamo=False)
    model = onnx.load_from_string(buffer.getvalue())
    if lbr is not None:
        cell = next(n for n in model.graph.node if n.op_type == module)
        kept = [a for a in cell.attribute if a.name != "linear_before_reset"]
        cell.ClearField("attribute")
        cell.attribute.extend([*kept, helper.make_attribute("linear_before_reset", lbr)])
    onnx.save(model, path)
    return path


def cell_inputs(seed: int, count: int = BATCH) -> np.ndarray:
    return np.random.default_rng(seed).uniform(-1, 1, (count, SEQ, INPUT)).astype(np.float32)


def quantized_error(name: str, seed: int, work: Path) -> float:
    """Export cell ``name`` (weights of ``seed``), quantize it with :func:`hwaccel.quantize` at 8/8
    bits on one random batch, and return the golden output error on another, relative to the
    float output range."""
    model = export_cell(name, seed, work / f"{name}_{seed}.onnx")
    qdq = hwaccel.quantize(model, {"x": cell_inputs(1000 + seed)}, work / f"{name}_{seed}.qdq.onnx", force=True).output
    x = cell_inputs(2000 + seed)
    expected = run_float(load_model(model), {"x": x})["y"]
    got = run_golden(lower_model(onnx.load(qdq), str(qdq)), {"x": x})["y"]
    return float(np.abs(got - expected).max() / np.abs(expected).max())
