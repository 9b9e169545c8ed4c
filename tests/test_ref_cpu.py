"""The CPU engine is bit-identical to the golden model: on the zoo, on onnxruntime-quantized residual CNNs
and on hand-built corner cases, for any workers x pipeline stages x batch size; its options and errors."""

from __future__ import annotations

import json
import multiprocessing
import os
import threading
from functools import lru_cache

import numpy as np
import pytest

from hwaccel.cli import main
from hwaccel.errors import HwaccelError, ModelError, QuantizationError
from hwaccel.frontend import load_model
from hwaccel.golden.fixed import run_golden
from hwaccel.ir.graph import Graph, TensorInfo
from hwaccel.ref.cpu import CpuEngine, run_cpu
from hwaccel.ref.cpu_workers import SharedArrays, live_values

from dataflow_cases import TORCH, generator_fixed, requant_fixed, small_fixed, torch_fixed, zoo_fixed
from zoo_data import MODELS, split

ZOO = ["mlp", "cnn", "autoencoder", "dbn", "lstm", "generator", "resnet", "dscnn"]
BATCHES = (1, 7, 130)


@lru_cache(maxsize=None)
def zoo(name: str) -> tuple[Graph, np.ndarray]:
    """Zoo model ``name`` quantized and lowered, and 130 test inputs for it."""
    if name == "generator":
        return generator_fixed(), np.load(MODELS / "generator_latents.npz")["input"][:130]
    return zoo_fixed(name), split(name)[2][:130]


def assert_same(outputs: dict[str, np.ndarray], golden: dict[str, np.ndarray], where: str) -> None:
    assert set(outputs) == set(golden), where
    for key, value in golden.items():
        assert outputs[key].dtype == value.dtype, f"{where}: {key} dtype {outputs[key].dtype} != {value.dtype}"
        np.testing.assert_array_equal(outputs[key], value, err_msg=where)


@pytest.mark.parametrize("stages", [1, 2, 3])
@pytest.mark.parametrize("workers", [1, 2])
@pytest.mark.parametrize("name", ZOO)
def test_zoo_equals_golden(name, workers, stages):
    graph, x = zoo(name)
    with CpuEngine(graph, workers, stages) as engine:  # one engine, reused for every batch size
        for batch in BATCHES:
            feeds = {"input": x[:batch]}
            assert_same(engine.run(feeds), run_golden(graph, feeds), f"{name}, batch {batch}")


@pytest.mark.parametrize("workers, stages", [(1, 1), (2, 3)])
@pytest.mark.parametrize("flavour", ["qdq-int8-per-tensor", "qdq-uint8-per-channel"])
@pytest.mark.parametrize("name", list(TORCH))
def test_onnxruntime_quantized_residual_cnns_equal_golden(tmp_path, name, flavour, workers, stages):
    graph, x = torch_fixed(tmp_path, name, flavour)
    assert {"QAdd", "QConv"} <= {n.op for n in graph.nodes} or name == "conv_variants"
    for batch in (7, len(x)):
        feeds = {"input": x[:batch]}
        assert_same(run_cpu(graph, feeds, workers, stages), run_golden(graph, feeds), f"batch {batch}")


@pytest.mark.parametrize("case", ["pad_grouped", "pools", "concat_transpose", "conv1d", "avg_uneven", "requant"])
def test_corner_cases_equal_golden(case):
    """Grouped dilated strided convs, padded ceil-mode and count-include-pad pools, global max pool,
    concat and transpose on the host, 1-D convs, uneven average windows, a pool changing encoding."""
    graph, x = requant_fixed() if case == "requant" else small_fixed(case)
    for workers, stages in [(1, 1), (2, 3)]:
        assert_same(run_cpu(graph, {"input": x}, workers, stages), run_golden(graph, {"input": x}), f"{workers}x{stages}")


@pytest.mark.parametrize("name", ["cnn", "dscnn"])
@pytest.mark.parametrize("weight_bits, act_bits", [(16, 16), (12, 8), (3, 5)])
def test_wide_and_narrow_widths_equal_golden(name, weight_bits, act_bits):
    graph = zoo_fixed(name, weight_bits, act_bits)
    x = split(name)[2][:64]
    assert_same(run_cpu(graph, {"input": x}, workers=2), run_golden(graph, {"input": x}), f"{weight_bits}/{act_bits} bits")


@pytest.mark.parametrize("batch", [0, 1, 2, 3])
def test_batch_smaller_than_workers_and_chunks(batch):
    graph, x = zoo("resnet")
    feeds = {"input": x[:batch]}
    with CpuEngine(graph, workers=4, pipeline_stages=3) as engine:
        assert_same(engine.run(feeds), run_golden(graph, feeds), f"batch {batch}")


