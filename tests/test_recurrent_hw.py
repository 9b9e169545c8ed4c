"""Recurrent networks in hardware (issue 22): the zoo lstm, PyTorch-exported GRU (hidden 16, both
``linear_before_reset``), RNN (tanh, hidden 20), bidirectional LSTM (hidden 16) and LSTM (hidden 24),
12 steps, and a stack (LSTM -> LSTM -> bidirectional GRU -> last step -> Linear), quantized by
``hwaccel quantize``: ``compile`` succeeds, every cell one Recurrent stage and the stack streaming
without the host, and ``verify --count 16`` is bit-exact with RTL cycles equal to the cycle model
(:data:`RTL_RUNS`)."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pytest

from hwaccel.cli import main
from hwaccel.sim.runner import simulator_missing

from torch_cells import CELLS, cell_inputs, export_cell
from zoo_data import MODELS, calibration, split

NETWORKS = ["zoo_lstm", *CELLS, "stack"]
HEADS = {"zoo_lstm": ["dense"], "stack": ["recurrent", "recurrent", "dense"]}  # stages after the first cell


def stack(path: Path) -> Path:
    """LSTM(8 -> 16) -> LSTM(16 -> 16) -> bidirectional GRU(16 -> 12) -> the last step -> Linear(24 -> 5),
    10 steps, random weights, exported by PyTorch."""
    torch = pytest.importorskip("torch")

    class Net(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.first, self.second = torch.nn.LSTM(8, 16, batch_first=True), torch.nn.LSTM(16, 16, batch_first=True)
            self.gru = torch.nn.GRU(16, 12, batch_first=True, bidirectional=True)
            self.head = torch.nn.Linear(24, 5)

        def forward(self, x):  # type: ignore[no-untyped-def]
            return self.head(self.gru(self.second(self.first(x)[0])[0])[0][:, -1])

    torch.manual_seed(0)
    with warnings.catch_warnings():  # the TorchScript exporter's deprecation notices
        warnings.simplefilter("ignore")
        torch.onnx.export(Net().eval(), (torch.zeros(1, 10, 8),), path, input_names=["x"], output_names=["y"],
                          dynamic_axes={"x": {0: "batch"}, "y": {0: "batch"}}, dynamo=False)
    return path


@pytest.fixture(scope="module")
def builds(tmp_path_factory) -> dict[str, tuple[Path, Path]]:
    """Each network quantized by ``hwaccel quantize`` and compiled: its build and 16 test inputs."""
    out: dict[str, tuple[Path, Path]] = {}
    root = tmp_path_factory.mktemp("recurrent")
    for name in NETWORKS:
        work = root / name
        work.mkdir()
        if name == "zoo_lstm":
            model, key = MODELS / "lstm.onnx", "input"
            calib, test = calibration("lstm"), split("lstm")[2][:16]
        elif name == "stack":
            rng = np.random.default_rng(0)
            model, key = stack(work / "stack.onnx"), "x"
            calib, test = (rng.uniform(-1, 1, (n, 10, 8)).astype(np.float32) for n in (64, 16))
        else:
            pytest.importorskip("torch")
            model, key = export_cell(name, 0, work / "cell.onnx"), "x"
            calib, test = cell_inputs(1), cell_inputs(2, 16)
        np.savez(work / "calib.npz", **{key: calib})
        np.savez(work / "test.npz", **{key: test})
        assert main(["quantize", str(model), "--calib", str(work / "calib.npz"), "-o", str(work / "q.onnx")]) == 0
        assert main(["compile", str(work / "q.onnx"), "-o", str(work / "build")]) == 0
        out[name] = work / "build", work / "test.npz"
    return out


def _verify(build: Path, inputs: Path, simulator: str, capsys) -> None:
    capsys.readouterr()
    code = main(["verify", str(build), "-i", str(inputs), "--count", "16", "--simulator", simulator, "--json"])
    report = json.loads(capsys.readouterr().out)
    assert code == 0 and report["bit_exact"] and report["cycles_match"], report


@pytest.mark.slow
def test_recurrent_networks_compile_to_one_recurrent_stage(builds) -> None:
    for name, (build, _) in builds.items():
        stages = json.loads((build / "manifest.json").read_text())["dataflow"]["stages"]
        kinds = [s["kind"] for s in stages]
        assert kinds[0] == "recurrent", (name, kinds)
        assert kinds[1:] == HEADS.get(name, []), (name, kinds)  # a Gather of the last step folds into its cell


# Every kind of cell on an RTL simulator in the suite: LSTM (zoo), GRU linear_before_reset 0, the stack
# (two LSTMs, a bidirectional GRU with linear_before_reset 1), RNN, bidirectional LSTM. The full
# matrix, every network on both simulators, was run by hand for issue 22 (all bit-exact, cycles
# equal); each Verilator build costs ~50 s of the suite's time.
RTL_RUNS = [("verilator", "zoo_lstm"), ("verilator", "gru_lbr0"), ("verilator", "stack"), ("icarus", "rnn"), ("icarus", "bilstm")]


@pytest.mark.slow
def test_zoo_lstm_verifies_in_amaranth(builds, capsys) -> None:
    _verify(*builds["zoo_lstm"], "amaranth", capsys)


@pytest.mark.slow
@pytest.mark.rtl
@pytest.mark.parametrize("simulator, name", RTL_RUNS)
def test_recurrent_network_verifies_in_rtl(builds, name, simulator, capsys) -> None:
    if reason := simulator_missing(simulator):
        pytest.skip(reason)
    _verify(*builds[name], simulator, capsys)
