"""Networks for the compiler tests: the zoo quantized by hwaccel, onnxruntime-quantized torch models,
and small hand-built ONNX graphs that exercise one layout rule each."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from hwaccel.frontend import load_model
from hwaccel.frontend.qdq import load_quantized, lower_model
from hwaccel.frontend.quantize import QuantConfig, quantize_graph
from hwaccel.frontend.onnx_import import import_model
from hwaccel.ir.graph import Graph

from zoo_data import MODELS, calibration, split

ZOO_COMPILED = ["mlp", "cnn", "autoencoder", "dbn", "resnet", "dscnn", "lstm"]
DATA = Path(__file__).resolve().parent / "data"
TORCH = {"conv_variants": (2, 17, 13), "resnet_bn": (3, 16, 16), "resnet_bn_view": (3, 16, 16)}


@lru_cache(maxsize=None)
def zoo_fixed(name: str, weight_bits: int = 8, act_bits: int = 8) -> Graph:
    """Zoo model ``name`` quantized by hwaccel and lowered to the fixed-point IR."""
    qdq, _ = quantize_graph(load_model(MODELS / f"{name}.onnx"), {"input": calibration(name)},
                            QuantConfig(weight_bits=weight_bits, act_bits=act_bits))
    return lower_model(qdq)


def zoo_inputs(name: str, count: int) -> np.ndarray:
    return split(name)[2][:count]


def generator_fixed() -> Graph:
    latents = np.load(MODELS / "generator_latents.npz")
    calib = latents[latents.files[0]]
    qdq, _ = quantize_graph(load_model(MODELS / "generator.onnx"), {"input": calib}, QuantConfig())
    return lower_model(qdq)


def torch_fixed(tmp: Path, name: str, flavour: str, preprocess: bool = True) -> tuple[Graph, np.ndarray]:
    """A torch-exported test model quantized by onnxruntime (BatchNorm folded by ORT's pre-processing)."""
    from ort_quant import ort_quantize

    src = DATA / f"{name}.onnx"
    if preprocess:
        from onnxruntime.quantization.shape_inference import quant_pre_process

        quant_pre_process(str(src), str(tmp / "pre.onnx"), skip_symbolic_shape=True)
        src = tmp / "pre.onnx"
    rng = np.random.default_rng(7)
    shape = TORCH[name]
    q = ort_quantize(src, tmp / "q.onnx", rng.standard_normal((64,) + shape).astype(np.float32), flavour)
    return load_quantized(q), rng.uniform(-1.5, 1.5, (24,) + shape).astype(np.float32)


# -- hand-built graphs ------------------------------------------------------------------------

def _conv(rng, name: str, x: str, y: str, cin: int, cout: int, k: tuple, **attrs) -> tuple[list, list]:
    group = attrs.get("group", 1)
    w = numpy_helper.from_array(rng.normal(0, 0.4, (cout, cin // group) + k).astype(np.float32), f"{name}.w")
    b = numpy_helper.from_array(rng.normal(0, 0.1, cout).astype(np.float32), f"{name}.b")
    return [helper.make_node("Conv", [x, f"{name}.w", f"{name}.b"], [y], name=name, kernel_shape=list(k), **attrs)], [w, b]


def _small(case: str, rng: np.random.Generator) -> tuple[onnx.ModelProto, tuple[int, ...]]:
    """One small float network per layout rule; returns the model and its input shape (no batch)."""
    nodes, inits = [], []

    def add(pair: tuple[list, list]) -> None:
        nodes.extend(pair[0])
        inits.extend(pair[1])

    relu = lambda x, y: nodes.append(helper.make_node("Relu", [x], [y]))  # noqa: E731
    if case == "pad_grouped":  # Pad folded into a grouped, dilated conv; depthwise stride-2 non-square conv
        shape = (4, 9, 10)
        pads = helper.make_node("Pad", ["input", "pads"], ["p"], mode="constant")
        nodes.append(pads)
        inits.append(numpy_helper.from_array(np.array([0, 0, 1, 2, 0, 0, 2, 1], np.int64), "pads"))
        add(_conv(rng, "c1", "p", "c1y", 4, 6, (3, 3), group=2, dilations=[2, 1]))
        relu("c1y", "r1")
        add(_conv(rng, "c2", "r1", "c2y", 6, 6, (3, 2), group=6, strides=[2, 2], pads=[1, 0, 1, 1]))
        nodes.append(helper.make_node("Flatten", ["c2y"], ["f"], axis=1))
        flat, last = 6 * 4 * 6, "f"
    elif case == "pools":  # max pool padded with ceil_mode, a table on its own, stride-1 avg pool counting pads, global max
        shape = (3, 11, 8)
        add(_conv(rng, "c1", "input", "c1y", 3, 8, (3, 3), pads=[1, 1, 1, 1]))
        relu("c1y", "r1")
        nodes.append(helper.make_node("MaxPool", ["r1"], ["m1"], kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1], ceil_mode=1))
        nodes.append(helper.make_node("Sigmoid", ["m1"], ["s1"]))
        nodes.append(helper.make_node("AveragePool", ["s1"], ["a1"], kernel_shape=[3, 3], pads=[1, 1, 1, 1], count_include_pad=1))
        nodes.append(helper.make_node("GlobalMaxPool", ["a1"], ["g1"]))
        nodes.append(helper.make_node("Flatten", ["g1"], ["f"], axis=1))
        flat, last = 8, "f"
    elif case == "concat_transpose":  # two branches joined on channels; Transpose before the Gemm
        shape = (2, 6, 6)
        add(_conv(rng, "c1", "input", "c1y", 2, 4, (3, 3), pads=[1, 1, 1, 1]))
        relu("c1y", "r1")
        add(_conv(rng, "c2", "input", "c2y", 2, 2, (1, 1)))
        relu("c2y", "r2")
        nodes.append(helper.make_node("Concat", ["r1", "r2"], ["cat"], axis=1))
        add(_conv(rng, "c3", "cat", "c3y", 6, 4, (3, 3), strides=[2, 2]))
        relu("c3y", "r3")
        nodes.append(helper.make_node("Transpose", ["r3"], ["t"], perm=[0, 3, 1, 2]))
        nodes.append(helper.make_node("Flatten", ["t"], ["f"], axis=1))
        flat, last = 4 * 2 * 2, "f"
    elif case == "inception":  # an Inception module: four branches (1x1, 3x3, 5x5, pool + 1x1) joined by one Concat
        shape = (3, 6, 6)
        add(_conv(rng, "b1", "input", "b1y", 3, 2, (1, 1)))
        add(_conv(rng, "b2", "input", "b2y", 3, 3, (3, 3), pads=[1, 1, 1, 1]))
        add(_conv(rng, "b3", "input", "b3y", 3, 2, (5, 5), pads=[2, 2, 2, 2]))
        nodes.append(helper.make_node("MaxPool", ["input"], ["b4p"], kernel_shape=[3, 3], pads=[1, 1, 1, 1]))
        add(_conv(rng, "b4", "b4p", "b4y", 3, 1, (1, 1)))
        for b in ("b1", "b2", "b3", "b4"):
            relu(f"{b}y", f"{b}r")
        nodes.append(helper.make_node("Concat", ["b1r", "b2r", "b3r", "b4r"], ["cat"], axis=1))
        add(_conv(rng, "c5", "cat", "c5y", 8, 4, (3, 3), strides=[2, 2]))
        nodes.append(helper.make_node("Flatten", ["c5y"], ["f"], axis=1))
        flat, last = 4 * 2 * 2, "f"
    elif case == "conv1d":  # 1-D convolutions and a max pool over (N, C, L)
        shape = (3, 20)
        add(_conv(rng, "c1", "input", "c1y", 3, 5, (3,), pads=[1, 1]))
        relu("c1y", "r1")
        nodes.append(helper.make_node("MaxPool", ["r1"], ["m1"], kernel_shape=[2], strides=[2]))
        add(_conv(rng, "c2", "m1", "c2y", 5, 4, (5,), dilations=[2], pads=[2, 2]))
        relu("c2y", "r2")
        nodes.append(helper.make_node("Flatten", ["r2"], ["f"], axis=1))
        flat, last = 4 * 6, "f"
    elif case == "avgpool_exclude_pad":  # average pools whose windows average 4, 6 or 9 elements: pads excluded, ceil overhang
        shape = (3, 8, 8)
        add(_conv(rng, "c1", "input", "c1y", 3, 4, (3, 3), pads=[1, 1, 1, 1]))
        relu("c1y", "r1")
        nodes.append(helper.make_node("AveragePool", ["r1"], ["a1"], kernel_shape=[3, 3], pads=[1, 1, 1, 1], count_include_pad=0))
        nodes.append(helper.make_node("AveragePool", ["a1"], ["a2"], kernel_shape=[3, 3], strides=[2, 2], ceil_mode=1))
        nodes.append(helper.make_node("Flatten", ["a2"], ["f"], axis=1))
        flat, last = 4 * 4 * 4, "f"
    elif case == "shuffle":  # ShuffleNet's unit: grouped 1x1 conv, channel shuffle (Reshape, Transpose, Reshape), depthwise
        shape = (4, 5, 5)
        add(_conv(rng, "g1", "input", "g1y", 4, 8, (1, 1), group=2))
        relu("g1y", "g1r")
        inits.append(numpy_helper.from_array(np.array([0, 2, 4, 5, 5], np.int64), "split"))
        inits.append(numpy_helper.from_array(np.array([0, 8, 5, 5], np.int64), "joined"))
        nodes.append(helper.make_node("Reshape", ["g1r", "split"], ["sp"]))
        nodes.append(helper.make_node("Transpose", ["sp"], ["tr"], perm=[0, 2, 1, 3, 4]))
        nodes.append(helper.make_node("Reshape", ["tr", "joined"], ["sh"]))
        add(_conv(rng, "dw", "sh", "dwy", 8, 8, (3, 3), group=8, pads=[1, 1, 1, 1]))
        add(_conv(rng, "g2", "dwy", "g2y", 8, 4, (1, 1), group=2))
        nodes.append(helper.make_node("Flatten", ["g2y"], ["f"], axis=1))
        flat, last = 4 * 25, "f"
    elif case == "avg_uneven":  # average pool whose border windows average fewer elements
        shape = (2, 6, 6)
        add(_conv(rng, "c1", "input", "c1y", 2, 4, (1, 1)))
        nodes.append(helper.make_node("AveragePool", ["c1y"], ["a1"], kernel_shape=[3, 3], pads=[1, 1, 1, 1], count_include_pad=0))
        nodes.append(helper.make_node("Flatten", ["a1"], ["f"], axis=1))
        flat, last = 4 * 36, "f"
    else:
        raise ValueError(case)
    inits.append(numpy_helper.from_array(rng.normal(0, 0.3, (flat, 5)).astype(np.float32), "fc.w"))
    nodes.append(helper.make_node("MatMul", [last, "fc.w"], ["output"]))
    graph = helper.make_graph(nodes, case, [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", *shape])],
                              [helper.make_tensor_value_info("output", TensorProto.FLOAT, ["N", 5])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return model, shape


SMALL = ["pad_grouped", "pools", "concat_transpose", "inception", "shuffle", "conv1d", "avgpool_exclude_pad"]


def small_fixed(case: str) -> tuple[Graph, np.ndarray]:
    """Hand-built case quantized by hwaccel; returns the fixed-point graph and test inputs."""
    rng = np.random.default_rng(11)
    model, shape = _small(case, rng)
    graph = import_model(model, case)
    calib = rng.uniform(-1, 1, (64,) + shape).astype(np.float32)
    qdq, _ = quantize_graph(graph, {"input": calib}, QuantConfig())
    return lower_model(qdq), rng.uniform(-1, 1, (16,) + shape).astype(np.float32)


def requant_fixed() -> tuple[Graph, np.ndarray]:
    """A hand-written QDQ graph whose max pool changes encoding: lowers to QMaxPool + QRequant."""
    inits = [numpy_helper.from_array(np.array(s, np.float32), n) for n, s in (("s1", 0.02), ("s2", 0.05))]
    inits += [numpy_helper.from_array(np.array(z, np.uint8), n) for n, z in (("z1", 100), ("z2", 30))]
    nodes = [helper.make_node("QuantizeLinear", ["input", "s1", "z1"], ["q1"]),
             helper.make_node("DequantizeLinear", ["q1", "s1", "z1"], ["d1"]),
             helper.make_node("MaxPool", ["d1"], ["m"], kernel_shape=[2, 2], strides=[2, 2]),
             helper.make_node("QuantizeLinear", ["m", "s2", "z2"], ["q2"]),
             helper.make_node("DequantizeLinear", ["q2", "s2", "z2"], ["output"])]
    graph = helper.make_graph(nodes, "requant", [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 3, 6, 4])],
                              [helper.make_tensor_value_info("output", TensorProto.FLOAT, ["N", 3, 3, 2])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    x = np.random.default_rng(3).uniform(-2, 6, (16, 3, 6, 4)).astype(np.float32)
    return lower_model(model, "requant"), x


def gated_dense(seed: int = 0) -> "onnx.ModelProto":
    """Gemm -> Mul (element-wise, no hardware unit) -> Gemm: a host op between hardware layers."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(seed)
    inits = [numpy_helper.from_array(rng.normal(size=s).astype(np.float32), n) for n, s in (("w1", (8, 6)), ("w2", (6, 3)))]
    nodes = [helper.make_node("Gemm", ["x", "w1"], ["a"], name="gemm1"), helper.make_node("Mul", ["a", "a"], ["g"], name="gate"),
             helper.make_node("Gemm", ["g", "w2"], ["y"], name="gemm2")]
    graph = helper.make_graph(nodes, "gated", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 8])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 3])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return model
