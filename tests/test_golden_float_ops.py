"""Float kernels and the float executor against onnxruntime and the ONNX reference evaluator.

Each case describes one node once; the same attributes build the ONNX model the references run
and the IR node our kernel runs. The ONNX node conformance suite (tests/test_golden_conformance.py)
adds the spec's own examples on top of these grids.
"""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import helper, numpy_helper
from onnx.reference import ReferenceEvaluator

from hwaccel.errors import ModelError, UnsupportedOpError
from hwaccel.frontend.onnx_import import import_model
from hwaccel.golden.float_executor import FLOAT_KERNELS, run_float, run_node_float
from hwaccel.ir.graph import Graph, Node, TensorInfo

RNG = np.random.default_rng(1234)


def _randn(*shape: int, dtype=np.float32) -> np.ndarray:
    return RNG.normal(size=shape).astype(dtype)


def _model(op: str, feeds: dict, attrs: dict, n_out: int, opset: int) -> onnx.ModelProto:
    onnx_attrs = {k: numpy_helper.from_array(v) if isinstance(v, np.ndarray) else v for k, v in attrs.items()}
    node = helper.make_node(op, [k if v is not None else "" for k, v in feeds.items()], [f"y{i}" for i in range(n_out)], **onnx_attrs)
    inputs = [helper.make_tensor_value_info(k, helper.np_dtype_to_tensor_dtype(v.dtype), v.shape)
              for k, v in feeds.items() if v is not None]
    outputs = [helper.make_value_info(f"y{i}", onnx.TypeProto()) for i in range(n_out)]
    model = helper.make_model(helper.make_graph([node], "t", inputs, outputs), opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 8
    return onnx.shape_inference.infer_shapes(model)


def _ort(op: str, feeds: dict, attrs: dict, n_out: int = 1, opset: int = 17) -> list[np.ndarray]:
    session = ort.InferenceSession(_model(op, feeds, attrs, n_out, opset).SerializeToString(), providers=["CPUExecutionProvider"])
    return session.run(None, {k: v for k, v in feeds.items() if v is not None})


def _reference(op: str, feeds: dict, attrs: dict, n_out: int = 1, opset: int = 19) -> list[np.ndarray]:
    return ReferenceEvaluator(_model(op, feeds, attrs, n_out, opset)).run(None, {k: v for k, v in feeds.items() if v is not None})


def _ours(op: str, feeds: dict, attrs: dict, n_out: int = 1, opset: int | None = None) -> list[np.ndarray]:
    node = Node("n", op, tuple(k if v is not None else "" for k, v in feeds.items()), tuple(f"y{i}" for i in range(n_out)), attrs)
    return run_node_float(node, list(feeds.values()), opset)[:n_out]


def _same(ours: list[np.ndarray], theirs: list[np.ndarray], rtol: float = 1e-5, atol: float = 1e-6) -> None:
    assert len(ours) == len(theirs)
    for a, b in zip(ours, theirs):
        assert a.dtype == b.dtype and a.shape == b.shape, (a.dtype, a.shape, b.dtype, b.shape)
        np.testing.assert_allclose(a, b, rtol=rtol, atol=atol)


def _check_ort(op: str, feeds: dict, attrs: dict, n_out: int = 1, opset: int = 17, **tol) -> None:
    _same(_ours(op, feeds, attrs, n_out, opset), _ort(op, feeds, attrs, n_out, opset), **tol)


CONV = {
    "plain": ((2, 3, 9, 9), (4, 3, 3, 3), {}),
    "strides_asym_pads": ((2, 3, 9, 8), (4, 3, 3, 2), {"strides": [2, 1], "pads": [1, 0, 2, 1]}),
    "dilations": ((1, 2, 10, 10), (3, 2, 3, 3), {"dilations": [2, 3], "pads": [2, 1, 2, 3]}),
    "groups": ((2, 6, 8, 8), (9, 2, 3, 3), {"group": 3, "pads": [1, 1, 1, 1]}),
    "depthwise_x2": ((2, 4, 7, 7), (8, 1, 3, 3), {"group": 4, "strides": [2, 2]}),
    "same_upper": ((1, 2, 8, 7), (3, 2, 4, 3), {"auto_pad": "SAME_UPPER", "strides": [2, 2]}),
    "same_lower": ((1, 2, 8, 7), (3, 2, 4, 3), {"auto_pad": "SAME_LOWER", "strides": [3, 2]}),
    "valid": ((1, 2, 8, 7), (3, 2, 3, 3), {"auto_pad": "VALID", "strides": [2, 2]}),
    "1d": ((2, 3, 10), (5, 3, 4), {"strides": [3], "pads": [1, 2]}),
    "3d": ((1, 2, 5, 6, 7), (3, 2, 2, 3, 2), {"pads": [1, 0, 1, 0, 1, 1], "strides": [1, 2, 2]}),
}


@pytest.mark.parametrize("bias", [False, True])
@pytest.mark.parametrize("name", list(CONV))
def test_conv_matches_onnxruntime(name, bias):
    x_shape, w_shape, attrs = CONV[name]
    feeds = {"x": _randn(*x_shape), "w": _randn(*w_shape), "b": _randn(w_shape[0]) if bias else None}
    _check_ort("Conv", feeds, attrs, atol=1e-5)


CONV_TRANSPOSE = {
    "strides_pads_outpad": ((1, 3, 4, 4), (3, 2, 3, 3), {"strides": [2, 2], "pads": [1, 0, 1, 1], "output_padding": [1, 1]}),
    "groups_dilations": ((2, 4, 3, 3), (4, 3, 3, 2), {"group": 2, "dilations": [2, 1], "strides": [1, 2]}),
    "1d": ((2, 2, 5), (2, 3, 4), {"strides": [3], "pads": [2, 1]}),
    "3d": ((1, 2, 2, 3, 2), (2, 2, 2, 2, 3), {"strides": [2, 1, 2]}),
}


@pytest.mark.parametrize("name", list(CONV_TRANSPOSE))
def test_conv_transpose_matches_onnxruntime(name):
    x_shape, w_shape, attrs = CONV_TRANSPOSE[name]
    feeds = {"x": _randn(*x_shape), "w": _randn(*w_shape), "b": _randn(w_shape[1] * attrs.get("group", 1))}
    _check_ort("ConvTranspose", feeds, attrs, atol=1e-5)


@pytest.mark.parametrize("attrs", [
    {"output_shape": [9, 10], "strides": [2, 3]},
    {"auto_pad": "SAME_UPPER", "strides": [2, 2]},
    {"auto_pad": "SAME_LOWER", "strides": [3, 2]},
])
def test_conv_transpose_output_shape_matches_reference(attrs):
    feeds = {"x": _randn(1, 2, 4, 3), "w": _randn(2, 3, 3, 3)}
    _same(_ours("ConvTranspose", feeds, attrs), _reference("ConvTranspose", feeds, attrs), atol=1e-5)


@pytest.mark.parametrize("trans_a,trans_b,alpha,beta,c_shape", [
    (0, 0, 1.0, 1.0, None), (1, 0, 0.5, 2.0, (5,)), (0, 1, 1.0, -1.0, (4, 1)), (1, 1, 2.0, 0.5, (4, 5)), (0, 0, 1.0, 3.0, ()),
])
def test_gemm_matches_onnxruntime(trans_a, trans_b, alpha, beta, c_shape):
    a = _randn(3, 4) if trans_a else _randn(4, 3)
    b = _randn(5, 3) if trans_b else _randn(3, 5)
    feeds = {"a": a, "b": b, "c": None if c_shape is None else _randn(*c_shape)}
    _check_ort("Gemm", feeds, {"transA": trans_a, "transB": trans_b, "alpha": alpha, "beta": beta})


@pytest.mark.parametrize("a,b", [((3, 4), (4, 5)), ((2, 1, 3, 4), (5, 4, 6)), ((4,), (2, 4, 3)), ((2, 3, 4), (4,))])
def test_matmul_broadcasts_like_onnxruntime(a, b):
    _check_ort("MatMul", {"a": _randn(*a), "b": _randn(*b)}, {})


POOLS = {
    "pads_strides": ((2, 3, 9, 9), {"kernel_shape": [3, 3], "strides": [2, 2], "pads": [1, 1, 1, 1]}),
    "ceil": ((1, 2, 6, 7), {"kernel_shape": [3, 2], "strides": [2, 2], "ceil_mode": 1}),
    "ceil_pads": ((1, 2, 7, 7), {"kernel_shape": [3, 3], "strides": [2, 2], "pads": [1, 1, 0, 0], "ceil_mode": 1}),
    "dilations": ((1, 2, 9, 9), {"kernel_shape": [2, 2], "dilations": [2, 3], "pads": [1, 0, 1, 1]}),
    "same_upper": ((1, 2, 7, 6), {"kernel_shape": [3, 3], "strides": [2, 2], "auto_pad": "SAME_UPPER"}),
    "same_lower": ((1, 2, 7, 6), {"kernel_shape": [2, 3], "strides": [2, 2], "auto_pad": "SAME_LOWER"}),
    "1d": ((2, 3, 11), {"kernel_shape": [3], "strides": [2], "pads": [1, 1]}),
    "3d": ((1, 2, 5, 6, 4), {"kernel_shape": [2, 3, 2], "strides": [2, 2, 1], "pads": [0, 1, 1, 1, 1, 0]}),
}


@pytest.mark.parametrize("name", list(POOLS))
def test_max_pool_matches_onnxruntime(name):
    shape, attrs = POOLS[name]
    _check_ort("MaxPool", {"x": _randn(*shape)}, attrs, opset=19)


@pytest.mark.parametrize("storage_order", [0, 1])
@pytest.mark.parametrize("name", ["pads_strides", "ceil_pads", "dilations"])
def test_max_pool_indices_match_onnxruntime(name, storage_order):
    shape, attrs = POOLS[name]
    _check_ort("MaxPool", {"x": _randn(*shape)}, {**attrs, "storage_order": storage_order}, n_out=2, opset=19)


def test_max_pool_uint8_pads_never_win():
    x = RNG.integers(0, 4, size=(2, 3, 6, 6)).astype(np.uint8)
    _check_ort("MaxPool", {"x": x}, {"kernel_shape": [3, 3], "pads": [1, 1, 1, 1], "strides": [2, 2]}, n_out=2, opset=19)


@pytest.mark.parametrize("count_include_pad", [0, 1])
@pytest.mark.parametrize("name", list(POOLS))
def test_average_pool_matches_onnxruntime(name, count_include_pad):
    shape, attrs = POOLS[name]
    _check_ort("AveragePool", {"x": _randn(*shape)}, {**attrs, "count_include_pad": count_include_pad}, opset=19)


@pytest.mark.parametrize("op", ["GlobalAveragePool", "GlobalMaxPool"])
def test_global_pools(op):
    _check_ort(op, {"x": _randn(3, 4, 5, 6)}, {})


@pytest.mark.parametrize("op,attrs", [
    ("Relu", {}), ("LeakyRelu", {"alpha": 0.3}), ("Sigmoid", {}), ("HardSigmoid", {"alpha": 0.3, "beta": 0.4}), ("Tanh", {}),
])
def test_activations_match_onnxruntime(op, attrs):
    x = np.concatenate([_randn(50) * 4, np.array([-1000, -88, -30, 0, 30, 88, 1000], np.float32)])
    _check_ort(op, {"x": x}, attrs)


def test_sigmoid_keeps_float64_precision_without_overflow():
    x = np.array([-800.0, -40.0, 0.0, 40.0, 800.0])
    with np.errstate(over="raise", divide="raise", invalid="raise"):
        (y,) = _ours("Sigmoid", {"x": x}, {})
    np.testing.assert_allclose(y, [np.exp(-800.0), np.exp(-40.0) / (1 + np.exp(-40.0)), 0.5, 1 / (1 + np.exp(-40.0)), 1.0], rtol=1e-15)


@pytest.mark.parametrize("lo,hi", [(-0.5, None), (None, 0.25), (-0.5, 0.7), (1.0, -1.0)])
def test_clip_inputs_and_attributes(lo, hi):
    x = _randn(4, 5)
    feeds = {"x": x, "lo": None if lo is None else np.array(lo, np.float32), "hi": None if hi is None else np.array(hi, np.float32)}
    _check_ort("Clip", feeds, {}, opset=13)
    attrs = {k: v for k, v in (("min", lo), ("max", hi)) if v is not None}  # opset < 11 form
    expected = np.minimum(np.maximum(x, -np.inf if lo is None else lo), np.inf if hi is None else hi)
    np.testing.assert_array_equal(_ours("Clip", {"x": x}, attrs)[0], expected)


@pytest.mark.parametrize("shape,axis", [((2, 3, 4, 5), 1), ((2, 3, 4, 5), -2), ((3, 7), 0)])
@pytest.mark.parametrize("opset", [11, 13])
def test_softmax_axis_semantics_per_opset(shape, axis, opset):
    _check_ort("Softmax", {"x": _randn(*shape) * 5}, {"axis": axis}, opset=opset)


def test_softmax_default_axis_differs_before_opset_13():
    x = _randn(2, 3, 4)
    legacy, current = _ours("Softmax", {"x": x}, {}, opset=11)[0], _ours("Softmax", {"x": x}, {}, opset=13)[0]
    np.testing.assert_allclose(legacy.sum(axis=(1, 2)), 1.0, rtol=1e-6)
    np.testing.assert_allclose(current.sum(axis=-1), 1.0, rtol=1e-6)


@pytest.mark.parametrize("shape", [(4, 3), (2, 3, 5, 5)])
def test_batch_normalization_inference(shape):
    c = shape[1]
    feeds = {"x": _randn(*shape), "s": _randn(c), "b": _randn(c), "m": _randn(c), "v": RNG.uniform(0.5, 2, c).astype(np.float32)}
    _check_ort("BatchNormalization", feeds, {"epsilon": 1e-3})


@pytest.mark.parametrize("op", ["Add", "Sub", "Mul"])
@pytest.mark.parametrize("dtype", [np.float32, np.int32])
def test_binary_ops_broadcast(op, dtype):
    feeds = {"a": (_randn(3, 1, 5) * 10).astype(dtype), "b": (_randn(4, 1) * 10).astype(dtype)}
    _check_ort(op, feeds, {})


SHAPE_CASES = [
    ("Concat", {"a": _randn(2, 3), "b": _randn(2, 1)}, {"axis": -1}, 13),
    ("Flatten", {"x": _randn(2, 3, 4)}, {"axis": 0}, 13),
    ("Flatten", {"x": _randn(2, 3, 4)}, {"axis": -1}, 13),
    ("Reshape", {"x": _randn(2, 3, 4), "s": np.array([0, -1, 2], np.int64)}, {}, 14),
    ("Reshape", {"x": _randn(0, 3), "s": np.array([3, 0], np.int64)}, {"allowzero": 1}, 14),
    ("Transpose", {"x": _randn(2, 3, 4)}, {}, 13),
    ("Transpose", {"x": _randn(2, 3, 4)}, {"perm": [1, 2, 0]}, 13),
    ("Squeeze", {"x": _randn(1, 3, 1, 2)}, {"axes": [0, -2]}, 11),
    ("Squeeze", {"x": _randn(1, 3, 1, 2), "axes": np.array([2], np.int64)}, {}, 13),
    ("Squeeze", {"x": _randn(1, 3, 1, 2)}, {}, 13),
    ("Unsqueeze", {"x": _randn(3, 2)}, {"axes": [0, 3]}, 11),
    ("Unsqueeze", {"x": _randn(3, 2), "axes": np.array([-1, 1], np.int64)}, {}, 13),
    ("Gather", {"x": _randn(3, 4, 2), "i": np.array([[0, -1], [2, 1]], np.int64)}, {"axis": 1}, 13),
    ("Shape", {"x": _randn(2, 3, 4, 5)}, {"start": 1, "end": -1}, 15),
    ("Shape", {"x": _randn(2, 3)}, {"start": -9}, 15),
    ("Cast", {"x": np.array([-2.7, -0.5, 0.0, 1.5, 3.9], np.float32)}, {"to": onnx.TensorProto.INT32}, 13),
    ("Cast", {"x": _randn(7)}, {"to": onnx.TensorProto.FLOAT16}, 13),
    ("Cast", {"x": np.array([0, 3, -1], np.int64)}, {"to": onnx.TensorProto.BOOL}, 13),
    ("ConstantOfShape", {"s": np.array([2, 3], np.int64)}, {"value": np.array([7], np.int64)}, 13),
    ("ConstantOfShape", {"s": np.array([4], np.int64)}, {}, 13),
    ("Pad", {"x": _randn(2, 3, 4), "p": np.array([0, 1, 2, 0, 2, 1], np.int64), "v": np.array(1.5, np.float32)}, {}, 13),
    ("Pad", {"x": _randn(2, 3, 4), "p": np.array([0, 2, 2, 0, 1, 3], np.int64)}, {"mode": "reflect"}, 13),
    ("Pad", {"x": _randn(2, 3, 4), "p": np.array([1, 1, 0, 0, 2, 3], np.int64)}, {"mode": "edge"}, 13),
    ("Pad", {"x": _randn(2, 3, 4), "p": np.array([0, -1, 1, 0, 2, -2], np.int64)}, {}, 13),
    ("Pad", {"x": _randn(2, 3, 4), "p": np.array([1, 2, 3, 1], np.int64), "v": None, "a": np.array([-1, 0], np.int64)}, {}, 18),
]


@pytest.mark.parametrize("op,feeds,attrs,opset", SHAPE_CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(SHAPE_CASES)])
def test_shape_ops_match_onnxruntime(op, feeds, attrs, opset):
    _check_ort(op, feeds, attrs, opset=opset)


