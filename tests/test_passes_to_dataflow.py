"""The compiler front: partition, layout, folding, FIFOs. The composed unit goldens of the compiled
dataflow (run_dataflow) must equal the golden executor bit for bit on every network that compiles."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from hwaccel.errors import CompileError, SimulationError
from hwaccel.frontend.onnx_import import import_model
from hwaccel.frontend.qdq import lower_model
from hwaccel.frontend.quantize import QuantConfig, quantize_graph
from hwaccel.golden.dataflow import run_dataflow
from hwaccel.golden.fixed import run_golden
from hwaccel.units import (DepthwiseParams, MatVecParams, PoolParams, RegroupParams, RequantParams,
                           WindowParams)
from hwaccel.units.dataflow import INPUT, OUTPUT, unit_lanes
from hwaccel.passes.fold_lanes import FoldTarget
from hwaccel.passes.partition import partition
from hwaccel.passes.to_dataflow import to_dataflow

from dataflow_cases import (SMALL, TORCH, ZOO_COMPILED, gated_dense, requant_fixed, small_fixed, torch_fixed,
                            zoo_fixed, zoo_inputs)


def assert_same_as_golden(graph, df, x) -> None:
    golden = run_golden(graph, {"input": x})
    ours = run_dataflow(df, {"input": x})
    for name in df.graph_outputs:
        assert ours[name].dtype == golden[name].dtype
        np.testing.assert_array_equal(ours[name], golden[name])


def assert_lanes_agree(df) -> None:
    """Every stream's producer and consumer lanes agree (no width converter exists)."""
    out_lanes = {INPUT: df.input.lanes, **{s.name: s.lanes for s in df.stages}}
    for e in df.edges:
        want = df.output.lanes if e.dst == OUTPUT else df.stage(e.dst).in_lanes
        assert out_lanes[e.src] == want, e
        if e.fifo is not None:
            assert e.fifo.lanes == want


@pytest.mark.parametrize("name", ZOO_COMPILED)
def test_zoo_dataflow_equals_golden(name):
    graph = zoo_fixed(name)
    df = to_dataflow(graph, fifos=False)
    assert_lanes_agree(df)
    assert_same_as_golden(graph, df, zoo_inputs(name, 40))


@pytest.mark.parametrize("weight_bits, act_bits", [(4, 5), (16, 16)])
def test_narrow_and_wide_codes_equal_golden(weight_bits, act_bits):
    graph = zoo_fixed("cnn", weight_bits, act_bits)
    df = to_dataflow(graph, FoldTarget(dsp=40), fifos=False)
    assert df.input.encoding.bits == act_bits
    assert_same_as_golden(graph, df, zoo_inputs("cnn", 24))


@pytest.mark.parametrize("case", SMALL)
def test_layout_rules_equal_golden(case):
    """Pad folded into a window, grouped/depthwise/dilated/strided/non-square convs, padded ceil-mode
    max pool, a table on its own, stride-1 average pool, global max pool, Concat, Transpose, 1-D."""
    graph, x = small_fixed(case)
    df = to_dataflow(graph, fifos=False)
    assert_lanes_agree(df)
    assert_same_as_golden(graph, df, x)


def test_pad_folds_into_the_window_groups_become_block_diagonal_depthwise_its_own_unit():
    graph, _ = small_fixed("pad_grouped")
    df = to_dataflow(graph, fifos=False)
    conv0, conv1 = df.stages[0], df.stages[1]
    window = conv0.unit(WindowParams)
    assert (window.pad_top, window.pad_left, window.pad_bottom, window.pad_right) == (1, 2, 2, 1)  # the Pad's
    assert (window.dilation_h, window.dilation_w) == (2, 1)
    w = np.array(conv0.unit(MatVecParams).weights).reshape(6, 3, 3, 4)  # (out, ky, kx, c): 2 groups, 2 in -> 3 out
    blocks = np.kron(np.eye(2, dtype=np.int64), np.ones((3, 2), dtype=np.int64))  # (out, c)
    assert not (w * (1 - blocks)[:, None, None, :]).any() and w.any()
    # group == C == M: a Depthwise unit over the window's (ky, kx, c) stream, one lane class on both sides
    assert conv1.kind == "dwconv" and conv1.groups == 6 and conv1.in_lanes == conv1.lanes
    dw = conv1.unit(DepthwiseParams)
    assert (dw.channels, dw.taps, dw.lanes) == (6, 3 * 2, conv1.lanes) and np.array(dw.weights).any()


def test_max_pool_pads_with_the_lowest_code():
    graph, _ = small_fixed("pools")
    df = to_dataflow(graph, fifos=False)
    pool = df.stage("maxpool1")
    window = pool.unit(WindowParams)
    assert window.pad_value == -128 and pool.unit(PoolParams).kind == "max"
    # 11 x 8 input, 3x3 stride 2 pad 1, ceil_mode: rows (11+2-3)/2 = 5 exactly, no overhang; columns
    # ceil(7/2) + 1 = 5 windows reach 4*2 + 3 = 11 > 8 + 2: one more pad column
    assert (window.pad_bottom, window.pad_right) == (1, 2)
    assert [s.kind for s in df.stages] == ["conv", "maxpool", "lut", "avgpool", "gpool", "dense"]


