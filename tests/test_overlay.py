"""The external memory model and the overlay cycle model: hand-derived cycles and bytes, the layer
list against the ONNX model it came from, and the residency of feature maps against brute force."""

from __future__ import annotations

import math
from fractions import Fraction
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import numpy_helper

from hwaccel.errors import CompileError
from hwaccel.frontend.fixed_model import fixed_model
from hwaccel.passes.overlay_layers import BIAS_BYTES, overlay_layers
from hwaccel.perf.memory import MEMORIES, Memory, memory
from hwaccel.perf.overlay import LAYER_OVERHEAD, OverlayArray, OverlayLayer, choose_array, overlay_schedule

MODELS = Path(__file__).resolve().parent.parent / "models"


def test_presets_at_a_clock_are_their_peak_rate():
    port = MEMORIES["ddr4-2400-x64"].port(300.0)  # 19.2 GB/s / 300 MHz = 64 bytes a cycle; 100 ns = 30 cycles
    assert (port.bytes_per_cycle, port.latency_cycles, port.data_bytes, port.burst_bytes) == (64, 30, 64, 4096)
    assert port.stream_cycles(4096) == 30 + 64 and port.ready_cycle(10, 1) == 10 + 30
    ddr3 = MEMORIES["ddr3-1600-x16"].port(100.0)  # 3.2 GB/s / 100 MHz = 32 bytes
    assert ddr3.bytes_per_cycle == 32 and ddr3.latency_cycles == 10
    lp = MEMORIES["lpddr4-3200-x32"].port(150.0)  # 12.8 / 0.15 = 85 1/3 bytes: a 128-byte bus, fractional rate
    assert lp.bytes_per_cycle == Fraction(256, 3) and lp.data_bytes == 128
    assert lp.stream_cycles(256) == lp.latency_cycles + 3
    assert port.gbytes_per_s(64 * 300, 300) == pytest.approx(19.2)


def test_explicit_memory_and_a_narrow_bus_cap_the_rate():
    m = memory("10,50,16")  # 10 GB/s, 50 ns, 16-byte bus: at 200 MHz the bus carries 16 of the 50 bytes a cycle
    port = m.port(200.0)
    assert (port.bytes_per_cycle, port.latency_cycles) == (16, 10)
    with pytest.raises(CompileError, match="--memory must be one of"):
        memory("fast")
    with pytest.raises(CompileError, match="data width"):
        Memory("x", 1.0, 10.0, 3)
    with pytest.raises(CompileError, match="bandwidth"):
        memory("-1")


def _conv(name: str, inputs: tuple[str, ...], pixels: int, k: int, n: int, in_bytes: int, groups: int = 1) -> OverlayLayer:
    return OverlayLayer(name, "conv", inputs, pixels, k, n, groups, pixels * k * n, k * n + BIAS_BYTES * n, pixels * n,
                        (in_bytes,) * len(inputs))


def test_one_layer_by_hand_compute_and_memory_bound():
    layer = _conv("c", ("input",), 16, 36, 8, 64)  # 4x4 pixels, 3x3x4 inputs, 8 channels; 320 weight bytes
    array = OverlayArray(rows=4, cols=16, onchip_bytes=10_000)
    slow = Memory("slow", 0.1, 100.0, 1).port(100.0)  # 1 byte a cycle, 10 cycles latency
    r = overlay_schedule([layer], array, slow)
    # 2 tiles of 4 channels; a tile: 16 pixels x ceil(36 / 16) = 48 cycles; memory 320 / 2 = 160 a tile
    assert r.layers[0].tiles == 2 and r.layers[0].compute_cycles == 96 and r.layers[0].memory_cycles == 320
    assert r.layers[0].bound == "memory" and r.cycles == 10 + 2 * 160 + LAYER_OVERHEAD + 4
    fast = Memory("fast", 10.0, 100.0, 128).port(100.0)  # 100 bytes a cycle: 2 cycles a tile
    r = overlay_schedule([layer], array, fast)
    assert r.layers[0].bound == "compute" and r.cycles == 10 + 96 + LAYER_OVERHEAD + 4
    assert r.multiplier_bound_cycles == math.ceil(16 * 36 * 8 / 64) and r.bytes_per_inference == 320