def test_pad_attribute_form_and_identity_like_ops():
    x = _randn(2, 3)
    expected = np.pad(x, [(1, 0), (0, 2)], constant_values=-1.0)
    np.testing.assert_array_equal(_ours("Pad", {"x": x}, {"pads": [1, 0, 0, 2], "value": -1.0})[0], expected)
    assert _ours("Identity", {"x": x}, {})[0] is x
    y, mask = _ours("Dropout", {"x": x, "r": np.array(0.5, np.float32)}, {}, n_out=2)
    assert y is x and mask.dtype == bool and mask.all()
    with pytest.raises(ModelError, match="training_mode must be false"):
        _ours("Dropout", {"x": x, "r": np.array(0.5, np.float32), "t": np.array(True)}, {})


RESIZE_TRANSFORMS = ["half_pixel", "half_pixel_symmetric", "pytorch_half_pixel", "align_corners", "asymmetric"]


@pytest.mark.parametrize("nearest_mode", ["round_prefer_floor", "round_prefer_ceil", "floor", "ceil"])
@pytest.mark.parametrize("transform", RESIZE_TRANSFORMS)
@pytest.mark.parametrize("scales", [[1, 1, 2.0, 1.5], [1, 1, 0.6, 0.8]])
def test_resize_nearest_matches_reference(transform, nearest_mode, scales):
    feeds = {"x": _randn(1, 2, 5, 6), "roi": None, "scales": np.array(scales, np.float32)}
    attrs = {"mode": "nearest", "coordinate_transformation_mode": transform, "nearest_mode": nearest_mode}
    _same(_ours("Resize", feeds, attrs), _reference("Resize", feeds, attrs))