def test_requant_stage():
    graph, x = requant_fixed()
    df = to_dataflow(graph, fifos=False)
    assert [s.kind for s in df.stages] == ["maxpool", "requant"]
    assert_same_as_golden(graph, df, x)


def test_flatten_permutes_matmul_rows_from_chw_to_hwc():
    graph = zoo_fixed("cnn")
    df = to_dataflow(graph, fifos=False)
    dense = df.stages[-1].unit(MatVecParams)
    w_kxm = graph.initializers["/7/Gemm.weight_kxm"]  # rows in CHW order of the (16, 2, 2) feature map
    for c, y, x in [(0, 0, 0), (3, 1, 0), (15, 1, 1), (7, 0, 1)]:
        np.testing.assert_array_equal(np.array(dense.weights)[:, (y * 2 + x) * 16 + c], w_kxm[c * 4 + y * 2 + x])


@pytest.mark.parametrize("flavour", ["qdq-int8-per-tensor", "qdq-uint8-per-channel"])
@pytest.mark.parametrize("name", list(TORCH))
def test_onnxruntime_quantized_torch_models_equal_golden(tmp_path, name, flavour):
    graph, x = torch_fixed(tmp_path, name, flavour)
    df = to_dataflow(graph)
    assert_lanes_agree(df)
    assert_same_as_golden(graph, df, x)


def test_batchnorm_left_between_qdq_pairs_runs_on_a_depthwise_stage(tmp_path):
    """A BatchNormalization that onnxruntime quantized on its own (Conv -> Q/DQ -> BN -> Q/DQ) keeps
    its codes: a one-tap depthwise stage, whose dataflow golden equals the graph's golden."""
    graph, x = torch_fixed(tmp_path, "resnet_bn", "qdq-int8-per-tensor", preprocess=False)
    df = to_dataflow(graph, fifos=False)
    assert any(s.kind == "dwconv" for s in df.stages)
    assert_same_as_golden(graph, df, x)


def test_host_op_between_hardware_layers_names_the_op_and_why():
    graph = import_model(gated_dense())
    qdq, _ = quantize_graph(graph, {"x": np.random.default_rng(0).normal(size=(32, 8)).astype(np.float32)}, QuantConfig())
    with pytest.raises(CompileError, match=r"\(QMul\) cannot be compiled: element-wise multiplication has no hardware unit"):
        partition(lower_model(qdq))


def test_uneven_average_pool_picks_a_requant_per_output_pixel():
    """3x3 pad-1 windows excluding the pads on a 6x6 map: corners average 4, edges 6, the rest 9."""
    graph, x = small_fixed("avg_uneven")
    df = to_dataflow(graph, fifos=False)
    pool = next(u for s in df.stages if s.kind == "avgpool" for u in s.units if isinstance(u, PoolParams))
    edge, inner = (0, 1, 1, 1, 1, 0), (1, 2, 2, 2, 2, 1)
    assert pool.pixel_classes == edge + inner * 4 + edge
    requants = next(n for n in graph.nodes if n.op == "QAveragePool").attr("requants")
    assert [r.multipliers for r in pool.requants] == [tuple(np.atleast_1d(requants[c].multiplier).tolist()) for c in (4, 6, 9)]
    assert_same_as_golden(graph, df, x)


def test_partition_keeps_host_ops_around_the_hardware():
    part = partition(zoo_fixed("mlp"))
    assert [n.op for n in part.pre] == ["QuantizeLinear"]
    assert [n.op for n in part.post] == ["DequantizeLinear", "Softmax"]
    assert all(n.domain == "hwaccel" for n in part.hardware)


def test_input_codes_outside_the_port_width_are_refused():
    graph = zoo_fixed("cnn", 4, 5)
    df = to_dataflow(graph, FoldTarget(dsp=40), fifos=False)
    with pytest.raises(SimulationError, match="must fit the input port's 5-bit range"):
        run_dataflow(df, {"input": zoo_inputs("cnn", 8) * 3})


# -- folding -------------------------------------------------------------------------------------

def _interval(df) -> int:
    return max(u.image_cycles(s.shape) for s in df.stages for u in s.units)