def test_graph_without_a_common_batch_axis_runs_as_one_chunk():
    graph, x = zoo("cnn")
    fixed_batch = graph.replace(inputs=(TensorInfo("input", (5, 1, 8, 8)),), outputs=(TensorInfo("output", (5, 10)),))
    feeds = {"input": x[:5]}
    assert_same(run_cpu(fixed_batch, feeds, workers=2, pipeline_stages=2), run_golden(fixed_batch, feeds), "fixed batch")


def test_engine_is_reusable_after_close_and_across_threads():
    graph, x = zoo("cnn")
    golden = {b: run_golden(graph, {"input": x[:b]}) for b in (60, 130)}
    engine = CpuEngine(graph, workers=2, pipeline_stages=2)
    results: dict[int, dict[str, np.ndarray]] = {}
    callers = [threading.Thread(target=lambda b=b: results.__setitem__(b, engine.run({"input": x[:b]}))) for b in golden]
    for t in callers:
        t.start()
    for t in callers:
        t.join()
    for b in golden:
        assert_same(results[b], golden[b], f"concurrent batch {b}")
    engine.close()
    assert_same(engine.run({"input": x[:60]}), golden[60], "after close")


@pytest.mark.parametrize("row", [3, 33])  # in the caller's first stage; in the second shard's process
def test_errors_in_workers_reach_the_caller_as_golden_raises_them(row):
    graph, x = zoo("cnn")
    bad = x[:40].copy()
    bad[row, 0, 2, 2] = np.nan
    with pytest.raises(QuantizationError) as golden_error:
        run_golden(graph, {"input": bad})
    with CpuEngine(graph, workers=2, pipeline_stages=3) as engine:
        with pytest.raises(QuantizationError) as cpu_error:
            engine.run({"input": bad})
        assert str(cpu_error.value) == str(golden_error.value)
        assert_same(engine.run({"input": x[:40]}), run_golden(graph, {"input": x[:40]}), "after the failure")


def test_input_errors():
    graph, x = zoo("cnn")
    with CpuEngine(graph, workers=2) as engine:
        with pytest.raises(ModelError, match="missing input 'input'"):
            engine.run({"image": x})
        with pytest.raises(ModelError, match=r"^rows of 'input' must have shape \(1, 8, 8\), not \(64,\)$"):
            engine.run({"input": x[:5].reshape(5, 64)})