@pytest.mark.parametrize("mode", ["linear", "cubic"])
@pytest.mark.parametrize("transform", RESIZE_TRANSFORMS)
@pytest.mark.parametrize("sizes", [[1, 2, 9, 4], [2, 1, 3, 11]])
def test_resize_linear_cubic_sizes_match_reference(mode, transform, sizes):
    feeds = {"x": _randn(2, 2, 5, 6), "roi": None, "scales": None, "sizes": np.array(sizes, np.int64)}
    _same(_ours("Resize", feeds, {"mode": mode, "coordinate_transformation_mode": transform}),
          _reference("Resize", feeds, {"mode": mode, "coordinate_transformation_mode": transform}), atol=1e-5)


@pytest.mark.parametrize("attrs,scales", [
    ({"mode": "nearest", "coordinate_transformation_mode": "asymmetric", "nearest_mode": "floor"}, [1, 1, 2, 3]),
    ({"mode": "nearest"}, [1, 1, 1.5, 2.5]),
    ({"mode": "linear"}, [1, 1, 2, 0.5]),
    ({"mode": "linear", "coordinate_transformation_mode": "align_corners"}, [1, 1, 2, 2]),
    ({"mode": "cubic", "coordinate_transformation_mode": "pytorch_half_pixel"}, [1, 1, 2, 2]),
])
def test_resize_matches_onnxruntime(attrs, scales):
    feeds = {"x": _randn(2, 3, 4, 6), "roi": np.zeros(0, np.float32), "scales": np.array(scales, np.float32)}
    _check_ort("Resize", feeds, attrs, opset=13, atol=1e-5)


