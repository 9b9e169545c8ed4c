"""The GPU engine is bit-identical to the golden model: on torch's CPU device here, on CUDA where there is one."""

from __future__ import annotations

import sys

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

torch = pytest.importorskip("torch")

from conftest import make_model  # noqa: E402
from hwaccel.api import run as run_model  # noqa: E402
from hwaccel.errors import HwaccelError, ModelError, QuantizationError  # noqa: E402
from hwaccel.fixedpoint import Requant  # noqa: E402
from hwaccel.frontend import load_model  # noqa: E402
from hwaccel.frontend.onnx_import import import_model  # noqa: E402
from hwaccel.frontend.qdq import lower_model  # noqa: E402
from hwaccel.frontend.quantize import QuantConfig, quantize_graph  # noqa: E402
from hwaccel.golden.fixed import run_golden  # noqa: E402
from hwaccel.ir.graph import Graph, Node, QuantParams, TensorInfo  # noqa: E402
from hwaccel.ir.ops import FIXED_DOMAIN  # noqa: E402
from hwaccel.passes.lower_qdq import LowerOptions  # noqa: E402
from hwaccel.ref.gpu import INSTALL_HINT, GpuEngine, run_gpu  # noqa: E402

from zoo_data import MODELS, calibration, split  # noqa: E402

ZOO = ["mlp", "cnn", "autoencoder", "dbn", "lstm", "generator", "resnet", "dscnn"]


def zoo_data(name: str) -> tuple[np.ndarray, np.ndarray]:
    """(calibration, test inputs) of a zoo model; the generator's are its stored latent codes."""
    if name == "generator":
        latents = np.load(MODELS / "generator_latents.npz")["input"]
        return latents[:256], latents[256:353]
    return calibration(name), split(name)[2][:97]  # odd batch


def quantized(name: str, config: QuantConfig = QuantConfig(), options: LowerOptions | None = None):
    calib, x = zoo_data(name)
    qdq, _ = quantize_graph(load_model(MODELS / f"{name}.onnx"), {"input": calib}, config)
    return lower_model(qdq, options=options), {"input": x}


def assert_same(graph: Graph, feeds: dict[str, np.ndarray], device: str = "cpu") -> dict[str, np.ndarray]:
    """Every value of the graph (intermediates too): same codes, same dtype as golden."""
    golden = run_golden(graph, feeds, keep_all=True)
    fast = run_gpu(graph, feeds, device=device, keep_all=True)
    assert fast.keys() == golden.keys()
    for key in golden:
        assert fast[key].dtype == golden[key].dtype, key
        np.testing.assert_array_equal(fast[key], golden[key], err_msg=key)
    return golden


@pytest.mark.parametrize("name", ZOO)
def test_gpu_engine_equals_golden_on_zoo(name):
    graph, feeds = quantized(name)
    assert_same(graph, feeds)


@pytest.mark.parametrize("weight_bits, act_bits", [(16, 16), (3, 5)])
@pytest.mark.parametrize("name", ["cnn", "resnet", "generator"])
def test_gpu_engine_equals_golden_for_wide_and_narrow_widths(name, weight_bits, act_bits):
    graph, feeds = quantized(name, QuantConfig(weight_bits=weight_bits, act_bits=act_bits))
    assert_same(graph, feeds)


@pytest.mark.parametrize("rounding, scheme", [("half_up", "affine"), ("half_even", "pow2"), ("half_up", "pow2")])
@pytest.mark.parametrize("name", ["resnet", "dscnn", "generator", "dbn"])
def test_gpu_engine_equals_golden_for_rounding_modes_and_schemes(name, rounding, scheme):
    graph, feeds = quantized(name, options=LowerOptions(scheme=scheme, rounding=rounding))
    assert all(n.attr("requant").rounding == rounding for n in graph.nodes if n.attr("requant") is not None)
    assert_same(graph, feeds)


