"""Recurrent unit cases: random LSTM / GRU / RNN layers lowered from QDQ models, the golden cell's output."""

from __future__ import annotations

import random
from dataclasses import replace

import cocotb
import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from hwaccel.fixedpoint import choose_qparams
from hwaccel.frontend.qdq import lower_model
from hwaccel.golden.fixed_ops.recurrent import recurrent
from hwaccel.ir.graph import Graph, Node
from hwaccel.passes.lower_recurrent import recurrent_params
from hwaccel.sim.harness import Port, UnitCase, run_cocotb
from hwaccel.units import RecurrentParams

__all__ = ["cell_graph", "golden_beats", "recurrent_case"]

GATES = {"LSTM": 4, "GRU": 3, "RNN": 1}
OUTPUTS = ("Y", "Y_h", "Y_c")


def cell_graph(op: str, seq: int, inputs: int, hidden: int, *, direction: str = "forward", output: int = 0, seed: int = 0,
               attrs: dict | None = None) -> tuple[Graph, Node]:
    """A QDQ model DQ(x) -> cell(DQ(W), DQ(R), B) -> Q of a random cell, lowered: the graph and its cell node."""
    rng = np.random.default_rng(seed)
    dirs = 2 if direction == "bidirectional" else 1
    rows = GATES[op] * hidden
    inits: dict[str, np.ndarray] = {"x.scale": np.array(3.5 / 255, np.float32), "x.zp": np.array(rng.integers(0, 256), np.uint8),
                                    "B": rng.normal(0, 0.6, (dirs, 2 * rows)).astype(np.float32)}
    nodes = [helper.make_node("QuantizeLinear", ["x", "x.scale", "x.zp"], ["x.q"]),
             helper.make_node("DequantizeLinear", ["x.q", "x.scale", "x.zp"], ["x.dq"])]
    for name, k in (("W", inputs), ("R", hidden)):
        value = rng.normal(0, 1.6 / np.sqrt(k), (dirs, rows, k))
        scale = (np.abs(value).max(axis=(0, 2)) / 127).astype(np.float32)
        inits.update({f"{name}.q": np.clip(np.rint(value / scale[None, :, None]), -127, 127).astype(np.int8),
                      f"{name}.scale": scale, f"{name}.zp": np.zeros(rows, np.int8)})
        nodes.append(helper.make_node("DequantizeLinear", [f"{name}.q", f"{name}.scale", f"{name}.zp"], [name], axis=1))
    outs = [f"cell.{n}" for n in OUTPUTS[:2 + (op == "LSTM")]]
    nodes.append(helper.make_node(op, ["x.dq", "W", "R", "B"], outs, hidden_size=hidden, direction=direction, **(attrs or {})))
    scale, zp = choose_qparams(-0.8, 0.9 if output < 2 else 1.7, 8, True)
    inits.update({"y.scale": np.array(scale, np.float32), "y.zp": np.array(zp, np.int8)})
    nodes += [helper.make_node("QuantizeLinear", [outs[output], "y.scale", "y.zp"], ["y.q"]),
              helper.make_node("DequantizeLinear", ["y.q", "y.scale", "y.zp"], ["y"])]
    shape = [seq, dirs, "N", hidden] if output == 0 else [dirs, "N", hidden]
    graph = helper.make_graph(nodes, "cell", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [seq, "N", inputs])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, shape)],
                              [numpy_helper.from_array(v, k) for k, v in inits.items()])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 21)])
    model.ir_version = 10
    onnx.checker.check_model(model)
    lowered = lower_model(model)
    node = next(n for n in lowered.nodes if n.op in ("QLSTM", "QGRU", "QRNN"))
    return lowered, node


def golden_beats(graph: Graph, node: Node, params: RecurrentParams, x: np.ndarray) -> list[list[int]]:
    """The unit's output beats for codes ``x`` ``(seq, batch, inputs)``: each sequence's output in turn."""
    consts = [graph.initializers.get(n) if n else None for n in node.inputs[1:]]
    y = recurrent(node, [x] + consts)
    codes = []
    for b in range(x.shape[1]):
        value = y[list(params.steps or range(params.seq)), :, b, :] if params.output == "Y" else y[:, b, :]
        codes += [int(v) for v in value.reshape(-1)]
    return [codes[k:k + params.lanes] for k in range(0, len(codes), params.lanes)]


def recurrent_case(seed: int) -> tuple[RecurrentParams, UnitCase]:
    """A random cell (kind, direction, output, sizes, folding) and ``1..2`` random sequences."""
    rnd = random.Random(seed)
    op = rnd.choice(["LSTM", "GRU", "RNN"])
    direction = rnd.choice(["forward", "reverse", "bidirectional"])
    output = rnd.choice([0, 1, 2] if op == "LSTM" else [0, 1])
    seq, inputs, hidden = rnd.randint(1, 4), rnd.choice([1, 2, 3, 4, 6]), rnd.randint(1, 7)
    attrs = {"linear_before_reset": rnd.randint(0, 1)} if op == "GRU" else {}
    graph, node = cell_graph(op, seq, inputs, hidden, direction=direction, output=output, seed=seed, attrs=attrs)
    simd = rnd.choice([d for d in range(1, inputs + 1) if inputs % d == 0])
    pe = rnd.randint(1, 5)
    lanes = rnd.choice([d for d in range(1, hidden + 1) if hidden % d == 0])
    params = recurrent_params(graph, node, seq, simd=simd, pe=pe, lanes=lanes)
    if output == 0 and rnd.random() < 0.3:  # a Gather of some time steps after the cell
        params = replace(params, steps=tuple(rnd.sample(range(seq), rnd.randint(1, seq))))
    batch = rnd.randint(1, 2)
    x = np.random.default_rng(seed).integers(0, 256, (seq, batch, inputs))
    beats_in = [[int(v) for v in x[:, b, :].reshape(-1)[k:k + simd]] for b in range(batch) for k in range(0, seq * inputs, simd)]
    case = UnitCase(f"{op.lower()}_{direction}_{OUTPUTS[output]}_s{seq}i{inputs}h{hidden}_{simd}x{pe}",
                    {"i": Port(8, simd, False, beats_in)},
                    {"o": Port(params.out_bits, lanes, params.out_signed, golden_beats(graph, node, params, x))},
                    params.first_output_cycles, params.total_cycles(batch))
    return params, case


@cocotb.test()
async def recurrent_bench(dut: object) -> None:
    """Every case of the case file, no-stall and random-stall runs."""
    await run_cocotb(dut)