@pytest.mark.parametrize("nearest_mode", ["round_prefer_floor", "floor", "ceil"])
def test_resize_tf_half_pixel_for_nn_matches_onnxruntime_opset_11(nearest_mode):
    """tf_half_pixel_for_nn exists only in Resize-11 (the ONNX reference evaluator dropped it)."""
    feeds = {"x": _randn(1, 2, 5, 6), "roi": np.zeros(0, np.float32), "scales": np.array([1, 1, 1.6, 0.7], np.float32)}
    _check_ort("Resize", feeds, {"coordinate_transformation_mode": "tf_half_pixel_for_nn", "nearest_mode": nearest_mode}, opset=11)


def test_upsample_nearest_repeats_and_linear_is_asymmetric():
    x = _randn(1, 2, 3, 4)
    (y,) = _ours("Upsample", {"x": x, "s": np.array([1, 1, 2, 3], np.float32)}, {"mode": "nearest"})
    np.testing.assert_array_equal(y, x.repeat(2, axis=2).repeat(3, axis=3))
    (y,) = _ours("Upsample", {"x": x, "s": np.array([1, 1, 2, 2], np.float32)}, {"mode": "linear"})
    resize_attrs = {"mode": "linear", "coordinate_transformation_mode": "asymmetric"}
    expected = _ort("Resize", {"x": x, "roi": np.zeros(0, np.float32), "s": np.array([1, 1, 2, 2], np.float32)}, resize_attrs, opset=13)
    _same([y], expected)