def test_spills_match_a_hand_count():
    # a -> b -> add(a, b): a stays live across b; with room for two maps only, a goes out and comes back
    a = _conv("a", ("input",), 100, 9, 10, 100)  # output 1000 bytes
    b = _conv("b", ("a",), 100, 90, 10, 1000)
    add = OverlayLayer("add", "add", ("a", "b"), 100, 0, 10, 1, 0, 0, 1000, (1000, 1000), vector_ops=1000)
    array = OverlayArray(rows=10, cols=8, onchip_bytes=2 * 10 * 90 + 2100)  # weight buffer 1800 + maps 2100
    r = overlay_schedule([a, b, add], array, MEMORIES["ddr4-2400-x64"].port(100.0))
    # input 100 on chip; a's output fits (1100); b: needs a (1000) + its output 1000 = 2000 <= 2100 once the input is freed
    # add: a and b on chip (2000) + 1000 out > 2100: nothing else to spill, so the output goes out (1000 written)
    assert [l.activation_bytes for l in r.layers] == [0, 0, 1000]
    roomy = overlay_schedule([a, b, add], OverlayArray(10, 8, 1800 + 3000), MEMORIES["ddr4-2400-x64"].port(100.0))
    assert roomy.activation_bytes == 0


def test_an_input_that_never_fits_streams_once_per_tile():
    big = _conv("c", ("input",), 10_000, 9, 32, 90_000)  # 90 KB input, 320 KB output, 8 tiles of 4 rows
    array = OverlayArray(rows=4, cols=16, onchip_bytes=2 * 4 * 9 + 50_000)
    r = overlay_schedule([big], array, MEMORIES["ddr4-2400-x64"].port(100.0))
    assert r.layers[0].tiles == 8 and r.layers[0].activation_bytes == 8 * 90_000 + 320_000


def test_layers_of_the_zoo_cnn_match_its_onnx_model():
    fixed, qdq = fixed_model(str(MODELS / "cnn.onnx"), str(MODELS / "digits_calib.npz"))
    layers = overlay_layers(fixed)
    qdq = onnx.load_from_string(qdq)
    # every int8 weight code is one byte; biases are int32 words (zero points and scales are not weights)
    weights = [numpy_helper.to_array(t) for t in qdq.graph.initializer if t.name.endswith(".weight.q")]
    biases = [numpy_helper.to_array(t) for t in qdq.graph.initializer if t.name.endswith(".bias.q")]
    assert {w.dtype for w in weights} == {np.dtype(np.int8)} and {b.dtype for b in biases} == {np.dtype(np.int32)}
    assert sum(l.weight_bytes for l in layers) == sum(w.size for w in weights) + BIAS_BYTES * sum(b.size for b in biases)
    from hwaccel.passes.fold_lanes import FoldTarget
    from hwaccel.passes.to_dataflow import to_dataflow
    df = to_dataflow(fixed, FoldTarget())
    assert sum(l.macs for l in layers) == sum(s.macs for s in df.stages)
    r = choose_array(layers, 64, 64 * 1024, MEMORIES["ddr3-1600-x16"].port(100.0))
    assert r.multipliers <= 64 and 0 < r.bound_fraction <= 1
    assert r.cycles == sum(l.cycles for l in r.layers) + r.memory["latency_cycles"]


def test_an_array_needs_its_weight_buffer():
    layer = _conv("c", ("input",), 4, 1000, 64, 100)
    with pytest.raises(CompileError, match="weight double buffer"):
        overlay_schedule([layer], OverlayArray(64, 8, 1000), MEMORIES["ddr4-2400-x64"].port(100.0))
    with pytest.raises(CompileError, match="no overlay array"):
        choose_array([layer], 16, 10, MEMORIES["ddr4-2400-x64"].port(100.0))
    assert np.isfinite(choose_array([layer], 16, 100_000, MEMORIES["ddr4-2400-x64"].port(100.0)).throughput_fps)


def test_an_op_without_a_unit_between_layers_is_a_host_layer(tmp_path):
    """Conv -> Relu -> LRN -> Conv: the streaming compiler stops at the LRN; the overlay cuts the graph
    there and counts the LRN's input written out and its output read back (8-bit codes)."""
    from onnx import TensorProto, helper

    rng = np.random.default_rng(3)
    inits = [numpy_helper.from_array(rng.standard_normal((4, 3, 3, 3)).astype(np.float32), "w1"),
             numpy_helper.from_array(rng.standard_normal((5, 4, 1, 1)).astype(np.float32), "w2")]
    nodes = [helper.make_node("Conv", ["x", "w1"], ["c"], pads=[1, 1, 1, 1]), helper.make_node("Relu", ["c"], ["r"]),
             helper.make_node("LRN", ["r"], ["n"], size=3), helper.make_node("Conv", ["n", "w2"], ["y"])]
    graph = helper.make_graph(nodes, "lrn", [helper.make_tensor_value_info("x", TensorProto.FLOAT, (1, 3, 6, 6))],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, (1, 5, 6, 6))], inits)
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), tmp_path / "lrn.onnx")
    np.save(tmp_path / "calib.npy", rng.standard_normal((8, 3, 6, 6)).astype(np.float32))
    fixed, _ = fixed_model(str(tmp_path / "lrn.onnx"), str(tmp_path / "calib.npy"))
    layers = overlay_layers(fixed)
    assert [l.kind for l in layers] == ["conv", "host", "conv"]
    assert layers[1].name == "host0.LRN" and layers[2].inputs == (layers[1].name,)
    r = overlay_schedule(layers, OverlayArray(4, 8, 100_000), MEMORIES["ddr4-2400-x64"].port(100.0))
    assert r.host_layers == 1 and r.layers[1].bound == "host"
    assert r.layers[1].activation_bytes == 4 * 36 + 4 * 36  # the Relu's codes out, the LRN's codes back
    from hwaccel.errors import CompileError as Refused
    from hwaccel.passes.fold_lanes import FoldTarget
    from hwaccel.passes.to_dataflow import to_dataflow
    with pytest.raises(Refused, match="lies between hardware"):
        to_dataflow(fixed, FoldTarget())


