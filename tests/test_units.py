"""The units layer: operand rules equal Amaranth's, the registry, the shared interface, no Amaranth."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import replace
from fractions import Fraction

import pytest
from amaranth.hdl import Const, Mux, Shape, Signal

from hwaccel.errors import CompileError
from hwaccel.units import (UNITS, EltwiseAddParams, EltwiseConcatParams, FifoParams, MatVecParams, PoolParams,
                           RegroupParams, RequantParams, WindowParams, mul_blocks, unit_class)
from hwaccel.units.common import Operand, add, const, mul, span, sub, unify
from sim.bench_recurrent import recurrent_case
from hwaccel.units.registry import params_from_dict, params_to_dict
from hwaccel.units.requant import chunk_layout, constant_chunks


def _op(shape: Shape) -> Operand:
    return Operand(shape.width, shape.signed)


CONSTS = [0, 1, 2, 3, 7, 8, 255, 256, -1, -2, -3, -128, -129, 1 << 20, -(1 << 33) + 5]
OPERANDS = [Shape(w, s) for w in (1, 2, 5, 8, 17, 18, 33) for s in (False, True)]


def test_operand_rules_are_amaranths():
    for c in CONSTS:
        assert const(c) == _op(Const(c).shape()), c
    for a in OPERANDS:
        x = Signal(a)
        for c in CONSTS:
            assert sub(_op(a), const(c)) == _op((x - c).shape()), (a, c)
            assert mul(_op(a), const(c)) == _op((x * c).shape()), (a, c)
        for b in OPERANDS:
            y = Signal(b)
            assert add(_op(a), _op(b)) == _op((x + y).shape())
            assert unify(_op(a), _op(b)) == _op(Mux(Signal(), x, y).shape())
    for values in ([0], [5], [-1], [3, -9], [1 << 40], [-(1 << 40), 7]):
        lo, hi = min(values + [0]), max(values + [0])
        want = Shape.cast(range(lo, hi + 1)) if lo < 0 else Shape(max(hi.bit_length(), 1), False)
        assert span(values) == _op(want), values


def test_chunks_split_wide_operands_into_18x18_pieces():
    assert chunk_layout(Operand(18, True)) == [(0, Operand(18, True))]
    assert chunk_layout(Operand(40, True)) == [(0, Operand(17, False)), (17, Operand(17, False)), (34, Operand(6, True))]
    for value in (0, 1, -1, 12345, -(1 << 30) - 3, (1 << 40) + 99):
        assert sum(chunk << offset for chunk, offset in constant_chunks(value)) == value


def test_mul_blocks_by_hand():
    assert mul_blocks(Operand(9, True), Operand(8, True)) == 1
    assert mul_blocks(Operand(18, False), Operand(8, True)) == 2  # the unsigned operand gains a sign bit
    assert mul_blocks(Operand(30, True), 4) == 0 and mul_blocks(Operand(30, True), 0) == 0  # a shift, nothing
    assert mul_blocks(Operand(30, True), 3) == 2
    assert mul_blocks(Operand(1, False), Operand(1, False)) == 0  # kept in logic


def _examples() -> list:
    rq = RequantParams(20, 8, True, (3, 5), (4, 6), 0, -128, 127, channels=2, lanes=2)
    avg = PoolParams("avg", 4, 8, False, 2, 0, RequantParams(12, 8, False, (3,), (2,), 0, 0, 255, channels=2, lanes=2), lanes=2)
    add_rq = RequantParams(20, 8, True, (1,), (3,), 0, -128, 127, channels=2, lanes=2)
    return [WindowParams(2, 4, 4, 3, 3, simd=2), MatVecParams(4, 2, [[1, 0, 2, 0], [0, 0, 3, 1]], pe=2, simd=2),
            rq, avg, PoolParams("max", 4, 8, True, 2, lanes=2),
            EltwiseAddParams(8, True, 0, 3, 8, True, 1, 5, add_rq, lanes=2),
            EltwiseConcatParams(2, 4, 8, True, 8, True, 8, True, lanes=2), FifoParams(4, 2), RegroupParams(8, 2, 3),
            recurrent_case(3)[0], recurrent_case(20)[0],  # a bidirectional LSTM (Y_c), an RNN keeping some steps
            replace(avg, class_multipliers=((3,), (5,)), class_shifts=((2,), (4,)), pixel_classes=(1, 0, 0, 1))]


def test_the_registry_names_every_unit_and_round_trips_it():
    assert sorted(UNITS) == ["add", "concat", "depth_to_space", "depthwise", "fifo", "matvec", "pool", "recurrent", "regroup",
                             "requant", "upsample", "window"]
    assert unit_class("matvec") is unit_class("MatVecParams") is MatVecParams
    with pytest.raises(CompileError, match="unit type must be one of .*, not 'lstm'"):
        unit_class("lstm")
    assert recurrent_case(20)[0].steps
    for p in _examples():
        data = json.loads(json.dumps(params_to_dict(p)))
        assert data["type"] == type(p).__name__
        assert params_from_dict(data) == p


def test_every_unit_answers_the_interface():
    shape = (2, 2, 2)
    for p in _examples():
        assert p.total_cycles(2) - p.total_cycles(1) >= 1 and p.first_output_cycles >= 1
        assert p.image_cycles(shape) >= 1 and p.inputs_per_image(shape) >= 1
        assert isinstance(p.beat_ratio(), Fraction) and p.in_lanes >= 1 and p.out_lanes >= 1
        assert p.dsp_blocks() >= 0 and p.lut_estimate() >= 0 and p.memory_bits() >= 0
        for count in p.asic_counts(shape, 16):
            assert count.op in ("mult", "add", "reg", "mem") and count.uses >= 0
    window, mv, rq, avg, mx, add_unit, concat, fifo, regroup, *_ = _examples()
    assert mv.dsp_blocks() == mv.mac_multipliers() == 3  # lane (0, 1) holds zeros only: no multiplier
    assert (mx.dsp_blocks(), avg.multiplying_lanes(), add_unit.multiplying_lanes()) == (0, 2, 6)
    assert window.memory_bits() == window.buffer_rows * 4 * 2 * 8 and fifo.memory_bits() == 4 * 2 * 8
    assert concat.beat_ratio() == Fraction(3, 1) and avg.beat_ratio() == Fraction(1, 4)
    assert regroup.beat_ratio() == Fraction(3, 4) and regroup.dsp_blocks() == 0


def test_the_units_layer_imports_no_amaranth():
    code = "import sys, hwaccel.units, hwaccel.units.dataflow, hwaccel.perf.model; " \
           "assert not [m for m in sys.modules if m.startswith('amaranth')]"
    subprocess.run([sys.executable, "-c", code], check=True)