def variants_model() -> onnx.ModelProto:
    """Ops and attributes the zoo lacks: depthwise dilated strided conv with asymmetric pads, ceil_mode and
    count_include_pad pools, Concat, Mul, Pad, grouped dilated ConvTranspose with output_padding, global
    pools, Sub, Resize (host fallback), Softmax (host), a 1-D conv."""
    rng = np.random.default_rng(7)

    def init(name, shape):
        return numpy_helper.from_array((rng.normal(size=shape) * 0.3).astype(np.float32), name)

    inits = [init("w_dw", (4, 1, 3, 2)), init("b_dw", (4,)), init("w_pw", (6, 4, 1, 1)), init("w_t", (12, 2, 3, 3)),
             init("b_t", (6,)), init("fc", (12, 5)), init("w_1d", (3, 2, 3)),
             numpy_helper.from_array(np.array([0, 0, 1, 0, 0, 0, 0, 2], np.int64), "pads"),
             numpy_helper.from_array(np.array([1, 1, 2, 2], np.float32), "scales")]
    n = helper.make_node
    pool = dict(kernel_shape=[3, 3], strides=[2, 2], pads=[1, 0, 0, 1], ceil_mode=1)
    nodes = [
        n("Conv", ["x", "w_dw", "b_dw"], ["dw"], group=4, dilations=[2, 1], strides=[2, 1], pads=[1, 2, 0, 1]),
        n("Relu", ["dw"], ["dw_r"]),
        n("Conv", ["dw_r", "w_pw"], ["pw"]),
        n("MaxPool", ["pw"], ["mp"], **pool),
        n("AveragePool", ["pw"], ["ap"], count_include_pad=1, **pool),
        n("Concat", ["mp", "ap"], ["cat"], axis=1),
        n("Sigmoid", ["cat"], ["sig"]),
        n("Mul", ["cat", "sig"], ["swish"]),
        n("Pad", ["swish", "pads"], ["padded"]),
        n("ConvTranspose", ["padded", "w_t", "b_t"], ["up"], group=3, strides=[2, 2], dilations=[1, 2], pads=[1, 0, 0, 1],
          output_padding=[1, 1]),
        n("Resize", ["up", "", "scales"], ["big"], mode="nearest"),
        n("GlobalMaxPool", ["big"], ["gmp"]),
        n("GlobalAveragePool", ["big"], ["gap"]),
        n("Sub", ["gmp", "gap"], ["diff"]),
        n("Flatten", ["diff"], ["flat"]),
        n("Concat", ["flat", "flat"], ["flat2"], axis=1),
        n("MatMul", ["flat2", "fc"], ["logits"]),
        n("Softmax", ["logits"], ["y"]),
        n("Conv", ["x1d", "w_1d"], ["c1d"], pads=[2, 1], dilations=[2]),
    ]
    inputs = [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 4, 9, 7]),
              helper.make_tensor_value_info("x1d", TensorProto.FLOAT, ["N", 2, 11])]
    outputs = [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 5]),
               helper.make_tensor_value_info("c1d", TensorProto.FLOAT, ["N", 3, 10])]
    return make_model(nodes, inputs, outputs, inits)