def test_option_errors_and_defaults():
    graph, _ = zoo("cnn")
    nodes = len(graph.nodes)
    for bad in (0, -1, True, 1.5, "2"):
        with pytest.raises(HwaccelError, match=rf"^workers must be a positive integer, not {bad!r}$"):
            CpuEngine(graph, workers=bad)
    for bad in (0, nodes + 1):
        message = rf"^pipeline_stages must be an integer in \[1, {nodes}\] \(the graph has {nodes} nodes\), not {bad}$"
        with pytest.raises(HwaccelError, match=message):
            CpuEngine(graph, pipeline_stages=bad)
    with CpuEngine(graph, pipeline_stages=nodes) as engine:  # every node its own stage
        assert len(engine.stages) == nodes and engine.workers == max(1, (os.cpu_count() or 1) // nodes)
    with CpuEngine(graph) as engine:
        assert engine.workers == (os.cpu_count() or 1) and engine.pipeline_stages == 1


def test_float_graph_is_refused():
    with pytest.raises(QuantizationError, match="is not quantized"):
        CpuEngine(load_model(MODELS / "cnn.onnx"))


# -- hwaccel run --engine cpu --pipeline-stages S --------------------------------------------------

@pytest.fixture(scope="module")
def cnn_qdq(tmp_path_factory):
    out = tmp_path_factory.mktemp("cpu") / "cnn.qdq.onnx"
    assert main(["quantize", str(MODELS / "cnn.onnx"), "--calib", str(MODELS / "digits_calib.npz"), "-o", str(out)]) == 0
    return str(out)


def test_cli_runs_the_pipelined_cpu_engine(cnn_qdq, capsys):
    capsys.readouterr()
    sample = str(MODELS / "digits_sample.npz")
    outputs = {}
    for extra in (["--engine", "golden"], ["--engine", "cpu", "--workers", "2", "--pipeline-stages", "3"]):
        assert main(["run", cnn_qdq, "--input", sample, *extra, "--json"]) == 0
        outputs[extra[1]] = json.loads(capsys.readouterr().out)
    assert outputs["cpu"]["pipeline_stages"] == 3
    assert outputs["cpu"]["outputs"] == outputs["golden"]["outputs"]


@pytest.mark.parametrize("extra, message", [
    (["--engine", "golden", "--pipeline-stages", "2"], "--pipeline-stages must come with --engine cpu, not --engine golden"),
    (["--engine", "cpu", "--pipeline-stages", "0"], "--pipeline-stages must be a positive integer, not 0"),
    (["--engine", "cpu", "--pipeline-stages", "99"], "--pipeline-stages must be at most the model's 8 layers, not 99"),
    (["--engine", "cpu", "--workers", "0"], "--workers must be a positive integer, not 0"),
])
def test_cli_option_errors_are_one_line(cnn_qdq, capsys, extra, message):
    capsys.readouterr()
    assert main(["run", cnn_qdq, "--input", str(MODELS / "digits_sample.npz"), *extra]) == 2
    # one line; an error found with the model loaded names its file
    assert capsys.readouterr().err in (f"hwaccel: error: {message}\n", f"hwaccel: error: {cnn_qdq}: {message}\n")


def test_shards_and_stages_beyond_the_callers_first_run_in_processes_of_their_own():
    """workers x stages: the caller runs shard 0's first stage, a forked process every other pair
    (the GIL is per process); the processes stop on close, and a killed one is reported, by its
    process id, not waited on forever, wherever it sits in the grid."""
    graph, x = zoo("cnn")
    golden = run_golden(graph, {"input": x[:90]})
    for workers, stages in [(3, 1), (2, 2), (1, 3)]:
        with CpuEngine(graph, workers=workers, pipeline_stages=stages) as engine:
            pids = engine.worker_pids
            assert len(set(pids)) == workers * stages - 1 and os.getpid() not in pids
            assert_same(engine.run({"input": x[:90]}), golden, f"{workers} x {stages}")
        assert engine.worker_pids == []
    for workers, stages, victim in [(2, 1, 0), (2, 2, 1), (1, 3, 0)]:  # (1, 0); (1, 0) of (0, 1), (1, 0), (1, 1); (0, 1)
        engine = CpuEngine(graph, workers=workers, pipeline_stages=stages)
        pid = engine.worker_pids[victim]
        os.kill(pid, 9)
        with pytest.raises(HwaccelError, match=rf"^cpu engine: worker process {pid} exited \(code -9\)$"):
            engine.run({"input": x[:90]})
        engine.close()


def test_shard_arrays_travel_through_a_shared_memory_file_both_ways():
    """A forked child reads the parent's tables as views of the shared file and writes its own after
    them, growing the file past its first size; every array starts on a cache line."""
    shared = SharedArrays()
    big = np.arange(300_000, dtype=np.float32).reshape(1000, 300)  # sent as a strided view (0.6 MB)
    tables = [{"a": big[:, ::2], "flag": np.array(True)}, {"empty": np.zeros((0, 3), np.int8), "b": np.int64(-5)}]
    layout, end = shared.put(tables)
    assert all(offset % 64 == 0 for table in layout for *_, offset in table) and end >= big.nbytes // 2
    child_conn, parent_conn = multiprocessing.Pipe()
    pid = os.fork()
    if pid == 0:  # the child: doubles every number into new tables written after the inputs
        code = 1
        try:
            views = shared.get(layout, copy=False)
            outputs = [{k: np.asarray(v) * 2 for k, v in t.items()} for t in views] + [{"grown": np.ones(400_000)}]
            child_conn.send(shared.put(outputs, end)[0])
            code = 0
        finally:
            os._exit(code)
    out_layout = parent_conn.recv()
    os.waitpid(pid, 0)
    back = shared.get(out_layout, copy=True)
    for got, sent in zip(back, tables):
        for name, value in sent.items():
            assert np.array_equal(got[name], np.asarray(value) * 2) and got[name].dtype == (np.asarray(value) * 2).dtype
    assert back[2]["grown"].sum() == 400_000 and os.fstat(shared.fd).st_size >= end + 3_200_000
    shared.close()
    assert not SharedArrays.fits([{"x": np.array([None])}]) and SharedArrays.fits(tables)


def test_shards_with_inputs_larger_than_the_shared_file_equal_golden():
    graph, x = zoo("cnn")
    batch = np.resize(x, (6000,) + x.shape[1:])  # 1.5 MB per shard: the shared file grows on the first run
    with CpuEngine(graph, workers=2) as engine:
        assert_same(engine.run({"input": batch}), run_golden(graph, {"input": batch}), "2 shards, 6000 rows")


def test_stages_pass_on_only_the_values_later_stages_read():
    graph, x = zoo("resnet")
    with CpuEngine(graph, workers=1, pipeline_stages=3) as engine:
        live = live_values(engine)
        assert len(live) == 2 and "input" not in live[0] and "input" not in live[1]
        for s, names in enumerate(live):
            later = [step for steps in engine.stages[s + 1:] for step in steps]
            first = later[0]  # reads what stage s made
            assert getattr(first, "x", None) in names or set(getattr(first, "xs", ())) <= names
            assert {t.name for t in graph.outputs} <= names
        assert_same(engine.run({"input": x[:50]}), run_golden(graph, {"input": x[:50]}), "resnet, 3 stages")