def _recurrent_feeds(op: str, dirs: int, hidden: int = 3, batch: int = 3, steps: int = 4, inputs: int = 2) -> dict:
    gates = {"RNN": 1, "GRU": 3, "LSTM": 4}[op]
    feeds = {"x": _randn(steps, batch, inputs), "w": _randn(dirs, gates * hidden, inputs), "r": _randn(dirs, gates * hidden, hidden),
             "b": _randn(dirs, 2 * gates * hidden), "lens": np.array([4, 2, 3][:batch], np.int32), "h0": _randn(dirs, batch, hidden)}
    if op == "LSTM":
        feeds.update(c0=_randn(dirs, batch, hidden), p=_randn(dirs, 3 * hidden))
    return feeds


@pytest.mark.parametrize("direction", ["forward", "reverse", "bidirectional"])
@pytest.mark.parametrize("op", ["RNN", "GRU", "LSTM"])
def test_recurrent_matches_onnxruntime(op, direction):
    feeds = _recurrent_feeds(op, 2 if direction == "bidirectional" else 1)
    _check_ort(op, feeds, {"hidden_size": 3, "direction": direction}, n_out=3 if op == "LSTM" else 2, atol=1e-5)


@pytest.mark.parametrize("op,attrs", [
    ("RNN", {"activations": ["LeakyRelu", "ScaledTanh"], "activation_alpha": [0.2, 0.7], "activation_beta": [1.5]}),
    ("RNN", {"clip": 0.5, "activations": ["Relu", "Tanh"]}),
    ("GRU", {"linear_before_reset": 1, "clip": 1.0}),
    ("GRU", {"activations": ["HardSigmoid", "Softsign", "Sigmoid", "Affine"], "activation_alpha": [0.3, 0.5], "activation_beta": [0.4, 0.1]}),
    ("LSTM", {"input_forget": 1}),
    ("LSTM", {"activations": ["Sigmoid", "Elu", "Softplus", "HardSigmoid", "Tanh", "ThresholdedRelu"], "clip": 2.0,
              "activation_alpha": [0.8, 0.25, 0.3], "activation_beta": [0.45]}),
])
def test_recurrent_attributes_match_onnxruntime(op, attrs):
    feeds = _recurrent_feeds(op, 2)
    _check_ort(op, feeds, {"hidden_size": 3, "direction": "bidirectional", **attrs}, n_out=3 if op == "LSTM" else 2, atol=1e-5)