def test_the_asic_estimate_of_an_overlay_counts_macs_and_dram_by_hand():
    from hwaccel.estimate.asic import DRAM_PJ_PER_BIT
    from hwaccel.estimate.asic_overlay import estimate_overlay_asic

    layer = _conv("c", ("input",), 16, 36, 8, 64)
    r = overlay_schedule([layer], OverlayArray(rows=4, cols=16, onchip_bytes=10_000), MEMORIES["ddr3-1600-x16"].port(100.0))
    est = estimate_overlay_asic("b", r, "45nm")  # 45 nm: Horowitz's figures unscaled
    k = math.log(3.1 / 0.2) / math.log(1024 / 64)  # the power law between the 8x8 (0.2 pJ) and 32x32 (3.1 pJ) multiplies
    assert est.energy_pj["multiply"] == pytest.approx(16 * 36 * 8 * 0.2 * (9 * 8 / 64) ** k)
    assert est.energy_pj["off_chip"] == pytest.approx(8 * 320 * DRAM_PJ_PER_BIT) and est.off_chip_bytes == 320
    assert est.interval_s == pytest.approx(r.cycles / 100e6)


@pytest.mark.parametrize("bits", [8, 5])
def test_the_ddr_image_holds_each_layers_codes_where_the_address_map_says(bits):
    """A grouped conv, a depthwise conv and a dense layer: read back through the address map, every
    conv's codes equal the fixed graph's weights in window order (kernel row, column, the group's
    input channels), every dense row holds its weights (in stream order), biases as int32."""
    import sys

    sys.path.insert(0, str(Path(__file__).parent))
    from dataflow_cases import _small
    from hwaccel.frontend.onnx_import import import_model
    from hwaccel.frontend.qdq import lower_model
    from hwaccel.frontend.quantize import QuantConfig, quantize_graph
    from hwaccel.passes.overlay_image import overlay_image, unpack_codes
    from hwaccel.passes.overlay_layers import lowered_layers

    rng = np.random.default_rng(5)
    model, shape = _small("pad_grouped", rng)
    qdq, _ = quantize_graph(import_model(model, "g"), {"input": rng.uniform(-1, 1, (32,) + shape).astype(np.float32)},
                            QuantConfig(weight_bits=bits))
    fixed = lower_model(qdq)
    image, regions = overlay_image(lowered_layers(fixed))
    by_layer = {r["layer"]: r for r in regions}
    kinds = set()
    for layer, spec in lowered_layers(fixed):
        if spec is None or layer.macs == 0:
            continue
        r = by_layer[layer.name]
        assert r["offset"] % 4096 == 0 and r["bits"] == bits
        got = unpack_codes(image[r["offset"]:r["offset"] + r["weight_bytes"]], bits, layer.n * layer.k).reshape(layer.n, layer.k)
        w = np.asarray(fixed.initializers[spec.node.inputs[1]])
        if spec.node.op == "QConv":  # (M, C/g, kh, kw) -> window order per output channel
            want = w.transpose(0, 2, 3, 1).reshape(w.shape[0], -1)
            np.testing.assert_array_equal(got, want)
        else:  # MatMul (K, M): each output's column, read in stream order
            np.testing.assert_array_equal(np.sort(got, axis=1), np.sort(w.T, axis=1))
        bias = np.frombuffer(image[r["bias_offset"]:r["bias_offset"] + r["bias_bytes"]], "<i4")
        has_bias = len(spec.node.inputs) > 2 and spec.node.inputs[2]
        want_bias = np.asarray(fixed.initializers[spec.node.inputs[2]]).reshape(-1) if has_bias else np.zeros(layer.n)
        np.testing.assert_array_equal(bias, want_bias)
        kinds.add((layer.kind, layer.groups > 1))
    assert kinds == {("conv", True), ("dwconv", True), ("dense", False)}
