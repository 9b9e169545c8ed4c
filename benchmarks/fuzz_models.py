"""Structure-aware fuzzing of the model front end: mutated small models through the CLI.

Seeds are small valid float models built with ``onnx.helper`` (convolution, dense, grouped and
residual networks) and their QDQ versions written by ``hwaccel quantize``. Each case applies one
or two seeded mutations (dims, attributes, element types, edges, initializer bytes, names, QDQ
scales and zero points, graph structure) and drives ``hwaccel info``, ``run --engine float``,
``run --engine golden``, ``quantize`` and (on a cheap subset) ``compile`` + ``simulate`` in-process
through :func:`hwaccel.cli.main`. A case passes when every command either succeeds or exits 2 with
exactly one stderr line ``hwaccel: error: ...`` that names the model file.

``tests/test_fuzz_models.py`` runs a few hundred cases; this script runs more and writes a JSON
summary::

    python benchmarks/fuzz_models.py --count 1000 --seed 0 -o benchmarks/results/fuzz_models.json
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import sys
import tempfile
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

Mutation = Callable[[onnx.ModelProto, np.random.Generator], str]


def _model(nodes, inputs, outputs, inits, name: str, opset: int = 17) -> onnx.ModelProto:
    graph = helper.make_graph(nodes, name, inputs, outputs, [numpy_helper.from_array(a, n) for n, a in inits.items()])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 8
    return model


def _vi(name: str, shape: list[int], dtype: int = TensorProto.FLOAT) -> onnx.ValueInfoProto:
    return helper.make_tensor_value_info(name, dtype, ["N", *shape[1:]])  # a symbolic batch


def seed_models() -> dict[str, onnx.ModelProto]:
    """Small valid float models covering the op families the fuzzer mutates."""
    rng = np.random.default_rng(1234)

    def w(*shape: int) -> np.ndarray:
        return rng.normal(0, 0.5, size=shape).astype(np.float32)

    cnn = _model(
        [helper.make_node("Conv", ["x", "w1", "b1"], ["c1"], name="conv1", pads=[1, 1, 1, 1], kernel_shape=[3, 3]),
         helper.make_node("Relu", ["c1"], ["r1"], name="relu1"),
         helper.make_node("MaxPool", ["r1"], ["p1"], name="pool1", kernel_shape=[2, 2], strides=[2, 2]),
         helper.make_node("Flatten", ["p1"], ["f"], name="flat", axis=1),
         helper.make_node("Gemm", ["f", "w2", "b2"], ["y"], name="fc", transB=1)],
        [_vi("x", [1, 2, 6, 6])], [_vi("y", [1, 3])],
        {"w1": w(4, 2, 3, 3), "b1": w(4), "w2": w(3, 36), "b2": w(3)}, "cnn")
    mlp = _model(
        [helper.make_node("MatMul", ["x", "w1"], ["m1"], name="mm1"),
         helper.make_node("Add", ["m1", "b1"], ["a1"], name="add1"),
         helper.make_node("Relu", ["a1"], ["r1"], name="relu1"),
         helper.make_node("Gemm", ["r1", "w2", "b2"], ["g"], name="fc2"),
         helper.make_node("Softmax", ["g"], ["y"], name="softmax", axis=-1)],
        [_vi("x", [1, 8])], [_vi("y", [1, 4])],
        {"w1": w(8, 6), "b1": w(6), "w2": w(6, 4), "b2": w(4)}, "mlp")
    dw = _model(
        [helper.make_node("Conv", ["x", "w1"], ["c1"], name="pw", kernel_shape=[1, 1]),
         helper.make_node("Conv", ["c1", "w2", "b2"], ["c2"], name="dw", group=4, pads=[1, 1, 1, 1], kernel_shape=[3, 3]),
         helper.make_node("Add", ["c1", "c2"], ["s"], name="skip"),
         helper.make_node("AveragePool", ["s"], ["p"], name="avg", kernel_shape=[2, 2], strides=[2, 2]),
         helper.make_node("Concat", ["p", "p"], ["cat"], name="cat", axis=1),
         helper.make_node("GlobalAveragePool", ["cat"], ["y"], name="gap")],
        [_vi("x", [1, 3, 4, 4])], [_vi("y", [1, 8, 1, 1])],
        {"w1": w(4, 3, 1, 1), "w2": w(4, 1, 3, 3), "b2": w(4)}, "dw")
    return {"cnn": cnn, "mlp": mlp, "dw": dw}


def seed_inputs(model: onnx.ModelProto, rng: np.random.Generator, batch: int = 1) -> dict[str, np.ndarray]:
    inits = {t.name for t in model.graph.initializer}
    feeds = {}
    for vi in model.graph.input:
        if vi.name in inits:
            continue
        shape = [d.dim_value for d in vi.type.tensor_type.shape.dim]
        feeds[vi.name] = rng.normal(size=[batch, *shape[1:]]).astype(np.float32)
    return feeds


def _pick(rng: np.random.Generator, seq):
    return seq[int(rng.integers(len(seq)))]


BAD_INTS = [0, -1, -2, 1, 2, 3, 7, 64, 1000, 10**9, 2**31 - 1, -(2**31)]
BAD_FLOATS = [0.0, -0.0, -1.0, float("nan"), float("inf"), -float("inf"), 1e-45, 1e-38, 1e38, 3.0e38, 1e-30]


def mut_dim(m: onnx.ModelProto, rng: np.random.Generator) -> str:
    vis = [*m.graph.input, *m.graph.output, *m.graph.value_info]
    vi = _pick(rng, vis)
    dims = vi.type.tensor_type.shape.dim
    if dims:
        dims[int(rng.integers(len(dims)))].dim_value = value = _pick(rng, BAD_INTS)
    return f"dim {vi.name}={value}" if dims else "dim: none"


def mut_rank(m: onnx.ModelProto, rng: np.random.Generator) -> str:
    vi = _pick(rng, [*m.graph.input, *m.graph.output])
    dims = vi.type.tensor_type.shape.dim
    if rng.random() < 0.5 and len(dims):
        del dims[len(dims) - 1]
        return f"rank- {vi.name}"
    dims.add().dim_value = int(_pick(rng, [1, 2, 5]))
    return f"rank+ {vi.name}"


def mut_attr(m: onnx.ModelProto, rng: np.random.Generator) -> str:
    nodes = [n for n in m.graph.node if n.attribute]
    if not nodes:
        return "attr: none"
    node = _pick(rng, nodes)
    attr = _pick(rng, list(node.attribute))
    if attr.type == onnx.AttributeProto.INT:
        attr.i = int(_pick(rng, BAD_INTS))
    elif attr.type == onnx.AttributeProto.INTS and len(attr.ints):
        k = int(rng.integers(len(attr.ints)))
        attr.ints[k] = int(_pick(rng, BAD_INTS))
        if rng.random() < 0.2:
            attr.ints.append(1)
    elif attr.type == onnx.AttributeProto.FLOAT:
        attr.f = float(_pick(rng, BAD_FLOATS))
    else:
        return "attr: other"
    return f"attr {node.name}.{attr.name}"


def mut_add_attr(m: onnx.ModelProto, rng: np.random.Generator) -> str:
    node = _pick(rng, list(m.graph.node))
    name = _pick(rng, ["group", "strides", "dilations", "pads", "kernel_shape", "axis", "transA", "auto_pad"])
    for i, a in enumerate(node.attribute):
        if a.name == name:
            del node.attribute[i]
            break
    if name in ("group", "axis", "transA"):
        node.attribute.append(helper.make_attribute(name, int(_pick(rng, BAD_INTS))))
    elif name == "auto_pad":
        node.attribute.append(helper.make_attribute(name, _pick(rng, ["SAME_UPPER", "VALID", "BOGUS"])))
    else:
        node.attribute.append(helper.make_attribute(name, [int(_pick(rng, BAD_INTS)) for _ in range(int(rng.integers(1, 5)))]))
    return f"add attr {node.name}.{name}"


def mut_dtype(m: onnx.ModelProto, rng: np.random.Generator) -> str:
    types = [TensorProto.DOUBLE, TensorProto.INT8, TensorProto.UINT8, TensorProto.INT32, TensorProto.INT64,
             TensorProto.BOOL, TensorProto.FLOAT16, TensorProto.BFLOAT16, TensorProto.STRING, TensorProto.UNDEFINED,
             TensorProto.COMPLEX64, TensorProto.UINT64]
    new = int(_pick(rng, types))
    if rng.random() < 0.5 and m.graph.initializer:
        t = _pick(rng, list(m.graph.initializer))
        t.data_type = new
        return f"init dtype {t.name}={new}"
    vi = _pick(rng, [*m.graph.input, *m.graph.output])
    vi.type.tensor_type.elem_type = new
    return f"value dtype {vi.name}={new}"


def mut_init_dims(m: onnx.ModelProto, rng: np.random.Generator) -> str:
    if not m.graph.initializer:
        return "init: none"
    t = _pick(rng, list(m.graph.initializer))
    choice = rng.random()
    if choice < 0.4 and len(t.dims):
        k = int(rng.integers(len(t.dims)))
        t.dims[k] = int(_pick(rng, [0, -1, t.dims[k] + 1, max(t.dims[k] - 1, 0), 3, 10**9]))
    elif choice < 0.6:
        t.dims.append(int(_pick(rng, [1, 2, 3])))
    elif choice < 0.8 and len(t.dims):
        del t.dims[len(t.dims) - 1]
    else:
        t.dims[:] = list(reversed(t.dims))
    return f"init dims {t.name}={list(t.dims)}"


def mut_init_bytes(m: onnx.ModelProto, rng: np.random.Generator) -> str:
    if not m.graph.initializer:
        return "init: none"
    t = _pick(rng, list(m.graph.initializer))
    raw, choice = bytearray(numpy_helper.to_array(t).tobytes()), rng.random()
    if choice < 0.3 and raw:
        raw = raw[: int(rng.integers(len(raw)))]
    elif choice < 0.5:
        raw += bytes(int(rng.integers(1, 17)))
    elif raw:
        for _ in range(int(rng.integers(1, 4))):
            raw[int(rng.integers(len(raw)))] = 0xFF
    t.ClearField("float_data")
    t.ClearField("int32_data")
    t.ClearField("int64_data")
    t.raw_data = bytes(raw)
    return f"init bytes {t.name} ({len(raw)} bytes)"


def mut_init_values(m: onnx.ModelProto, rng: np.random.Generator) -> str:
    floats = [t for t in m.graph.initializer if t.data_type == TensorProto.FLOAT]
    if not floats:
        return "init values: none"
    t = _pick(rng, floats)
    arr = numpy_helper.to_array(t).copy()
    if arr.size:
        arr.reshape(-1)[int(rng.integers(arr.size))] = float(_pick(rng, BAD_FLOATS))
    t.CopyFrom(numpy_helper.from_array(arr, t.name))
    return f"init values {t.name}"


def mut_edge(m: onnx.ModelProto, rng: np.random.Generator) -> str:
    nodes = list(m.graph.node)
    node = _pick(rng, nodes)
    names = sorted({*(t.name for t in m.graph.initializer), *(o for n in nodes for o in n.output),
                    *(v.name for v in m.graph.input)})
    choice = rng.random()
    if choice < 0.5 and len(node.input):
        k = int(rng.integers(len(node.input)))
        node.input[k] = _pick(rng, [*names, "", "missing"])
        return f"edge {node.name}.in{k}"
    if choice < 0.65:
        node.input.append(_pick(rng, names))
        return f"edge {node.name}+in"
    if choice < 0.8 and len(node.input):
        del node.input[len(node.input) - 1]
        return f"edge {node.name}-in"
    node.output[0] = _pick(rng, [*names, "fresh"])
    return f"edge {node.name}.out"


def mut_structure(m: onnx.ModelProto, rng: np.random.Generator) -> str:
    g, nodes = m.graph, list(m.graph.node)
    order = [nodes[i] for i in rng.permutation(len(nodes))]
    k = int(rng.integers(len(nodes))) if nodes else 0
    edits: dict[str, Callable[[], object]] = {
        "no outputs": lambda: g.ClearField("output"), "no nodes": lambda: g.ClearField("node"),
        "no inputs": lambda: g.ClearField("input"), f"remove node {k}": lambda: nodes and g.node.remove(nodes[k]),
        f"duplicate node {k}": lambda: nodes and g.node.append(nodes[k]),
        "shuffle nodes": lambda: (g.ClearField("node"), g.node.extend(order)),
        "duplicate output": lambda: g.output.append(g.output[0] if len(g.output) else _vi("y2", [1])),
    }
    what = _pick(rng, sorted(edits))
    edits[what]()
    return what


def _rename_uses(m: onnx.ModelProto, old: str, new: str, after: int = 0) -> None:
    """Readers of ``old`` (nodes from index ``after`` on, graph outputs) read ``new`` instead."""
    for other in list(m.graph.node)[after:]:
        other.input[:] = [new if name == old else name for name in other.input]
    for out in m.graph.output:
        if out.name == old:
            out.name = new


def mut_name(m: onnx.ModelProto, rng: np.random.Generator) -> str:
    bad = _pick(rng, ["\x00", "a\nb", "\x1b[31m", "\u202e", "x" * 5000, "", " ", "\ud800"])
    node = _pick(rng, list(m.graph.node))
    try:
        if rng.random() < 0.5:
            node.name = bad
        else:
            old, node.output[0] = node.output[0], bad
            _rename_uses(m, old, bad)
    except (ValueError, TypeError):
        return "name: not settable"
    return f"name {node.op_type}"


def mut_qdq(m: onnx.ModelProto, rng: np.random.Generator) -> str:
    qdq = [n for n in m.graph.node if n.op_type in ("QuantizeLinear", "DequantizeLinear")]
    if not qdq:
        return "qdq: none"
    node = _pick(rng, qdq)
    inits = {t.name: t for t in m.graph.initializer}
    choice = int(rng.integers(8))
    if choice <= 1 and node.input[1] in inits:  # scale values
        t = inits[node.input[1]]
        arr = numpy_helper.to_array(t).copy()
        if arr.size:
            arr.reshape(-1)[int(rng.integers(arr.size))] = float(_pick(rng, BAD_FLOATS))
        t.CopyFrom(numpy_helper.from_array(arr, t.name))
        return f"qdq scale {t.name}"
    if choice == 2 and len(node.input) > 2 and node.input[2] in inits:  # zero point values / type
        t = inits[node.input[2]]
        arr = numpy_helper.to_array(t).copy()
        if rng.random() < 0.5 and arr.size:
            info = np.iinfo(arr.dtype)
            arr.reshape(-1)[0] = _pick(rng, [info.min, info.max])
            t.CopyFrom(numpy_helper.from_array(arr, t.name))
        else:
            t.CopyFrom(numpy_helper.from_array(arr.astype(_pick(rng, [np.int32, np.int16, np.uint16, np.float32])) + 1000, t.name))
        return f"qdq zero point {t.name}"
    if choice == 3 and node.input[1] in inits:  # per-axis length
        t = inits[node.input[1]]
        arr = numpy_helper.to_array(t)
        n = int(_pick(rng, [2, 3, arr.size + 1, max(arr.size - 1, 1)]))
        t.CopyFrom(numpy_helper.from_array(np.resize(arr.reshape(-1), n).astype(arr.dtype), t.name))
        if len(node.input) > 2 and node.input[2] in inits and rng.random() < 0.5:
            z = inits[node.input[2]]
            za = numpy_helper.to_array(z)
            z.CopyFrom(numpy_helper.from_array(np.resize(za.reshape(-1), n).astype(za.dtype), z.name))
        return f"qdq axis length {t.name}={n}"
    if choice == 4:  # remove the node: its readers take its input directly
        _rename_uses(m, node.output[0], node.input[0])
        m.graph.node.remove(node)
        return f"remove {node.op_type} {node.name}"
    if choice == 5:  # duplicate a Q or DQ in place: X -> Q -> Q or DQ -> DQ
        k, dup = list(m.graph.node).index(node), onnx.NodeProto()
        dup.CopyFrom(node)
        dup.name, dup.input[0], dup.output[0] = node.name + ".dup", node.output[0], node.output[0] + ".dup"
        _rename_uses(m, node.output[0], dup.output[0], after=k + 1)
        m.graph.node.insert(k + 1, dup)
        return f"duplicate {node.op_type} {node.name}"
    for i, a in enumerate(node.attribute):  # the per-axis axis
        if a.name == "axis":
            del node.attribute[i]
            break
    node.attribute.append(helper.make_attribute("axis", int(_pick(rng, [-5, -1, 0, 1, 2, 3, 7]))))
    return f"qdq axis {node.name}"


FLOAT_MUTATIONS: list[Mutation] = [mut_dim, mut_rank, mut_attr, mut_add_attr, mut_dtype, mut_init_dims, mut_init_bytes,
                                   mut_init_values, mut_edge, mut_structure, mut_name]
QDQ_MUTATIONS: list[Mutation] = [*FLOAT_MUTATIONS, mut_qdq, mut_qdq, mut_qdq, mut_qdq]


def mutate(model: onnx.ModelProto, rng: np.random.Generator, mutations: list[Mutation]) -> tuple[bytes, list[str]]:
    """A serialized mutant of ``model`` (one to two mutations, sometimes a byte flip) and what was done."""
    m = onnx.ModelProto()
    m.CopyFrom(model)
    done = []
    for _ in range(1 + int(rng.random() < 0.3)):
        try:
            done.append(_pick(rng, mutations)(m, rng))
        except (ValueError, TypeError, IndexError) as exc:  # the mutation itself was not applicable
            done.append(f"skipped ({type(exc).__name__})")
    data = m.SerializeToString()
    if rng.random() < 0.05:  # non-UTF-8 bytes in a name: only possible in the serialized form
        target = (m.graph.node[0].name if len(m.graph.node) else "").encode()
        if target and target in data:
            data = data.replace(target, b"\xff\xfe" + target[2:], 1)
            done.append("non-UTF-8 name")
    return data, done


@dataclass
class Outcome:
    """What one command did: ``ok`` (exit 0), ``rejected`` (exit 2, one line naming the file) or a failure."""

    command: str
    status: str
    detail: str = ""


@dataclass
class Summary:
    cases: int = 0
    runs: int = 0
    counts: dict[str, int] = field(default_factory=dict)
    failures: list[dict] = field(default_factory=list)
    reasons: dict[str, int] = field(default_factory=dict)

    def add(self, case: int, mutations: list[str], outcome: Outcome) -> None:
        self.runs += 1
        key = f"{outcome.command}:{outcome.status}"
        self.counts[key] = self.counts.get(key, 0) + 1
        if outcome.status == "rejected":
            reason = outcome.detail.split(": ", 3)[-1][:70]  # without "hwaccel: error: FILE: "
            self.reasons[reason] = self.reasons.get(reason, 0) + 1
        if outcome.status not in ("ok", "rejected"):
            self.failures.append({"case": case, "mutations": mutations, "command": outcome.command,
                                  "status": outcome.status, "detail": outcome.detail[-2000:]})

    def to_dict(self) -> dict:
        statuses: dict[str, int] = {}
        for key, n in self.counts.items():
            status = key.split(":", 1)[1]
            statuses[status] = statuses.get(status, 0) + n
        return {"cases": self.cases, "runs": self.runs, "by_status": dict(sorted(statuses.items())),
                "by_command": dict(sorted(self.counts.items())), "failures": self.failures,
                "top_rejections": dict(sorted(self.reasons.items(), key=lambda kv: (-kv[1], kv[0]))[:30])}


def run_cli(argv: list[str], model_file: Path, command: str) -> Outcome:
    """``hwaccel.cli.main(argv)`` in-process, classified."""
    from hwaccel.cli import main

    err, out = io.StringIO(), io.StringIO()
    try:
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
            code = main(argv)
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 2
    except BaseException:  # noqa: BLE001 - a traceback is exactly what we look for
        return Outcome(command, "traceback", traceback.format_exc())
    lines = err.getvalue().splitlines()
    if code == 0:
        return Outcome(command, "ok")
    if code != 2:
        return Outcome(command, f"exit{code}", err.getvalue())
    if len(lines) != 1 or not lines[0].startswith("hwaccel: error: "):
        return Outcome(command, "bad-message", err.getvalue())
    if not any(Path(a).name in lines[0] for a in argv if a.endswith((".onnx", ".npz", ".npy")) or a == str(model_file)):
        return Outcome(command, "unnamed-file", lines[0])  # an input file (data, calibration) named is fine too
    return Outcome(command, "rejected", lines[0])


def run_case(index: int, data: bytes, quantized: bool, inputs: Path, calib: Path, work: Path,
             compile_it: bool) -> list[Outcome]:
    """Every applicable command on one mutant written to ``work``."""
    model = work / f"case{index}.onnx"
    model.write_bytes(data)
    outcomes = [run_cli(["info", str(model)], model, "info"),
                run_cli(["run", str(model), "-i", str(inputs), "--engine", "float"], model, "run-float")]
    if quantized:
        outcomes.append(run_cli(["run", str(model), "-i", str(inputs), "--engine", "golden"], model, "run-golden"))
    else:
        out = work / f"case{index}.qdq.onnx"
        outcomes.append(run_cli(["quantize", str(model), "--calib", str(calib), "-o", str(out), "--force"], model, "quantize"))
        if outcomes[-1].status == "ok":  # what quantize writes must run in golden
            outcomes.append(run_cli(["run", str(out), "-i", str(inputs), "--engine", "golden"], out, "golden-of-quantized"))
            if outcomes[-1].status == "rejected" and outcomes[1].status == "ok":  # inputs the float model takes
                outcomes[-1].status = "quantized-unrunnable"
    if compile_it:
        build = work / f"build{index}"
        args = ["compile", str(model), "-o", str(build), "--force"] + ([] if quantized else ["--calib", str(calib)])
        outcomes.append(run_cli(args, model, "compile"))
        if outcomes[-1].status == "ok":
            outcomes.append(run_cli(["simulate", str(build)], build, "simulate"))
    return outcomes


def prepare(work: Path, seeds: dict[str, onnx.ModelProto] | None = None) -> list[tuple[str, onnx.ModelProto, bool, Path, Path]]:
    """Write every seed's inputs and calibration data, and quantize each float seed: (name, model, quantized, inputs, calib)."""
    from hwaccel import api

    rng = np.random.default_rng(0)
    prepared = []
    for name, model in (seeds or seed_models()).items():
        inputs, calib = work / f"{name}.in.npz", work / f"{name}.calib.npz"
        np.savez(inputs, **seed_inputs(model, rng, batch=2))
        np.savez(calib, **seed_inputs(model, rng, batch=8))
        path = work / f"{name}.onnx"
        onnx.save(model, path)
        qdq_path = work / f"{name}.qdq.onnx"
        api.quantize(path, str(calib), qdq_path, force=True)
        prepared.append((name, model, False, inputs, calib))
        prepared.append((f"{name}.qdq", onnx.load(qdq_path), True, inputs, calib))
    return prepared