def variant_feeds(batch: int, seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {"x": rng.normal(size=(batch, 4, 9, 7)).astype(np.float32), "x1d": rng.normal(size=(batch, 2, 11)).astype(np.float32)}


@pytest.mark.parametrize("rounding", ["half_even", "half_up"])
def test_gpu_engine_equals_golden_on_op_variants(rounding):
    qdq, _ = quantize_graph(import_model(variants_model(), "variants"), variant_feeds(64, 0), QuantConfig())
    graph = lower_model(qdq, options=LowerOptions(rounding=rounding))
    fixed_ops = {n.op for n in graph.nodes if n.domain == FIXED_DOMAIN}
    assert {"QConv", "QMaxPool", "QAveragePool", "QConcat", "QMul", "QPad", "QConvTranspose", "QGlobalMaxPool",
            "QGlobalAveragePool", "QAdd", "QMatMul", "QLut"} <= fixed_ops
    assert_same(graph, variant_feeds(33, 1))


@pytest.mark.parametrize("name, shape", [("conv_variants", (2, 17, 13)), ("resnet_bn_view", (3, 16, 16))])
def test_gpu_engine_equals_golden_on_torch_exported_models(name, shape):
    graph = load_model(MODELS.parent / "tests" / "data" / f"{name}.onnx")
    rng = np.random.default_rng(3)
    qdq, _ = quantize_graph(graph, {"input": rng.normal(size=(64,) + shape).astype(np.float32)}, QuantConfig())
    assert_same(lower_model(qdq), {"input": rng.normal(size=(19,) + shape).astype(np.float32)})


# -- single nodes: the corners of the requantization contract and of the kernels -----------------------


def one_node(op: str, inputs: dict[str, np.ndarray], out_quant: QuantParams | None, initializers=None, **attrs) -> Graph:
    names = tuple(inputs) + tuple(initializers or {})
    node = Node(op, op, names, ("y",), attrs, FIXED_DOMAIN)
    infos = tuple(TensorInfo(k, v.shape, str(v.dtype)) for k, v in inputs.items())
    out = TensorInfo("y", None, "int64", out_quant)
    return Graph("one", (node,), infos, (out,), dict(initializers or {}), {"y": out})


def q(bits: int, signed: bool = True) -> QuantParams:
    return QuantParams(np.ones(1), np.zeros(1, np.int64), bits, signed)


@pytest.mark.parametrize("rounding", ["half_even", "half_up"])
def test_requant_per_channel_with_left_shifts_ties_and_huge_shifts(rounding):
    rng = np.random.default_rng(0)
    x = rng.integers(-(1 << 12), 1 << 12, size=(5, 3, 7, 2)).astype(np.int32)
    x[0, :, 0, :] = 4 * np.arange(-5, 7, 2).reshape(3, 2) - 9  # (x + 9) * 3 / 8 and (x + 9) * 5 / 2 are exact ties
    x[1, :, 5, :] = np.arange(-5, 7, 2).reshape(3, 2) - 9
    rq = Requant(np.array([3, -1, 1, 7, 1, 5, 2]), np.array([3, -3, 0, 64, 70, 1, 20]), 30000, 0, 60000, rounding)
    graph = one_node("QRequant", {"x": x}, q(16, signed=False), x_zero_point=-9, requant=rq, channel_axis=2)
    golden = assert_same(graph, {"x": x})
    assert golden["y"].dtype == np.uint16 and len(np.unique(golden["y"])) > 100


def test_requant_shifts_of_63_and_64_at_the_int64_limit():
    big = (1 << 61) - 1  # x = 3 * big is about 0.75 * 2**63: rounds to +-1 at shift 63, to 0 from shift 64 on
    x = np.array([[big, big], [-big, -big], [5, 5]], np.int64)
    rq = Requant(np.array([3, 3]), np.array([63, 64]), 0, -128, 127)
    golden = assert_same(one_node("QRequant", {"x": x}, q(8), requant=rq, channel_axis=1), {"x": x})
    np.testing.assert_array_equal(golden["y"], [[1, 0], [-1, 0], [0, 0]])


@pytest.mark.parametrize("multiplier, shift, message", [(1 << 40, 0, r"acc_bits \+ mult_bits"), (3, -60, "must fit in int64")])
def test_requant_overflow_raises_as_golden(multiplier, shift, message):
    x = np.array([[1 << 30, -5]], np.int64)
    graph = one_node("QRequant", {"x": x}, q(8), requant=Requant(np.array([multiplier]), np.array([shift]), 0, -128, 127))
    with pytest.raises(QuantizationError, match=message) as golden:
        run_golden(graph, {"x": x})
    with pytest.raises(QuantizationError) as gpu:
        run_gpu(graph, {"x": x}, device="cpu")
    assert str(gpu.value) == str(golden.value)


@pytest.mark.parametrize("acc_bits", [54, 60])  # 54: one float64 GEMM; 60: no exact float, the host kernel
def test_matmul_with_wide_accumulators(acc_bits):
    rng = np.random.default_rng(1)
    k = 4096  # |acc| up to 2**42: float32 would drop bits, float64 must not
    x = rng.integers(-(1 << 15), 1 << 15, size=(6, k)).astype(np.int16)
    w = np.full((k, 4), 32767, np.int16)
    w[:, 1], w[:, 2] = rng.integers(-(1 << 15), 1 << 15, size=(2, k))
    w[: k // 2, 3] = -32768
    bias = rng.integers(-(1 << 30), 1 << 30, size=4).astype(np.int32)
    x[:, ::2] = 32767  # half the terms at the maximum: |acc| near 2**41 in column 0
    rq = Requant(np.array([1, 3, 5, 7]), np.array([28, 29, 30, 31]), 0, -32768, 32767, "half_up")
    graph = one_node("QMatMul", {"x": x}, q(16), {"w": w, "b": bias}, x_zero_point=-3, w_zero_point=np.array([0, 2, -1, 0]),
                     acc_bits=acc_bits, requant=rq)
    golden = assert_same(graph, {"x": x})
    assert np.abs(golden["y"]).max() > 1000


def test_conv3d_grouped_and_conv_transpose_1d_with_weight_zero_points():
    rng = np.random.default_rng(2)
    x = rng.integers(0, 256, size=(3, 4, 5, 6, 7)).astype(np.uint8)
    w = rng.integers(-8, 8, size=(6, 2, 2, 3, 2)).astype(np.int8)
    rq = Requant(rng.integers(1 << 14, 1 << 15, size=6), np.full(6, 20), 3, -128, 127)
    conv = one_node("QConv", {"x": x}, q(8), {"w": w, "b": rng.integers(-999, 999, 6).astype(np.int32)}, group=2,
                    strides=[1, 2, 2], dilations=[2, 1, 2], pads=[1, 0, 2, 0, 1, 1], x_zero_point=128,
                    w_zero_point=np.arange(6) - 3, acc_bits=30, requant=rq)
    assert run_golden(conv, {"x": x})["y"].shape == (3, 6, 4, 3, 4)
    assert_same(conv, {"x": x})
    x1 = rng.integers(-128, 128, size=(2, 4, 9)).astype(np.int8)
    wt = rng.integers(-8, 8, size=(4, 3, 3)).astype(np.int8)  # 2 groups of 2 inputs -> 3 outputs each
    convt = one_node("QConvTranspose", {"x": x1}, None, {"w": wt}, group=2, strides=[3], dilations=[2], pads=[2, 1],
                     output_spatial=[28], x_zero_point=5, w_zero_point=np.array([1, 0, -1, 2, 0, 0]), acc_bits=30, requant=None)
    assert run_golden(convt, {"x": x1})["y"].dtype == np.int32  # raw accumulators
    assert_same(convt, {"x": x1})


def test_quantize_and_dequantize_boundaries_ties_saturation_and_per_axis():
    ties = (np.arange(-38, 38) + 0.5).astype(np.float32) * np.float32(0.25)  # x / 0.25 is exactly k + 1/2
    x = np.concatenate([ties, [np.inf, -np.inf, 1e30, -1e30, 0.0, -0.0, 1e-30, 0.37]]).astype(np.float32).reshape(4, 3, 7)
    inits = {"s": np.array(0.25, np.float32), "z": np.array(3, np.int8),
             "sa": np.array([0.25, 0.5, 0.1], np.float32), "za": np.array([0, 128, 255], np.uint8)}
    nodes = (Node("q", "QuantizeLinear", ("x", "s", "z"), ("q",)), Node("d", "DequantizeLinear", ("q", "s", "z"), ("d",)),
             Node("qa", "QuantizeLinear", ("x64", "sa", "za"), ("qa",), {"axis": 1}),
             Node("da", "DequantizeLinear", ("qa", "sa", "za"), ("da",), {"axis": -2}))
    graph = Graph("boundary", nodes, (TensorInfo("x", x.shape), TensorInfo("x64", x.shape, "float64")),
                  (TensorInfo("d", x.shape), TensorInfo("da", x.shape)), inits)
    golden = assert_same(graph, {"x": x, "x64": x.astype(np.float64) * 3})
    assert golden["q"].dtype == np.int8 and golden["qa"].dtype == np.uint8 and golden["da"].dtype == np.float32
    assert np.all((golden["q"].reshape(-1)[:76].astype(int) - 3) % 2 == 0)  # every tie went to the even side
    x[1, 1, 1] = np.nan
    with pytest.raises(QuantizationError) as gpu:
        run_gpu(graph, {"x": x, "x64": x.astype(np.float64)}, device="cpu")
    with pytest.raises(QuantizationError, match="NaN") as gold:
        run_golden(graph, {"x": x, "x64": x.astype(np.float64)})
    assert str(gpu.value) == str(gold.value)


def test_data_movers_on_the_device():
    x = np.arange(2 * 3 * 4, dtype=np.int64).reshape(2, 3, 4) - 11
    rq = Requant(np.array([1]), np.array([0]), 0, -128, 127)
    nodes = (Node("r", "QRequant", ("x",), ("a",), {"requant": rq}, FIXED_DOMAIN),
             Node("t", "Transpose", ("a",), ("b",), {"perm": [2, 0, 1]}),
             Node("g", "Gather", ("b", "idx"), ("c",), {"axis": 2}),
             Node("u", "Unsqueeze", ("c", "ax"), ("d",)),
             Node("s", "Reshape", ("d", "shape"), ("e",)),
             Node("sq", "Squeeze", ("e",), ("f",)),
             Node("fl", "Flatten", ("f",), ("y",), {"axis": -1}))
    inits = {"idx": np.array([[-1, 0], [2, 2]]), "ax": np.array([0]), "shape": np.array([0, -1, 1, 2])}
    graph = Graph("movers", nodes, (TensorInfo("x", x.shape, "int64"),), (TensorInfo("y", None, "int8"),), inits,
                  {"a": TensorInfo("a", None, "int8", q(8))})
    golden = assert_same(graph, {"x": x})
    assert golden["y"].shape == (16, 2) and golden["y"].dtype == np.int8
    engine = GpuEngine(graph, "cpu")  # reused: constants cached, another batch
    x2 = -x[:, ::-1].copy()
    np.testing.assert_array_equal(engine.run({"x": x2})["y"], run_golden(graph, {"x": x2})["y"])


# -- errors, CLI, CUDA -------------------------------------------------------------------------------------


def test_errors_are_typed_and_clear(monkeypatch):
    graph, feeds = quantized("mlp")
    with pytest.raises(ModelError, match="missing input 'input'"):
        run_gpu(graph, {}, device="cpu")
    with pytest.raises(QuantizationError, match="not quantized"):
        run_gpu(load_model(MODELS / "mlp.onnx"), feeds, device="cpu")
    with pytest.raises(HwaccelError, match="device must be a torch device such as 'cuda' or 'cpu', not 'gpu0'"):
        run_gpu(graph, feeds, device="gpu0")
    if not torch.cuda.is_available():
        with pytest.raises(HwaccelError, match="no CUDA device"):
            run_gpu(graph, feeds)
    monkeypatch.setitem(sys.modules, "torch", None)  # as if PyTorch were not installed
    with pytest.raises(HwaccelError) as missing:
        run_gpu(graph, feeds, device="cpu")
    assert str(missing.value) == INSTALL_HINT == "the gpu engine needs PyTorch with CUDA: pip install 'hwaccel[gpu]'"


def test_run_command_with_the_gpu_engine(tmp_path):
    calib, x = zoo_data("cnn")
    qdq, _ = quantize_graph(load_model(MODELS / "cnn.onnx"), {"input": calib}, QuantConfig())
    onnx.save(qdq, tmp_path / "cnn.qdq.onnx")
    np.save(tmp_path / "x.npy", x)
    gpu = run_model(tmp_path / "cnn.qdq.onnx", tmp_path / "x.npy", "gpu", device="cpu").outputs
    golden = run_model(tmp_path / "cnn.qdq.onnx", tmp_path / "x.npy", "golden").outputs
    for key in golden:
        np.testing.assert_array_equal(gpu[key], golden[key])


@pytest.mark.gpu
@pytest.mark.parametrize("name", ["cnn", "resnet", "dscnn", "generator", "lstm"])
def test_gpu_engine_equals_golden_on_cuda(name):
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device: torch.cuda.is_available() is False")
    graph, feeds = quantized(name, QuantConfig(weight_bits=16, act_bits=16) if name == "resnet" else QuantConfig())
    assert_same(graph, feeds, device="cuda")
    qdq, _ = quantize_graph(import_model(variants_model(), "variants"), variant_feeds(64, 0), QuantConfig())
    assert_same(lower_model(qdq), variant_feeds(257, 1), device="cuda")