def test_default_folding_of_the_cnn_by_hand():
    """conv0 has 1 input channel, so its window (9 taps x 64 pixels + 16 = 592 cycles) bounds the
    interval. At 592 the fewest DSP blocks: conv0's MatVec at simd 1 x pe 8 (576 cycles, 8 blocks);
    its 8 accumulators a pixel come every 9 cycles, so one requant lane keeps up (4 blocks,
    ceil(8 / 9) = 1), regrouped to the 8-lane stream; conv2 (16 px x 16 out x 72 taps = 18,432
    MACs) needs 32 multipliers: simd 8 x pe 4 reads the 8-lane stream (9 x 4 = 36 cycles a pixel,
    576 an image), its 16 outputs a pixel through one requant lane (4 blocks); the dense layer at
    one lane (its zero tiles skipped: 529 cycles, 1 block) and its requant (4). 53 blocks; with a
    requant lane per stream lane the least was 65, with the MatVec lanes tied to the stream lanes
    (the old search) 96."""
    df = to_dataflow(zoo_fixed("cnn"), fifos=False)
    lanes = [(s.name, s.in_lanes, s.lanes) for s in df.stages]
    assert lanes == [("conv0", 1, 8), ("maxpool1", 8, 8), ("conv2", 8, 1), ("maxpool3", 1, 1), ("dense4", 1, 1)]
    folds = [(u.simd, u.pe) for s in df.stages for u in s.units if isinstance(u, MatVecParams)]
    assert folds == [(1, 8), (8, 4), (1, 1)]
    requants = [u.lanes for s in df.stages for u in s.units if isinstance(u, RequantParams)]
    assert requants == [1, 1, 1]
    assert _interval(df) == 592
    assert df.folding["multipliers"] == sum(u.dsp_blocks() for s in df.stages for u in s.units) == 53


@pytest.mark.parametrize("dsp", [34, 40, 100])
def test_dsp_budget_is_respected(dsp):
    df = to_dataflow(zoo_fixed("dscnn"), FoldTarget(dsp=dsp), fifos=False)
    assert sum(u.dsp_blocks() for s in df.stages for u in s.units) <= dsp
    assert_lanes_agree(df)


def test_target_fps_is_met_and_more_fps_costs_more():
    graph = zoo_fixed("resnet")
    slow = to_dataflow(graph, FoldTarget(fps=20_000, clock_mhz=100), fifos=False)
    fast = to_dataflow(graph, FoldTarget(fps=80_000, clock_mhz=100), fifos=False)
    assert _interval(slow) <= 5000 and _interval(fast) <= 1250
    count = lambda df: sum(u.dsp_blocks() for s in df.stages for u in s.units)  # noqa: E731
    assert count(slow) < count(fast)


def test_unreachable_target_is_a_clear_error():
    with pytest.raises(CompileError, match=r"the fps target 1000000.0 cannot be met: the closest folding gives 168918.9 fps"):
        to_dataflow(zoo_fixed("cnn"), FoldTarget(fps=1e6, clock_mhz=100), fifos=False)
    # dscnn at one lane per unit: 6 MatVecs (9 x 8 bits: one DSP block each), 6 requants after them
    # (a 21..23-bit accumulator times a 25-bit multiplier: 2 x 2 chunks of 17 bits, 4 blocks each),
    # 2 average pools (an 11/13-bit sum times a constant of 17+ bits: 2 blocks each): 34 at the least
    with pytest.raises(CompileError, match=r"the dsp target 33 cannot be met: the closest folding gives 34 multipliers"):
        to_dataflow(zoo_fixed("dscnn"), FoldTarget(dsp=33), fifos=False)
    with pytest.raises(CompileError, match="give at most one of --target-fps, --dsp, --luts"):
        FoldTarget(fps=10, dsp=10)


def test_joins_get_a_fifo_of_one_image_plus_one_and_forks_start_with_fifos():
    df = to_dataflow(zoo_fixed("resnet"), fifos=False)
    for e in df.edges:
        if e.dst != OUTPUT and df.stage(e.dst).kind == "add":
            h, w, c = df.stage(e.dst).shape
            assert e.fifo.depth >= h * w * c // df.stage(e.dst).in_lanes + 1
        if sum(f.src == e.src for f in df.edges) > 1:
            assert e.fifo is not None


def test_unit_lanes_chain_inside_stages():
    df = to_dataflow(zoo_fixed("dscnn"), fifos=False)
    for s in df.stages:
        for a, b in zip(s.units, s.units[1:]):
            assert unit_lanes(a)[1] == unit_lanes(b)[0]


def test_an_add_runs_at_the_lanes_its_rate_needs_and_a_regroup_widens_its_output():
    """A join is not tied to the lanes of the stream after it: the zoo resnet's first add streams its
    sum into a wider conv window through a Regroup, and its DSP blocks are those of its own lanes."""
    df = to_dataflow(zoo_fixed("resnet"), fifos=False)
    adds = [s for s in df.stages if s.kind == "add"]
    regrouped = [s for s in adds if len(s.units) == 2]
    assert regrouped, [s.units for s in adds]
    for s in regrouped:
        add, regroup = s.units
        assert isinstance(regroup, RegroupParams) and add.lanes == regroup.lanes_in < regroup.lanes_out == s.lanes
        assert add.image_cycles(s.shape) <= max(u.image_cycles(t.shape) for t in df.stages for u in t.units)
        k = regroup.lanes_out
        wide = replace(add, lanes=k, requant=replace(add.requant, lanes=k, channels=k))  # the add at the stream's lanes
        assert add.dsp_blocks() * k == wide.dsp_blocks() * add.lanes and add.dsp_blocks() < wide.dsp_blocks()
    assert_same_as_golden(zoo_fixed("resnet"), df, zoo_inputs("resnet", 4))  # the Regroup changes no value
