"""The op table (hwaccel/ir/ops.py) walked row by row.

(a) Every row has the kernels its kind needs, every row placed on hardware has a stage builder,
every host row has a reason that ``hwaccel info`` prints. (b) ``info`` and ``compile`` agree: on
the zoo and on generated LSTM / GRU / RNN / bidirectional LSTM models, a node info
places on chip never runs on the host of the compiled build, and a node compile refuses is labelled
host by info with the reason compile gives. (c) Every op placed on hardware compiles and verifies
bit-exact and cycle-equal (amaranth.sim) on a small generated model containing it.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper
from onnx.reference import ReferenceEvaluator

import hwaccel.golden.fixed  # noqa: F401  (registers the float and golden kernels)
import hwaccel.passes.lower_qdq  # noqa: F401  (registers the lowering rules)
import hwaccel.passes.lower_stages  # noqa: F401  (registers the stage builders)
from hwaccel.cli import main
from hwaccel.errors import CompileError
from hwaccel.frontend import load_model
from hwaccel.frontend.onnx_import import import_model
from hwaccel.frontend.qdq import QUANTIZED_OPS, lower_model
from hwaccel.frontend.quantize import QuantConfig, quantize_graph
from hwaccel.ir.graph import Graph, Node, TensorInfo
from hwaccel.ir.ops import FIXED_DOMAIN, FIXED_OPS, OPS, ROWS, OpRow
from hwaccel.passes.to_dataflow import to_dataflow
from hwaccel.summary import format_summary, summarize

from zoo_data import MODELS, calibration

ZOO = sorted(p.stem for p in MODELS.glob("*.onnx"))
REFUSED = re.compile(r"node '(?P<node>[^']+)' \((?P<op>\w+)\) cannot be compiled: (?P<why>.+)$")


def _hardware(row: OpRow) -> bool:
    return row.where.where == "hardware"


# -- (a) the rows --------------------------------------------------------------------------------

@pytest.mark.parametrize("op", sorted(ROWS))
def test_row_has_the_kernels_its_kind_needs(op: str) -> None:
    row = ROWS[op]
    if row.domain == FIXED_DOMAIN:
        assert row.kernel("golden") is not None, f"{op}: a fixed-point op needs a golden kernel"
        # the engines run the golden kernel where they have no faster one of their own
    elif op in QUANTIZED_OPS:
        assert row.kernel("golden") is not None or row.kernel("lower") is not None, f"{op}: needs a golden kernel or a lowering"
    else:
        assert row.kernel("float") is not None, f"{op}: an ONNX op needs a float kernel"
    for target in row.lowers_to:
        assert target in FIXED_OPS, f"{op} lowers to {target}, which must be a fixed-point row"
    if row.lowers_to:
        assert row.kernel("lower") is not None, f"{op}: lowers to {row.lowers_to} but registers no lowering rule"
    if _hardware(row):
        assert row.where.unit, f"{op}: a hardware placement names its unit"
        if row.domain == FIXED_DOMAIN:
            assert row.kernel("stage") is not None, f"{op} is placed on hardware but has no stage builder"
    elif row.where.where == "host":
        assert row.where.reason.strip(), f"{op}: a host placement needs a reason"
        assert row.kernel("stage") is None, f"{op} has a stage builder but is placed on the host"


def test_op_names_are_unique_across_domains() -> None:
    assert not set(OPS) & set(FIXED_OPS)
    assert all(row.domain == FIXED_DOMAIN for row in FIXED_OPS.values()) and not any(row.domain for row in OPS.values())


def _one_node_graph(row: OpRow) -> Graph:
    node = Node(f"the_{row.op}", row.op, ("x", "a", "b", "c"), ("y",), {}, row.domain)  # a, b, c: shapes unknown
    return Graph("g", (node,), (TensorInfo("x", ("N", 4, 4)),), (TensorInfo("y", ("N", 4, 4)),))


@pytest.mark.parametrize("op", sorted(op for op, row in ROWS.items() if row.where.where == "host"))
def test_info_prints_the_reason_of_every_host_row(op: str) -> None:
    row = ROWS[op]
    summary = summarize(_one_node_graph(row))
    assert summary.layers[0].placement == "host" and summary.layers[0].reason == row.where.reason
    text = format_summary(summary, "m.onnx")
    assert row.where.reason in text and op in summary.to_dict()["totals"]["host_ops"]


# -- generated models ----------------------------------------------------------------------------

def _w(rng: np.random.Generator, name: str, *shape: int, scale: float = 0.5) -> onnx.TensorProto:
    return numpy_helper.from_array((rng.standard_normal(shape) * scale).astype(np.float32), name)


def _model(nodes: list, shape: tuple[int, ...], inits: list, name: str, out: tuple[int, ...] | None = None) -> onnx.ModelProto:
    """A model of ``nodes`` from ``input`` (N, *shape) to ``output`` (N, *out; default: found by running it)."""
    def make(out_shape: list | None) -> onnx.ModelProto:
        graph = helper.make_graph(nodes, name, [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", *shape])],
                                  [helper.make_tensor_value_info("output", TensorProto.FLOAT, out_shape)], inits)
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
        model.ir_version = 8
        return model

    if out is None:
        out = ReferenceEvaluator(make(None)).run(None, {"input": np.zeros((1, *shape), np.float32)})[0].shape[1:]
    return make(["N", *out])


def _conv(rng, x: str, y: str, cin: int, cout: int, name: str, **attrs) -> tuple[onnx.NodeProto, list]:
    attrs = {"kernel_shape": [3, 3], "pads": [1, 1, 1, 1], **attrs}
    k = attrs["kernel_shape"]
    return (helper.make_node("Conv", [x, f"{name}.w", f"{name}.b"], [y], name=name, **attrs),
            [_w(rng, f"{name}.w", cout, cin, *k), _w(rng, f"{name}.b", cout, scale=0.1)])


def _image_case(op: str, rng: np.random.Generator) -> onnx.ModelProto:
    """A conv front end (channels-last stream) followed by ``op`` on (N, 4, 6, 6)."""
    front, inits = _conv(rng, "input", "output" if op == "Conv" else "c", 2, 4, "conv")
    nodes = [front]
    if op == "Conv":
        pass
    elif op in ("MaxPool", "AveragePool"):
        nodes.append(helper.make_node(op, ["c"], ["output"], name=op.lower(), kernel_shape=[2, 2], strides=[2, 2]))
    elif op in ("GlobalAveragePool", "GlobalMaxPool"):
        nodes.append(helper.make_node(op, ["c"], ["output"], name=op.lower()))
    elif op in ("Add", "Sub", "Concat"):
        other, more = _conv(rng, "input", "d", 2, 4, "conv2")
        nodes.append(other)
        inits += more
        nodes.append(helper.make_node(op, ["c", "d"], ["output"], name=op.lower(), **({"axis": 1} if op == "Concat" else {})))
    elif op == "ConvTranspose":  # kernel 3, stride 2: zero taps in the polyphase form, an output_padding crop
        nodes.append(helper.make_node(op, ["c", "t.w", "t.b"], ["output"], name="deconv", kernel_shape=[3, 3],
                                      strides=[2, 2], pads=[1, 1, 1, 1], output_padding=[1, 1]))
        inits += [_w(rng, "t.w", 4, 2, 3, 3), _w(rng, "t.b", 2, scale=0.1)]
    elif op == "Resize":
        scales = numpy_helper.from_array(np.array([1, 1, 2, 3], np.float32), "scales")
        nodes.append(helper.make_node(op, ["c", "", "scales"], ["output"], name="resize", mode="nearest"))
        inits.append(scales)
    elif op == "Pad":
        pads = numpy_helper.from_array(np.array([0, 0, 1, 1, 0, 0, 1, 1], np.int64), "pads")
        nodes = [helper.make_node("Pad", ["input", "pads"], ["p"], name="pad")]
        conv, inits = _conv(rng, "p", "output", 2, 4, "conv", pads=[0, 0, 0, 0])
        nodes.append(conv)
        inits.append(pads)
    else:  # a pointwise function after the conv (fused into its requant or a table)
        nodes.append(helper.make_node(op, ["c"], ["output"], name=op.lower()))
    return _model(nodes, (2, 6, 6), inits, f"case_{op}")


def _vector_case(op: str, rng: np.random.Generator) -> onnx.ModelProto:
    """``op`` on (N, 12) vectors (a dense layer, or a dense layer then a pointwise function)."""
    if op == "MatMul":
        return _model([helper.make_node("MatMul", ["input", "w"], ["output"], name="matmul")], (12,), [_w(rng, "w", 12, 6)],
                      "case_MatMul")
    gemm = helper.make_node("Gemm", ["input", "w", "b"], ["g" if op != "Gemm" else "output"], name="gemm", transB=1)
    nodes = [gemm] + ([] if op == "Gemm" else [helper.make_node(op, ["g"], ["output"], name=op.lower())])
    return _model(nodes, (12,), [_w(rng, "w", 6, 12), _w(rng, "b", 6, scale=0.1)], f"case_{op}")


IMAGE_OPS = ("Conv", "MaxPool", "AveragePool", "GlobalAveragePool", "GlobalMaxPool", "Add", "Sub", "Concat", "Relu", "Pad",
             "ConvTranspose", "Resize")
VECTOR_OPS = ("Gemm", "MatMul", "Clip", "LeakyRelu", "Sigmoid", "HardSigmoid", "Tanh")
SEQUENCE_OPS = ("LSTM", "GRU", "RNN")  # (N, 7 steps, 5 features) -> Y_h
#: ONNX ops placed on hardware that hwaccel's quantizer never writes (QOperator / integer formats):
#: they lower to the same fixed-point ops as Conv and MatMul, covered by those cases; Upsample left
#: the ONNX opsets (10) before the cases' 17: it is Resize's stage, covered by that case
NOT_GENERATED = {"QLinearConv", "QLinearMatMul", "Upsample", "Sum"}  # Sum: expanded into Adds at import (the Add case)


def hardware_case(op: str) -> tuple[onnx.ModelProto, np.ndarray, np.ndarray]:
    """A float model containing ``op``, calibration data and test inputs."""
    rng = np.random.default_rng(sorted(ROWS).index(op))
    if op in SEQUENCE_OPS:
        model = _recurrent(op, rng)
    else:
        model = _image_case(op, rng) if op in IMAGE_OPS else _vector_case(op, rng)
    shape = tuple(d.dim_value for d in model.graph.input[0].type.tensor_type.shape.dim[1:])
    return model, rng.uniform(-1, 1, (64,) + shape).astype(np.float32), rng.uniform(-1, 1, (3,) + shape).astype(np.float32)


def requant_qdq() -> tuple[onnx.ModelProto, np.ndarray]:
    """QRequant, which hwaccel's quantizer never needs (its pools and movers keep the encoding): a
    QDQ model whose max pool changes encoding lowers to QMaxPool + QRequant. Model and test inputs."""
    inits = [numpy_helper.from_array(np.array(s, np.float32), n) for n, s in (("s1", 0.02), ("s2", 0.05))]
    inits += [numpy_helper.from_array(np.array(z, np.uint8), n) for n, z in (("z1", 100), ("z2", 30))]
    nodes = [helper.make_node("QuantizeLinear", ["input", "s1", "z1"], ["q1"], name="q1"),
             helper.make_node("DequantizeLinear", ["q1", "s1", "z1"], ["d1"], name="d1"),
             helper.make_node("MaxPool", ["d1"], ["m"], name="maxpool", kernel_shape=[2, 2], strides=[2, 2]),
             helper.make_node("QuantizeLinear", ["m", "s2", "z2"], ["q2"], name="q2"),
             helper.make_node("DequantizeLinear", ["q2", "s2", "z2"], ["output"], name="d2")]
    x = np.random.default_rng(3).uniform(-2, 6, (3, 3, 6, 4)).astype(np.float32)
    return _model(nodes, (3, 6, 4), inits, "requant", (3, 3, 2)), x


def _recurrent(op: str, rng: np.random.Generator, bidirectional: bool = False) -> onnx.ModelProto:
    gates, hidden, features, dirs = {"LSTM": 4, "GRU": 3, "RNN": 1}[op], 6, 5, 2 if bidirectional else 1
    inits = [_w(rng, "W", dirs, gates * hidden, features), _w(rng, "R", dirs, gates * hidden, hidden),
             _w(rng, "B", dirs, 2 * gates * hidden, scale=0.1)]
    cell = helper.make_node(op, ["input", "W", "R", "B"], ["", "output"], name=op.lower(), hidden_size=hidden, layout=1,
                            direction="bidirectional" if bidirectional else "forward")
    return _model([cell], (7, features), inits, f"gen_{op}")


GENERATED = {
    "lstm": lambda rng: _recurrent("LSTM", rng), "gru": lambda rng: _recurrent("GRU", rng),
    "rnn": lambda rng: _recurrent("RNN", rng), "bilstm": lambda rng: _recurrent("LSTM", rng, bidirectional=True),
}


# -- (b) info and compile agree ------------------------------------------------------------------

def assert_info_agrees_with_compile(float_graph: Graph, calib: np.ndarray) -> str:
    """Quantize and compile ``float_graph``; check every layer's info placement against the build.
    Returns "compiled" or the refused op."""
    info = {layer.name: layer for layer in summarize(float_graph).layers}
    qdq, _ = quantize_graph(float_graph, {float_graph.inputs[0].name: calib}, QuantConfig())
    try:
        df = to_dataflow(lower_model(qdq), fifos=False)
    except CompileError as exc:
        found = REFUSED.search(str(exc))
        assert found, f"compile refused the model without naming a node placed on the host: {exc}"
        layer = info.get(found["node"])
        assert layer is not None, f"compile refused {found['node']!r}, which info does not list"
        assert layer.placement == "host", f"{found['node']} ({layer.op}): compile refuses it, info says {layer.placement}"
        assert layer.reason == found["why"], f"info's reason {layer.reason!r} differs from compile's {found['why']!r}"
        return found["op"]
    on_host = {n.name for n in df.host_pre + df.host_post}
    for name, layer in info.items():
        if layer.placement != "host":
            assert name not in on_host, f"{name} ({layer.op}): info says {layer.placement}, the build runs it on the host"
        elif name in on_host or layer.op in ("QuantizeLinear", "DequantizeLinear"):
            continue
        else:  # a host op inside the hardware would have been refused
            pytest.fail(f"{name} ({layer.op}): info says host ({layer.reason}), but the build has it on chip")
    return "compiled"


@pytest.mark.parametrize("name", ZOO)
def test_info_and_compile_agree_on_the_zoo(name: str) -> None:
    if name == "generator":
        latents = np.load(MODELS / "generator_latents.npz")
        calib = latents[latents.files[0]]
    else:
        calib = calibration(name)
    outcome = assert_info_agrees_with_compile(load_model(MODELS / f"{name}.onnx"), calib)
    assert outcome == "compiled"


@pytest.mark.parametrize("name", sorted(GENERATED))
def test_info_and_compile_agree_on_recurrent_cells(name: str) -> None:
    rng = np.random.default_rng(3)
    model = GENERATED[name](rng)
    graph = import_model(model, name)
    shape = tuple(d.dim_value for d in model.graph.input[0].type.tensor_type.shape.dim[1:])
    assert assert_info_agrees_with_compile(graph, rng.uniform(-1, 1, (32,) + shape).astype(np.float32)) == "compiled"
    summary = format_summary(summarize(graph), name)
    assert "hardware" in summary and "no hardware unit" not in summary


@pytest.mark.parametrize("op", IMAGE_OPS + VECTOR_OPS + SEQUENCE_OPS)
def test_info_and_compile_agree_on_every_hardware_case(op: str) -> None:
    model, calib, _ = hardware_case(op)
    assert assert_info_agrees_with_compile(import_model(model, op), calib) == "compiled"


# -- (c) every op placed on hardware verifies ----------------------------------------------------

def test_every_op_placed_on_hardware_has_a_case() -> None:
    """The generated cases cover every ONNX op placed on hardware, and lower to every fixed-point op
    placed on hardware."""
    onnx_hw = {op for op, row in OPS.items() if _hardware(row)}
    cases = set(IMAGE_OPS + VECTOR_OPS + SEQUENCE_OPS)
    assert onnx_hw - NOT_GENERATED <= cases, f"no generated case for {sorted(onnx_hw - cases)}"
    lowered = set()
    for op in IMAGE_OPS + VECTOR_OPS + SEQUENCE_OPS:
        model, calib, _ = hardware_case(op)
        graph = import_model(model, op)
        qdq, _ = quantize_graph(graph, {"input": calib}, QuantConfig())
        lowered |= {n.op for n in lower_model(qdq).nodes if n.domain == FIXED_DOMAIN}
    lowered |= {n.op for n in lower_model(requant_qdq()[0]).nodes if n.domain == FIXED_DOMAIN}
    fixed_hw = {op for op, row in FIXED_OPS.items() if _hardware(row)}
    assert fixed_hw <= lowered, f"no generated case lowers to {sorted(fixed_hw - lowered)}"


@pytest.mark.slow
@pytest.mark.parametrize("op", IMAGE_OPS + VECTOR_OPS + SEQUENCE_OPS + ("QRequant",))
def test_hardware_op_compiles_and_verifies(tmp_path: Path, capsys, op: str) -> None:
    """``hwaccel compile`` then ``hwaccel verify --simulator amaranth``: bit-exact, cycles equal."""
    if op == "QRequant":
        (model, inputs), calib = requant_qdq(), None
    else:
        model, calib, inputs = hardware_case(op)
        np.save(tmp_path / "calib.npy", calib)
    onnx.save(model, tmp_path / "m.onnx")
    np.save(tmp_path / "inputs.npy", inputs)
    build = tmp_path / "build"
    quantize = [] if calib is None else ["--calib", str(tmp_path / "calib.npy")]
    assert main(["compile", str(tmp_path / "m.onnx"), *quantize, "-o", str(build)]) == 0
    capsys.readouterr()
    code = main(["verify", str(build), "-i", str(tmp_path / "inputs.npy"), "--simulator", "amaranth", "--json"])
    report = json.loads(capsys.readouterr().out)
    assert code == 0 and report["bit_exact"] and report["cycles_match"], report
