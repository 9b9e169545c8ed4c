"""The dataflow description: port layouts by hand, stage checks, JSON round trip."""

from __future__ import annotations

import json

import numpy as np
import pytest

from hwaccel.errors import CompileError
from hwaccel.units import MatVecParams, RequantParams, WindowParams
from hwaccel.units.dataflow import (INPUT, Encoding, Port, Stage, dataflow_from_dict, dataflow_to_dict, params_from_dict,
                                 params_to_dict)
from hwaccel.passes.to_dataflow import to_dataflow

from dataflow_cases import zoo_fixed

ENC = Encoding(8, True, -3, 0.5)


def test_channels_last_port_by_hand():
    port = Port("x", (2, 3, 4), ENC, 2, ((4, 2, 3), (1, 2, 0)), (4, 2, 3))
    x = np.arange(2 * 24).reshape(2, 4, 2, 3)  # (N, C, H, W)
    beats = port.to_stream(x)
    assert beats.shape == (2, 12, 2)
    # beat 0: pixel (0, 0), channels 0-1; beat 1: channels 2-3; beat 2: pixel (0, 1) channels 0-1
    assert beats[0, 0].tolist() == [x[0, 0, 0, 0], x[0, 1, 0, 0]]
    assert beats[0, 1].tolist() == [x[0, 2, 0, 0], x[0, 3, 0, 0]]
    assert beats[1, 2].tolist() == [x[1, 0, 0, 1], x[1, 1, 0, 1]]
    np.testing.assert_array_equal(port.from_stream(beats), x)


def test_stage_checks_lanes_and_names():
    window = WindowParams(4, 3, 3, 3, 3, simd=2)
    mv = MatVecParams(36, 2, np.ones((2, 36), np.int64), pe=2, simd=4)
    with pytest.raises(CompileError, match="conv: lanes of MatVecParams must be 2, not 4"):
        Stage("conv", "conv", (window, mv), (INPUT,), (1, 1, 2), ENC)
    with pytest.raises(CompileError, match="stage kind must be one of"):
        Stage("s", "lstm", (window,), (INPUT,), (1, 1, 2), ENC)
    with pytest.raises(CompileError, match="stage name must be an ASCII identifier, not 'a b'"):
        Stage("a b", "conv", (window,), (INPUT,), (1, 1, 2), ENC)


def test_params_round_trip_through_json():
    rq = RequantParams(20, 8, True, (3, 5), (4, 6), -1, -128, 127, channels=2, lut=tuple(range(-128, 128)), lut_qmin=-128, lanes=2)
    again = params_from_dict(json.loads(json.dumps(params_to_dict(rq))))
    assert again == rq


@pytest.mark.parametrize("name", ["resnet", "mlp"])
def test_dataflow_round_trip_through_json(name):
    df = to_dataflow(zoo_fixed(name), fifos=False)
    text = json.dumps(dataflow_to_dict(df), sort_keys=True)
    again = dataflow_from_dict(json.loads(text))
    assert json.dumps(dataflow_to_dict(again), sort_keys=True) == text
    assert again.stages == df.stages and again.edges == df.edges and again.input == df.input


def test_dataflow_from_dict_rejects_a_broken_manifest():
    with pytest.raises(CompileError, match="dataflow description must have the manifest's fields"):
        dataflow_from_dict({"name": "x"})
