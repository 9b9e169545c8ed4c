"""Generators in hardware: the polyphase form of a transposed convolution against the golden one,
the zoo generator and a DCGAN-style generator (Linear, 3 ConvTranspose + BatchNorm/ReLU, nearest
Upsample + Conv, Tanh) compiled, run by the golden dataflow and the cycle model, and verified
bit-exact with RTL cycles equal to the model (amaranth.sim; Verilator and Icarus marked rtl)."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pytest

from hwaccel.cli import main
from hwaccel.frontend.qdq import load_quantized
from hwaccel.golden.dataflow import run_dataflow
from hwaccel.golden.fixed import run_golden
from hwaccel.golden.fixed_ops.conv import conv_transpose_accumulate
from hwaccel.golden.pixel_map import pixel_map
from hwaccel.golden.window import sliding_windows
from hwaccel.ir.graph import Node
from hwaccel.passes.lower_generators import AxisPlan, plan_weights, polyphase_axis, transpose_macs, unrolled_axis
from hwaccel.passes.to_dataflow import to_dataflow
from hwaccel.perf.model import cycle_model
from hwaccel.perf.network import simulate
from hwaccel.perf.schedule import first_image, steady_interval
from hwaccel.sim.runner import simulator_missing
from hwaccel.units import DepthToSpaceParams, MatVecParams

from dataflow_cases import generator_fixed
from zoo_data import MODELS

LATENTS = MODELS / "generator_latents.npz"


def _polyphase(x: np.ndarray, w: np.ndarray, plans: tuple[AxisPlan, AxisPlan], out: tuple[int, int]) -> np.ndarray:
    """``(N, C, H, W)`` through the stride-1 conv of the lowered form and the DepthToSpace: NHWC."""
    ah, aw = plans
    wins = np.stack([sliding_windows(np.moveaxis(xi, 0, -1), (ah.taps, aw.taps), (1, 1), (1, 1),
                                     (ah.pad_begin, aw.pad_begin, ah.pad_end, aw.pad_end), 0) for xi in x])
    full = plan_weights(w, plans)
    acc = wins.reshape(len(x), ah.outputs, aw.outputs, -1) @ full.reshape(full.shape[0], -1).T
    return pixel_map(acc, DepthToSpaceParams(w.shape[1], ah.outputs, aw.outputs, ah.phases, aw.phases, *out, ah.crop, aw.crop))


def test_polyphase_equals_the_golden_conv_transpose() -> None:
    """Random kernels, strides, pads and output paddings, every axis polyphase or unrolled: the same
    accumulators; polyphase, every kernel weight in exactly one place of the conv weights (no
    multiply of an inserted zero); unrolled, exactly the (input, tap) pairs that land on a kept output."""
    rng = np.random.default_rng(0)
    done = 0
    while done < 150:
        c, m, h, w, kh, kw, sh, sw = (int(v) for v in np.concatenate([rng.integers(1, 4, 2), rng.integers(1, 6, 4),
                                                                      rng.integers(1, 4, 2)]))
        pads = [int(rng.integers(0, kh)), int(rng.integers(0, kw)), int(rng.integers(0, kh)), int(rng.integers(0, kw))]
        out = ((h - 1) * sh + kh - pads[0] - pads[2] + int(rng.integers(0, sh)),
               (w - 1) * sw + kw - pads[1] - pads[3] + int(rng.integers(0, sw)))
        if min(out) < 1:
            continue
        x, wt = rng.integers(-5, 6, (2, c, h, w)), rng.integers(1, 6, (c, m, kh, kw))
        node = Node("t", "QConvTranspose", ("x", "w"), ("y",), {"strides": [sh, sw], "pads": pads})
        want = np.moveaxis(conv_transpose_accumulate(node, [x, wt], (0, 0) + out), 1, -1)
        axes = [(h, kh, sh, pads[0], out[0]), (w, kw, sw, pads[1], out[1])]
        for unroll in ((False, False), (True, False), (False, True), (True, True)):
            plans = tuple(unrolled_axis(*a) if u else polyphase_axis(*a) for a, u in zip(axes, unroll))
            assert np.array_equal(_polyphase(x, wt, plans, out), want), (c, m, h, w, kh, kw, sh, sw, pads, out, unroll)
            full = plan_weights(wt, plans)
            if unroll == (True, True):
                assert np.count_nonzero(full) == transpose_macs(*axes[0]) * transpose_macs(*axes[1]) * c * m
        full = plan_weights(wt, (polyphase_axis(*axes[0]), polyphase_axis(*axes[1])))
        assert np.count_nonzero(full) == wt.size and sorted(full[full != 0]) == sorted(wt.reshape(-1))
        done += 1


def test_transpose_macs_by_hand() -> None:
    # k4 s2 p1 on 2 inputs -> 4 outputs: of the 8 (input, tap) pairs, input 0 tap 0 and input 1 tap 3 are cropped
    assert transpose_macs(2, 4, 2, 1, 4) == 6 and transpose_macs(3, 3, 2, 1, 6) == 8
    plan = polyphase_axis(2, 4, 2, 1, 4)  # 2 taps, pad 1 each side, 3 conv outputs, crop 1
    assert (plan.taps, plan.pad_begin, plan.pad_end, plan.outputs, plan.crop) == (2, 1, 1, 3, 1) and plan.pairs == 12
    # unrolled: output o reads input i through tap o + 1 - 2 i
    assert unrolled_axis(2, 4, 2, 1, 4).tap_of == ((1, -1), (2, 0), (3, 1), (-1, 2)) and unrolled_axis(2, 4, 2, 1, 4).pairs == 6


def test_zoo_generator_compiles_runs_and_schedules() -> None:
    """Two stages per ConvTranspose; the golden dataflow equals the golden model; compile's analytic
    first image and the steady interval equal the cycle model; MACs count the non-zero ones only,
    and the MatVec holds a weight for each of them (the ConvTransposes' axes unrolled). The Sigmoid's
    table folds into the last conv's requant (a table commutes with the depth_to_space's moves)."""
    graph = generator_fixed()
    df = to_dataflow(graph)
    assert [s.kind for s in df.stages] == ["dense", "conv", "depth_to_space", "conv", "depth_to_space"]
    assert df.stages[-2].source == df.stages[-1].source == ("/5/ConvTranspose", "/6/Sigmoid")
    latents = np.load(LATENTS)["input"][:6]
    got = run_dataflow(df, {df.graph_input: latents})
    want = run_golden(graph, {df.graph_input: latents})
    for name in df.graph_outputs:
        assert np.array_equal(got[name], want[name])
    first, run = first_image(df), simulate(df, 1)
    assert (first.first_output, first.cycles) == (run.first_output, run.cycles)
    endless = simulate(df, None, stop_periodic=True)
    assert endless.period is not None and endless.period[2] / endless.period[1] == steady_interval(df)
    # (16 -> 8, 2x2 -> 4x4) and (8 -> 1, 4x4 -> 8x8), k4 s2 p1: 6 and 14 (input, tap) pairs per axis kept
    convs = [s for s in df.stages if s.kind == "conv"]
    assert [s.macs for s in convs] == [6 * 6 * 16 * 8, 14 * 14 * 8 * 1]
    nodes = {n.name: n for n in graph.nodes}
    for s, size in zip(convs, (2, 4)):  # small images: both axes unrolled, a weight per (input, tap) pair kept
        kernel = np.asarray(graph.initializers[nodes[s.source[0]].inputs[1]])
        weights = np.array(s.unit(MatVecParams).weights)
        plan = unrolled_axis(size, 4, 2, 1, 2 * size)
        assert np.count_nonzero(weights) == np.count_nonzero(plan_weights(kernel, (plan, plan)))
    report = cycle_model(df, analytic=True)
    layer = next(l for l in report.layers if l.name == convs[0].name)
    assert layer.macs == convs[0].macs and 0 < layer.mac_utilization <= 1


@pytest.mark.parametrize("shape, kernel, strides, pads, output_padding", [
    ((3, 7), [3], [2], [1, 0], [1]),  # 1-D: zero taps, an output padding past the natural end
    ((3, 5, 4), [3, 2], [3, 2], [2, 0, 1, 1], [1, 1]),  # strides 3 and 2, unequal pads, a crop into the second phase
])
def test_odd_transposed_convolutions_compile_and_run(shape, kernel, strides, pads, output_padding) -> None:
    """A 1x1 conv then a ConvTranspose, quantized by hwaccel: the dataflow's golden equals the graph's,
    and the schedule's first image the cycle model's."""
    from onnx import TensorProto, helper, numpy_helper

    from hwaccel.frontend.onnx_import import import_model
    from hwaccel.frontend.qdq import lower_model
    from hwaccel.frontend.quantize import QuantConfig, quantize_graph

    rng = np.random.default_rng(len(shape))
    rank, cin = len(kernel), shape[0]
    outs = [(n - 1) * s + k - pads[i] - pads[i + rank] + o
            for i, (n, s, k, o) in enumerate(zip(shape[1:], strides, kernel, output_padding))]
    inits = [numpy_helper.from_array(rng.standard_normal(dims).astype(np.float32), name)
             for name, dims in (("w", (cin, 2, *kernel)), ("b", (2,)), ("cw", (cin, cin, *[1] * rank)))]
    nodes = [helper.make_node("Conv", ["input", "cw"], ["c"], kernel_shape=[1] * rank),
             helper.make_node("ConvTranspose", ["c", "w", "b"], ["output"], kernel_shape=kernel, strides=strides, pads=pads,
                              output_padding=output_padding)]
    graph = helper.make_graph(nodes, "t", [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", *shape])],
                              [helper.make_tensor_value_info("output", TensorProto.FLOAT, ["N", 2, *outs])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    calib = rng.uniform(-1, 1, (32, *shape)).astype(np.float32)
    qdq, _ = quantize_graph(import_model(model, "t"), {"input": calib}, QuantConfig())
    fixed = lower_model(qdq)
    df = to_dataflow(fixed)
    assert [s.kind for s in df.stages] == ["conv", "conv", "depth_to_space"]
    got, want = run_dataflow(df, {"input": calib[:4]}), run_golden(fixed, {"input": calib[:4]})
    assert all(np.array_equal(got[k], want[k]) for k in df.graph_outputs)
    first, run = first_image(df), simulate(df, 1)
    assert (first.first_output, first.cycles) == (run.first_output, run.cycles)


def _verify(build: Path, inputs: Path, simulator: str, count: int, capsys) -> dict:
    code = main(["verify", str(build), "-i", str(inputs), "--count", str(count), "--simulator", simulator, "--json"])
    report = json.loads(capsys.readouterr().out)
    assert code == 0 and report["bit_exact"] and report["cycles_match"], report
    return report


@pytest.fixture(scope="module")
def generator_build(tmp_path_factory) -> Path:
    """The zoo generator quantized on its latents and compiled."""
    out = tmp_path_factory.mktemp("generator")
    assert main(["compile", str(MODELS / "generator.onnx"), "--calib", str(LATENTS), "-o", str(out / "build")]) == 0
    return out / "build"


@pytest.mark.slow
def test_zoo_generator_verifies_in_amaranth(generator_build: Path, capsys) -> None:
    capsys.readouterr()
    _verify(generator_build, LATENTS, "amaranth", 4, capsys)


@pytest.mark.slow
@pytest.mark.rtl
@pytest.mark.parametrize("simulator", ["verilator", "icarus"])
def test_zoo_generator_verifies_in_rtl(generator_build: Path, simulator: str, capsys) -> None:
    if reason := simulator_missing(simulator):
        pytest.skip(reason)
    capsys.readouterr()
    _verify(generator_build, LATENTS, simulator, 16, capsys)


def dcgan(path: Path) -> Path:
    """A DCGAN-style generator with random weights and BatchNorm statistics, exported to ``path``."""
    torch = pytest.importorskip("torch")
    nn = torch.nn

    class Unflatten(nn.Module):  # one Reshape by a constant (nn.Unflatten exports shape arithmetic)
        def forward(self, x):  # type: ignore[no-untyped-def]
            return x.reshape(-1, 16, 1, 1)

    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(8, 16), Unflatten(),
                        nn.ConvTranspose2d(16, 8, 4, 2, 1), nn.BatchNorm2d(8), nn.ReLU(),
                        nn.ConvTranspose2d(8, 8, 4, 2, 1), nn.BatchNorm2d(8), nn.ReLU(),
                        nn.ConvTranspose2d(8, 4, 4, 2, 1), nn.BatchNorm2d(4), nn.ReLU(),
                        nn.Upsample(scale_factor=2, mode="nearest"), nn.Conv2d(4, 1, 3, padding=1), nn.Tanh())
    for mod in net.modules():
        if isinstance(mod, nn.BatchNorm2d):
            mod.running_mean.uniform_(-0.2, 0.2)
            mod.running_var.uniform_(0.5, 1.5)
            mod.weight.data.uniform_(0.5, 1.5)
    net.eval()
    with warnings.catch_warnings():  # the TorchScript exporter's deprecation notices
        warnings.simplefilter("ignore")
        torch.onnx.export(net, torch.randn(1, 8), path, input_names=["input"], output_names=["output"],
                          dynamic_axes={"input": {0: "N"}, "output": {0: "N"}}, opset_version=17, dynamo=False)
    return path


@pytest.fixture(scope="module")
def dcgan_build(tmp_path_factory) -> tuple[Path, Path]:
    """The DCGAN-style generator quantized by ``hwaccel quantize`` and compiled; its test latents."""
    out = tmp_path_factory.mktemp("dcgan")
    model = dcgan(out / "dcgan.onnx")
    rng = np.random.default_rng(0)
    np.savez(out / "calib.npz", input=rng.standard_normal((64, 8)).astype(np.float32))
    np.savez(out / "test.npz", input=rng.standard_normal((16, 8)).astype(np.float32))
    assert main(["quantize", str(model), "--calib", str(out / "calib.npz"), "-o", str(out / "q.onnx")]) == 0
    assert main(["compile", str(out / "q.onnx"), "-o", str(out / "build")]) == 0
    return out / "build", out / "test.npz"


@pytest.mark.slow
def test_dcgan_verifies_in_amaranth(dcgan_build: tuple[Path, Path], capsys) -> None:
    capsys.readouterr()
    build, inputs = dcgan_build
    manifest = json.loads((build / "manifest.json").read_text())
    kinds = [s["kind"] for s in manifest["dataflow"]["stages"]]
    assert kinds.count("depth_to_space") == 3 and kinds.count("upsample") == 1
    df = to_dataflow(load_quantized(build.parent / "q.onnx"))
    first, run = first_image(df), simulate(df, 1)
    assert (first.first_output, first.cycles, first.stage_first_out) == (run.first_output, run.cycles, run.stage_first_out)
    _verify(build, inputs, "amaranth", 2, capsys)


@pytest.mark.slow
@pytest.mark.rtl
def test_dcgan_verifies_in_verilator(dcgan_build: tuple[Path, Path], capsys) -> None:
    if reason := simulator_missing("verilator"):
        pytest.skip(reason)
    capsys.readouterr()
    _verify(*dcgan_build, "verilator", 16, capsys)
