"""Depthwise: golden model by hand, params and cycle formulas, the control model, amaranth.sim and RTL
benches, and a depthwise network compiled, verified bit-exact and cycle-exact in RTL."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from hwaccel.errors import CompileError
from hwaccel.fixedpoint import accumulator_range
from hwaccel.golden.depthwise import depthwise
from hwaccel.hw.depthwise import Depthwise
from hwaccel.perf.control import control_for
from hwaccel.units import UNITS, DepthwiseParams, code_range, params_from_dict, params_to_dict
from hwaccel.sim.pysim import run_pysim
from hwaccel.sim.runner import SIMULATORS, run_rtl, simulator_missing
from sim.bench_depthwise import depthwise_case, random_windows

N_PYSIM = 40  # random parameterisations in amaranth.sim
N_RTL = 8  # random parameterisations per RTL build (plus the corner cases)
KERNELS = [(1, 1), (3, 3), (10, 4), (1, 3), (2, 2), (5, 1)]


def random_params(rng: np.random.Generator) -> DepthwiseParams:
    """Random channels, lanes (dividing them half the time), kernel, widths 2..8, signedness, zero point,
    bias, pruned lanes."""
    channels = int(rng.integers(1, 13))
    divisors = [d for d in range(1, channels + 1) if channels % d == 0]
    lanes = int(rng.choice(divisors) if rng.random() < 0.5 else rng.integers(1, channels + 1))
    kh, kw = KERNELS[int(rng.integers(len(KERNELS)))]
    bits_x, bits_w = int(rng.integers(2, 9)), int(rng.integers(2, 9))
    signed_x = bool(rng.random() < 0.5)
    x_lo, x_hi = code_range(bits_x, signed_x)
    lo, hi = code_range(bits_w, True)
    weights = rng.integers(lo, hi + 1, (channels, kh * kw))
    if rng.random() < 0.3:
        weights[int(rng.integers(channels))] = 0  # a zero channel (its lane pruned when lanes == channels)
    bias = rng.integers(-(1 << int(rng.integers(1, 32))), 1 << 20, channels)
    return DepthwiseParams(channels, kh * kw, weights, np.clip(bias, -(1 << 31), (1 << 31) - 1), lanes=lanes,
                           bits_x=bits_x, signed_x=signed_x, x_zero_point=int(rng.integers(x_lo, x_hi + 1)), bits_w=bits_w)


def corner_cases() -> list[tuple[DepthwiseParams, np.ndarray]]:
    """Accumulators at both bounds, int32 bias extremes, fully pruned, one channel, DS-CNN's 10x4 kernel."""
    out = []
    w = -np.full((4, 9), 128)
    p = DepthwiseParams(4, 9, w, lanes=2, x_zero_point=255)  # (0 - 255) * -128: the largest products
    out.append((p, np.zeros((2, 9, 4), dtype=np.int64)))
    p = DepthwiseParams(4, 9, w, lanes=4)  # (255 - 0) * -128: the smallest products
    out.append((p, np.full((2, 9, 4), 255)))
    p = DepthwiseParams(3, 2, np.full((3, 2), 7), [(1 << 31) - 1, -(1 << 31), 5], lanes=1, bits_x=4, signed_x=True,
                        x_zero_point=-8, bits_w=4)
    out.append((p, np.full((2, 2, 3), 7)))  # int32 bias extremes
    p = DepthwiseParams(4, 3, np.zeros((4, 3), dtype=np.int64), [3, -4, 5, 0], lanes=4)  # no multiplier at all
    out.append((p, np.arange(24).reshape(2, 3, 4)))
    p = DepthwiseParams(1, 1, [[-2]], bits_x=2, bits_w=2)
    out.append((p, np.array([[[0]], [[3]], [[1]]])))
    rng = np.random.default_rng(7)
    p = DepthwiseParams(8, 40, rng.integers(-128, 128, (8, 40)), rng.integers(-5000, 5000, 8), lanes=4, x_zero_point=3)
    out.append((p, rng.integers(0, 256, (2, 40, 8))))
    return out