def fuzz(count: int, seed: int, work: Path, compile_every: int = 10) -> Summary:
    """Run ``count`` mutants (seeded) in ``work``; compile every ``compile_every``-th case (0: never)."""
    prepared = prepare(work)
    rng = np.random.default_rng(seed)
    summary = Summary()
    for index in range(count):
        name, model, quantized, inputs, calib = prepared[index % len(prepared)]
        data, done = mutate(model, rng, QDQ_MUTATIONS if quantized else FLOAT_MUTATIONS)
        compile_it = bool(compile_every) and index % compile_every == 0
        summary.cases += 1
        for outcome in run_case(index, data, quantized, inputs, calib, work, compile_it):
            summary.add(index, [name, *done], outcome)
    return summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", "-n", type=int, default=1000, help="mutants to run (default 1000)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--compile-every", type=int, default=10, help="compile (and simulate) every Nth case; 0: never")
    parser.add_argument("--output", "-o", default="benchmarks/results/fuzz_models.json")
    args = parser.parse_args(argv)
    start = time.time()
    with tempfile.TemporaryDirectory(prefix="hwaccel-fuzz-") as tmp:
        summary = fuzz(args.count, args.seed, Path(tmp), args.compile_every)
    for f in summary.failures:
        print(f"case {f['case']} {f['mutations']} {f['command']}: {f['status']}: {f['detail'].splitlines()[-1][:200]}", file=sys.stderr)
    result = {"count": args.count, "seed": args.seed, "compile_every": args.compile_every,
              "seconds": round(time.time() - start, 1), **summary.to_dict()}
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    Path(args.output).write_text(json.dumps(result, indent=2, sort_keys=True) + "\n")
    print(json.dumps({k: v for k, v in result.items() if k != "failures"}, indent=2, sort_keys=True))
    return 0 if not summary.failures else 1


if __name__ == "__main__":
    sys.exit(main())