@pytest.mark.parametrize("op", ["RNN", "GRU", "LSTM"])
def test_recurrent_batch_major_layout(op):
    """layout=1 (batch-major X, states and outputs) against onnxruntime on the time-major transpose."""
    feeds = _recurrent_feeds(op, 2)
    n_out = 3 if op == "LSTM" else 2
    expected = _ort(op, feeds, {"hidden_size": 3, "direction": "bidirectional"}, n_out)
    batch_major = {k: v.swapaxes(0, 1) if k in ("x", "h0", "c0") else v for k, v in feeds.items()}
    ours = _ours(op, batch_major, {"hidden_size": 3, "direction": "bidirectional", "layout": 1}, n_out)
    _same(ours, [expected[0].transpose(2, 0, 1, 3)] + [e.swapaxes(0, 1) for e in expected[1:]], atol=1e-5)


def test_kernel_errors_are_typed_and_pinned():
    with pytest.raises(ModelError, match=r"auto_pad must be one of NOTSET, SAME_UPPER, SAME_LOWER, VALID, not 'SAME'"):
        _ours("Conv", {"x": _randn(1, 1, 4, 4), "w": _randn(1, 1, 3, 3)}, {"auto_pad": "SAME"})
    with pytest.raises(ModelError, match=r"group must divide the 3 input channels, not 2"):
        _ours("Conv", {"x": _randn(1, 3, 4, 4), "w": _randn(2, 1, 3, 3)}, {"group": 2})
    with pytest.raises(ModelError, match=r"mode must be one of nearest, linear, cubic, not 'area'"):
        _ours("Resize", {"x": _randn(1, 1, 2, 2), "roi": None, "scales": np.ones(4, np.float32)}, {"mode": "area"})
    with pytest.raises(UnsupportedOpError, match="Erf"):
        run_node_float(Node("e", "Erf", ("x",), ("y",)), [_randn(3)])