def test_golden_by_hand() -> None:
    x = np.array([[[3, 1], [5, 2], [7, 4]]])  # 3 taps of 2 channels
    w = np.array([[1, -1, 2], [0, 4, -3]])
    # channel 0: (1, 3, 5) . (1, -1, 2) = 8 + 100; channel 1: (-1, 0, 2) . (0, 4, -3) = -6 - 7
    assert depthwise(x, w, [100, -7], x_zero_point=2).tolist() == [[108, -13]]


def test_params_cycles_and_costs_by_hand() -> None:
    w = np.arange(1, 37).reshape(4, 9) % 5 - 2
    p = DepthwiseParams(4, 9, w, lanes=2)
    assert (p.groups, p.pixel_cycles, p.in_lanes, p.out_lanes) == (2, 18, 2, 2)
    assert p.acc_bits == 8 + 8 + 4 + 1  # 9 products: ceil(log2(9)) = 4
    assert p.first_output_cycles == 8 * 2 + p.latency and p.total_cycles(3) == 3 * 18 + p.latency
    assert p.image_cycles((5, 7, 4)) == 35 * 18  # 100 % MAC use: K * C / lanes cycles a pixel
    assert p.mac_multipliers() == p.dsp_blocks() == 2 and p.memory_bits() == 18 * 2 * 8
    assert p.beat_ratio() == Fraction(1, 9)
    pruned = DepthwiseParams(4, 2, [[1, 2], [0, 0], [3, 4], [0, 0]], lanes=2)
    assert pruned.live_lanes == (0,) and pruned.mac_multipliers() == 1  # lane 1 holds channels 1 and 3: all zero
    assert UNITS["depthwise"] is DepthwiseParams
    odd = DepthwiseParams(5, 3, [[1, 0, 0], [0, 0, 0], [0, 2, 0], [0, 0, 0], [0, 0, 3]], [1, 2, 3, 4, 5], lanes=2)
    # channels (0, 1), (2, 3), (4, -): 3 beats a tap, lane 1 idle in the last; lane 1 holds channels 1 and 3: all zero
    assert (odd.groups, odd.pixel_cycles, odd.live_lanes) == (3, 9, (0,))
    assert [odd.beat_weight(t, 0) for t in range(9)] == [1, 0, 0, 0, 2, 0, 0, 0, 3]
    assert odd.beat_weight(8, 1) == 0 and odd.channel_bias(5) == 0 and odd.image_cycles((2, 2, 5)) == 4 * 9
    assert params_from_dict(params_to_dict(p)) == p


@pytest.mark.parametrize("kwargs, message", [
    (dict(weights=[[1, 2]]), "weights must have shape (2, 3), not (1, 2)"),
    (dict(weights=[[1, 2, 3], [4, 5, 128]]), "weight must be a 8-bit signed code in [-128, 127], not 128"),
    (dict(lanes=3), "lanes must be an integer in [1, 2], not 3"),
    (dict(x_zero_point=-1), "x_zero_point must be a 8-bit unsigned code in [0, 255], not -1"),
    (dict(bias=[1 << 31, 0]), "bias must be 2 int32 codes, not [2147483648, 0]"),
])
def test_params_errors(kwargs: dict, message: str) -> None:
    base = dict(channels=2, taps=3, weights=[[1, 0, 1], [0, 1, 2]])
    with pytest.raises(CompileError) as err:
        DepthwiseParams(**{**base, **kwargs})
    assert str(err.value) == message


def test_corners_reach_the_accumulator_bounds() -> None:
    for (p, x), side in zip(corner_cases()[:2], (1, 0)):
        acc = depthwise(x, np.array(p.weights), x_zero_point=p.x_zero_point)
        bound = accumulator_range(p.bits_x, p.bits_w, p.taps, signed_x=p.signed_x, x_zero_point=p.x_zero_point)
        assert np.all(acc == bound[side])
        assert -(1 << (p.acc_bits - 1)) <= bound[side] < 1 << (p.acc_bits - 1)


