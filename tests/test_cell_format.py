"""The recurrent cell format as a per-model parameter (issue 22): ``hwaccel quantize --cell-bits``
chooses a ladder entry, the QDQ file carries it in metadata ``hwaccel.cell_format``, lowering (golden,
compile) uses it; a QDQ model without the entry gets 12-bit table indices; every ladder table fits on
chip (at most 2**12 entries)."""

from __future__ import annotations

import json

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

import hwaccel
from hwaccel.cli import main
from hwaccel.errors import ModelError, QuantizationError
from hwaccel.frontend.onnx_import import import_model
from hwaccel.frontend.qdq import load_quantized, lower_model
from hwaccel.frontend.quantize import CELL_ERROR_TARGET, QuantConfig, quantize_graph
from hwaccel.ir.graph import Graph, Node
from hwaccel.passes.lower.cell_format import CELL_BITS, CELL_FORMAT_METADATA_KEY, DEFAULT_CELL_FORMAT, CellFormat, ladder
from hwaccel.passes.lower_qdq import LowerOptions

from conftest import make_model
from test_golden_recurrent import calibrated, cell_input, cell_model, with_format

pytest.importorskip("onnxruntime")


def _cell(graph: Graph) -> Node:
    return next(n for n in graph.nodes if n.op in ("QLSTM", "QGRU", "QRNN"))


@pytest.fixture
def float_rnn(tmp_path):
    """A float RNN file and calibration data (.npy) for the CLI."""
    model = tmp_path / "rnn.onnx"
    onnx.save(cell_model("RNN", out_encoding=None, float_weights=True, quantize_x=False), model)
    calib = tmp_path / "calib.npy"
    np.save(calib, cell_input(0, seed=5))
    return model, calib


def test_given_cell_bits_round_trip_through_the_file(float_rnn, tmp_path):
    model, calib = float_rnn
    result = hwaccel.quantize(model, str(calib), tmp_path / "q.onnx", cell_bits=10)
    assert result.cell_format == {"cell_bits": 10, "auto": False, "format": json.loads(ladder(10).to_json()),
                                  "target": CELL_ERROR_TARGET, "calibration_errors": {}}
    written = onnx.load(result.output)
    assert {p.key: p.value for p in written.metadata_props}[CELL_FORMAT_METADATA_KEY] == ladder(10).to_json()
    cell = _cell(load_quantized(result.output))
    assert cell.attr("frac_bits") == 10 and len(cell.attr("tanh_table")) == 2**10 and cell.attr("tanh_qmin") == -(2**9)


def test_missing_key_gets_the_narrow_default():
    model = calibrated("LSTM")
    assert not [p for p in model.metadata_props if p.key == CELL_FORMAT_METADATA_KEY]
    cell = _cell(lower_model(model))
    assert DEFAULT_CELL_FORMAT == ladder(12)
    assert cell.attr("frac_bits") == 12 and cell.attr("cell_frac") == 16
    assert len(cell.attr("sigmoid_table")) == len(cell.attr("tanh_table")) == 2**12


def test_lowering_option_overrides_the_metadata():
    model = with_format(calibrated("GRU"), ladder(9))
    assert _cell(lower_model(model)).attr("frac_bits") == 9
    assert _cell(lower_model(model, options=LowerOptions(cell_format=ladder(11)))).attr("frac_bits") == 11


@pytest.mark.parametrize("bits", list(CELL_BITS))
def test_every_ladder_table_fits_on_chip(bits):
    fmt = ladder(bits)
    cell = _cell(lower_model(with_format(calibrated("LSTM"), fmt)))
    for name in ("sigmoid_table", "tanh_table"):
        table = np.asarray(cell.attr(name))
        assert table.size == fmt.table_entries == 2**bits <= 2**12
        assert np.abs(table).max() <= 2**fmt.frac_bits  # frac_bits + 2 signed bits a word


def test_auto_picks_the_narrowest_within_target():
    graph = import_model(cell_model("RNN", out_encoding=None, float_weights=True, quantize_x=False))
    qdq, report = quantize_graph(graph, {"x": cell_input(0, seed=5)}, QuantConfig())
    cell = report["cell_format"]
    errors = {int(k): v for k, v in cell["calibration_errors"].items()}
    assert cell["auto"] and list(errors) == list(CELL_BITS)[:len(errors)] and cell["cell_bits"] == max(errors)
    assert all(e > CELL_ERROR_TARGET for e in list(errors.values())[:-1])
    assert errors[cell["cell_bits"]] <= CELL_ERROR_TARGET or cell["cell_bits"] == 12
    assert _cell(lower_model(qdq)).attr("frac_bits") == cell["cell_bits"]


def test_models_without_cells_get_no_entry():
    w = numpy_helper.from_array(np.random.default_rng(0).normal(size=(4, 3)).astype(np.float32), "w")
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 4])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 3])
    graph = import_model(make_model([helper.make_node("MatMul", ["x", "w"], ["y"])], [x], [y], [w]))
    qdq, report = quantize_graph(graph, {"x": np.random.default_rng(1).normal(size=(16, 4)).astype(np.float32)}, QuantConfig())
    assert "cell_format" not in report and not [p for p in qdq.metadata_props if p.key == CELL_FORMAT_METADATA_KEY]


@pytest.mark.parametrize("value", ["7", "13", "wide", "9.5", "-1"])
def test_invalid_cell_bits_is_a_one_line_usage_error(float_rnn, tmp_path, capsys, value):
    model, calib = float_rnn
    out = tmp_path / "q.onnx"
    assert main(["quantize", str(model), "--calib", str(calib), "-o", str(out), "--cell-bits", value]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "cell bits must be 'auto' or in 8..12, not " in err and not out.exists()


@pytest.mark.parametrize("value", [True, 12.0, "12", None])
def test_quant_config_rejects_non_integer_cell_bits(value):
    with pytest.raises(QuantizationError, match="cell bits must be 'auto' or in 8..12"):
        QuantConfig(cell_bits=value).validate()


def test_cli_reports_the_choice(float_rnn, tmp_path, capsys):
    model, calib = float_rnn
    assert main(["quantize", str(model), "--calib", str(calib), "-o", str(tmp_path / "q.onnx"), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["config"]["cell_bits"] == "auto" and report["cell_format"]["cell_bits"] in CELL_BITS
    assert main(["quantize", str(model), "--calib", str(calib), "-o", str(tmp_path / "q.onnx"), "--force",
                 "--cell-bits", "11"]) == 0
    assert "recurrent cells: 11-bit gate table indices (given)" in capsys.readouterr().out


@pytest.mark.parametrize("value", ["[1, 2]", "{}", '{"frac_bits": 12}', "not json",
                                   json.dumps({**json.loads(ladder(12).to_json()), "cell_frac": 8})])
def test_malformed_metadata_is_a_model_error_naming_the_file(value):
    model = calibrated("RNN")
    model.metadata_props.add(key=CELL_FORMAT_METADATA_KEY, value=value)
    with pytest.raises(ModelError, match=r"^cell\.onnx: metadata 'hwaccel.cell_format' must "):
        lower_model(model, "cell.onnx")


def test_format_json_round_trip():
    fmt = CellFormat(frac_bits=17, sigmoid_bits=16, sigmoid_frac=11, tanh_bits=18, tanh_frac=14, cell_frac=20)
    assert CellFormat.from_json(fmt.to_json()) == fmt