def _tiny_graph(nodes, opset: int = 17) -> Graph:
    x = TensorInfo("x", ("N", 3), "float32")
    return Graph("tiny", tuple(nodes), (x,), (TensorInfo("y", ("N", 3), "float32"),), {"k": np.ones(3, np.float32)}, {}, opset)


def test_run_float_feeds_outputs_and_errors():
    graph = _tiny_graph([Node("add", "Add", ("x", "k"), ("t",)), Node("relu", "Relu", ("t",), ("y",))])
    x = _randn(5, 3)
    out = run_float(graph, {"x": x.astype(np.float64)}, outputs=["t", "y"])
    assert out["y"].dtype == np.float32
    np.testing.assert_array_equal(out["t"], x + 1)
    np.testing.assert_array_equal(out["y"], np.maximum(x + 1, 0))
    assert list(run_float(graph, {"x": x})) == ["y"]
    with pytest.raises(ModelError, match=r"missing input 'x'"):
        run_float(graph, {"z": x})
    with pytest.raises(ModelError, match=r"input 'x' shape must be \('N', 3\), not \(5, 4\)"):
        run_float(graph, {"x": _randn(5, 4)})
    with pytest.raises(ModelError, match=r"input 'x' element type must be float32, not complex64"):
        run_float(graph, {"x": x.astype(np.complex64)})
    with pytest.raises(ModelError, match=r"requested output 'nope' is not a value"):
        run_float(graph, {"x": x}, outputs=["nope"])
    bad = _tiny_graph([Node("a", "Erf", ("x",), ("t",)), Node("b", "Gelu", ("t",), ("y",))])
    with pytest.raises(UnsupportedOpError, match=r"2 unsupported node\(s\): a \(Erf, opset 17\), b \(Gelu, opset 17\)"):
        run_float(bad, {"x": x})


def test_run_float_uses_the_graph_opset_for_softmax():
    x = helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [2, 3, 4])
    y = helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, [2, 3, 4])
    model = helper.make_model(helper.make_graph([helper.make_node("Softmax", ["x"], ["y"])], "s", [x], [y]),
                              opset_imports=[helper.make_opsetid("", 11)])
    model.ir_version = 8
    feeds = {"x": _randn(2, 3, 4)}
    expected = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, feeds)[0]
    np.testing.assert_allclose(run_float(import_model(model), feeds)["y"], expected, rtol=1e-5, atol=1e-7)


def test_every_op_table_row_with_float_semantics_has_a_kernel():
    from hwaccel.ir.ops import OPS

    host_or_quant = {"QuantizeLinear", "DequantizeLinear", "QLinearConv", "ConvInteger", "QLinearMatMul", "MatMulInteger"}
    assert set(OPS) - host_or_quant <= set(FLOAT_KERNELS)