def _control_cycles(p: DepthwiseParams, pixels: int) -> tuple[int, int]:
    """(first output, total) of the control model alone, input always valid, output always ready."""
    ctl, outs, first, cycle = control_for(p), 0, -1, 0
    while outs < pixels * p.groups:
        fire = ctl.ov
        ctl.ready(True, True, False)
        ctl.tick(ctl.issue, False, fire)
        if fire:
            first = cycle if first < 0 else first
            outs += 1
        cycle += 1
    return first, cycle


def test_control_model_equals_the_formulas() -> None:
    rng = np.random.default_rng(3)
    for _ in range(30):
        p = random_params(rng)
        assert _control_cycles(p, 3) == (p.first_output_cycles, p.total_cycles(3))


def test_pysim_random(tally) -> None:
    rng = np.random.default_rng(5)
    for k in range(N_PYSIM):
        p = random_params(rng)
        run_pysim(Depthwise(p), depthwise_case(p, random_windows(p, 3, rng), f"depthwise{k}", rng))
    tally("Depthwise", "amaranth.sim", N_PYSIM)


@pytest.mark.parametrize("index", range(len(corner_cases())))
def test_pysim_corners(index: int) -> None:
    p, x = corner_cases()[index]
    run_pysim(Depthwise(p), depthwise_case(p, x, f"corner{index}"))


@pytest.mark.rtl
@pytest.mark.parametrize("simulator", SIMULATORS)
def test_rtl(simulator: str, tally) -> None:
    if reason := simulator_missing(simulator):
        pytest.skip(reason)
    rng = np.random.default_rng(99)
    setups = [(p, random_windows(p, 3, rng)) for p in (random_params(rng) for _ in range(N_RTL))] + corner_cases()
    cases = [depthwise_case(p, x, f"depthwise{k}") for k, (p, x) in enumerate(setups)]
    result = run_rtl([Depthwise(p) for p, _ in setups], cases, "sim.bench_depthwise", "depthwise", simulator)
    assert all(r["no_stall"]["first_and_total"] == r["no_stall"]["model"] for r in result.values())
    tally("Depthwise", simulator, len(setups))


# -- a depthwise network, end to end ----------------------------------------------------------------

FLAVOURS = ("qdq-int8-per-tensor", "qdq-uint8-per-channel")
INPUT_SHAPE = (3, 7, 6)


def depthwise_net(path: Path, seed: int = 0) -> Path:
    """A float network with depthwise convs of three kinds (3x3 padded, 1x1 with no window, 3x2 stride 2
    asymmetric padding) between dense convs, then a Gemm."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(seed)
    nodes, inits = [], []

    def conv(x: str, y: str, cin: int, cout: int, k: tuple, relu: bool = True, **attrs) -> None:
        group = attrs.get("group", 1)
        inits.append(numpy_helper.from_array(rng.normal(0, 0.5, (cout, cin // group) + k).astype(np.float32), f"{y}.w"))
        inits.append(numpy_helper.from_array(rng.normal(0, 0.2, cout).astype(np.float32), f"{y}.b"))
        nodes.append(helper.make_node("Conv", [x, f"{y}.w", f"{y}.b"], [f"{y}.c" if relu else y], kernel_shape=list(k), **attrs))
        if relu:
            nodes.append(helper.make_node("Relu", [f"{y}.c"], [y]))

    conv("input", "c1", 3, 8, (3, 3), pads=[1, 1, 1, 1])
    conv("c1", "d1", 8, 8, (3, 3), group=8, pads=[1, 1, 1, 1])
    conv("d1", "d2", 8, 8, (1, 1), relu=False, group=8)
    conv("d2", "d3", 8, 8, (3, 2), group=8, strides=[2, 2], pads=[1, 0, 1, 1])
    conv("d3", "c2", 8, 4, (1, 1))
    nodes.append(helper.make_node("Flatten", ["c2"], ["f"], axis=1))
    inits.append(numpy_helper.from_array(rng.normal(0, 0.3, (4 * 4 * 3, 5)).astype(np.float32), "g.w"))
    inits.append(numpy_helper.from_array(rng.normal(0, 0.1, 5).astype(np.float32), "g.b"))
    nodes.append(helper.make_node("Gemm", ["f", "g.w", "g.b"], ["output"]))
    graph = helper.make_graph(nodes, "depthwise_net", [helper.make_tensor_value_info("input", TensorProto.FLOAT, [None, *INPUT_SHAPE])],
                              [helper.make_tensor_value_info("output", TensorProto.FLOAT, [None, 5])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


def depthwise_build(tmp_path: Path, flavour: str, count: int = 6) -> tuple[Path, Path]:
    """The quantized net compiled to a build directory, and ``count`` inputs."""
    pytest.importorskip("onnxruntime.quantization")
    from ort_quant import ort_quantize

    import hwaccel

    rng = np.random.default_rng(2)
    q = ort_quantize(depthwise_net(tmp_path / "dw.onnx"), tmp_path / "dw_q.onnx",
                     rng.uniform(-1.5, 1.5, (64,) + INPUT_SHAPE).astype(np.float32), flavour)
    build = hwaccel.compile(q, tmp_path / f"dw_{flavour.replace('-', '_')}", dsp=64).output
    inputs = tmp_path / "inputs.npz"
    np.savez(inputs, input=rng.uniform(-1.5, 1.5, (count,) + INPUT_SHAPE).astype(np.float32))
    return Path(build), inputs


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_network_lowers_depthwise_convs_to_the_unit(tmp_path, flavour: str) -> None:
    """Three dwconv stages (one without a window), golden dataflow == golden graph, manifest round trip."""
    from hwaccel.build_dir import read_build
    from hwaccel.golden.dataflow import run_dataflow
    from hwaccel.golden.fixed import run_golden
    from hwaccel.sim.verify import fixed_graph

    build, inputs = depthwise_build(tmp_path, flavour)
    df, manifest = read_build(build)
    assert [s.kind for s in df.stages] == ["conv", "dwconv", "dwconv", "dwconv", "conv", "dense"]
    units = [type(u).__name__ for u in df.stages[2].units if type(u).__name__ != "RegroupParams"]
    assert units == ["DepthwiseParams", "RequantParams"]
    assert all(s.in_lanes == s.lanes for s in df.stages if s.kind == "dwconv")
    assert [layer["acc_bits"] is not None for layer in manifest["layers"]] == [True] * 6
    graph = fixed_graph(build, manifest)
    x = {"input": np.load(inputs)["input"]}
    want = run_golden(graph, x, outputs=[df.output.value])[df.output.value]
    assert np.array_equal(run_dataflow(df, x)[df.output.value], want)
    layers = {layer.name: layer for layer in hwaccel_report(build).layers}
    dw = df.stages[1].unit(DepthwiseParams)
    assert layers["dwconv1"].mac_multipliers == dw.mac_multipliers() and layers["dwconv1"].array_lanes == dw.lanes


def hwaccel_report(build: Path):
    from hwaccel.build_dir import read_build
    from hwaccel.perf.model import cycle_model

    return cycle_model(read_build(build)[0])


@pytest.mark.rtl
@pytest.mark.slow
@pytest.mark.parametrize("flavour", FLAVOURS)
def test_network_on_verilator(tmp_path, flavour: str) -> None:
    """The compiled depthwise net on Verilator: every output code equals golden, cycles equal the cycle model."""
    from hwaccel.sim.verify import verify_build

    if reason := simulator_missing("verilator"):
        pytest.skip(reason)
    build, inputs = depthwise_build(tmp_path, flavour)
    report = verify_build(build, str(inputs), simulator="verilator", progress=False)
    assert report["mismatches"] == 0 and report["bit_exact"], report["first_mismatches"]
    assert report["cycles_rtl"] == report["cycles_model"]
