"""ONNX model -> IR :class:`~hwaccel.ir.Graph`.

Validates (opset, ops, element types, onnx.checker, strict shape inference; opsets 7..10 are first
converted to 11, and the graph says so in ``converted_from``), decodes attributes,
turns Constant nodes into initializers, then runs the import passes (constant folding,
Identity/Dropout removal, BatchNormalization folding, dead-value elimination).
"""

from __future__ import annotations

import os
from dataclasses import replace
from typing import Any

import numpy as np
import onnx
import onnx.inliner  # a submodule that `import onnx` does not load
from onnx import helper, numpy_helper

from ..errors import ModelError, UnsupportedOpError
from ..ir.graph import Dim, Graph, Node, TensorInfo
from ..ir.ops import OPS
from .safe_load import MAX_MODEL_BYTES
from .skeleton import read_split, split_weights
from .validate import check_graph, check_proto

__all__ = ["MIN_OPSET", "MAX_OPSET", "CONVERTED_OPSETS", "SUPPORTED_DTYPES", "load_model", "import_model", "model_opset"]

# Opsets 11..21 are what torch and onnxruntime tools emit and what the zoo is tested with; later
# opsets only widen the element types of the ops in the op table, which the dtype check guards.
MIN_OPSET = 11
MAX_OPSET = onnx.defs.onnx_opset_version()
CONVERTED_OPSETS = range(7, MIN_OPSET)  # older files are converted to MIN_OPSET on import (onnx.version_converter)
SUPPORTED_DTYPES = frozenset(
    {"float32", "float64", "float16", "int8", "uint8", "int16", "uint16", "int32", "int64", "bool"}
)


def load_model(path: str | os.PathLike[str], max_bytes: int = MAX_MODEL_BYTES) -> Graph:
    """Read, validate and import the ONNX file at ``path``; errors name the file."""
    return _import(*read_split(path, max_bytes), str(path))  # the weights: views of the file's bytes


def import_model(model: onnx.ModelProto, where: str = "model", passes: bool = True) -> Graph:
    """Validate ``model`` and convert it to an IR graph, with the import passes applied
    (``passes=False`` returns the direct translation, for testing the passes)."""
    return _import(*split_weights(model, where), where, passes)


def _import(model: onnx.ModelProto, weights: dict[str, np.ndarray], order: tuple[str, ...], where: str,
            passes: bool = True) -> Graph:
    """Import the skeleton ``model`` (:func:`~.skeleton.split_weights`) with its large initializers
    ``weights`` (``order``: the file's initializers): onnx's converter, checker and shape inference
    see the skeleton only."""
    from ..passes.pipeline import run_import_passes

    opset = model_opset(model, where)
    converted_from = None
    if opset < MIN_OPSET:
        model, converted_from, opset = _upgrade(model, where, opset), opset, MIN_OPSET
    if model.functions:
        model = onnx.inliner.inline_local_functions(model)
    check_proto(model, where)  # structure, names, tensor bytes and dims: before anything converts a tensor
    _check_ops(model, where, opset)
    try:
        onnx.checker.check_model(model)
    except (onnx.checker.ValidationError, ValueError) as exc:
        raise ModelError(f"{where}: invalid ONNX model: {_first_line(exc)}") from None
    try:
        model = onnx.shape_inference.infer_shapes(model, check_type=True, strict_mode=True, data_prop=True)
    except (onnx.shape_inference.InferenceError, RuntimeError, ValueError) as exc:
        raise ModelError(f"{where}: shape inference failed: {_first_line(exc)}") from None
    graph = _convert(model, where, opset, weights, order)
    if converted_from is not None:
        graph = replace(graph, converted_from=converted_from)
    check_graph(graph, where)  # each op's rank, shape, attribute and QDQ requirements, before any kernel runs
    check_proto(model, where, inferred=True)  # the inferred dims: non-negative and within the ceilings
    return run_import_passes(graph) if passes else graph


def model_opset(model: onnx.ModelProto, where: str = "model") -> int:
    """The default-domain opset of ``model``, checked against the supported range."""
    versions = [o.version for o in model.opset_import if o.domain in ("", "ai.onnx")]
    if not versions:
        raise ModelError(f"{where}: model imports no default-domain opset")
    opset = int(versions[0])
    if not CONVERTED_OPSETS.start <= opset <= MAX_OPSET:
        raise ModelError(f"{where}: opset must be in {CONVERTED_OPSETS.start}..{MAX_OPSET}, not {opset}")
    return opset


def _upgrade(model: onnx.ModelProto, where: str, opset: int) -> onnx.ModelProto:
    """``model`` (default-domain opset 7..10) converted to :data:`MIN_OPSET` by onnx's version converter."""
    from onnx import version_converter

    try:
        return version_converter.convert_version(model, MIN_OPSET)
    except Exception as exc:  # the converter raises bare RuntimeErrors from C++
        raise ModelError(f"{where}: cannot convert opset {opset} to {MIN_OPSET}: {_first_line(exc)}") from None


def _check_ops(model: onnx.ModelProto, where: str, opset: int) -> None:
    unsupported = [
        (n.name, n.op_type if n.domain in ("", "ai.onnx") else f"{n.domain}.{n.op_type}", opset)
        for n in model.graph.node
        if n.domain not in ("", "ai.onnx") or n.op_type not in OPS
    ]
    if unsupported:
        raise UnsupportedOpError(unsupported, where)


def _convert(model: onnx.ModelProto, where: str, opset: int, weights: dict[str, np.ndarray], order: tuple[str, ...]) -> Graph:
    g = model.graph
    if g.sparse_initializer:
        raise ModelError(f"{where}: sparse initializers are not supported")
    found = {t.name: numpy_helper.to_array(t) for t in g.initializer} | weights
    # the file's order (the converter may add initializers: after those)
    initializers: dict[str, np.ndarray] = {name: found.pop(name) for name in order if name in found} | found
    values: dict[str, TensorInfo] = {}
    for vi in [*g.input, *g.value_info, *g.output]:
        values[vi.name] = _tensor_info(vi, where)
    nodes: list[Node] = []
    used_names: set[str] = set()
    for index, proto in enumerate(g.node):
        attrs = {a.name: _attribute(a, where, proto) for a in proto.attribute}
        if proto.op_type == "Constant":
            initializers[proto.output[0]] = _constant_value(attrs, where, proto)
            continue
        name = proto.name or f"{proto.op_type}_{index}"
        while name in used_names:
            name = f"{name}_{index}"
        used_names.add(name)
        nodes.append(Node(name, proto.op_type, tuple(proto.input), tuple(proto.output), attrs, proto.domain))
    for name, array in initializers.items():
        _check_dtype(str(array.dtype), f"{where}: initializer {name!r}")
        values[name] = TensorInfo(name, tuple(int(d) for d in array.shape), str(array.dtype))
    inputs = tuple(values[vi.name] for vi in g.input if vi.name not in initializers)
    outputs = tuple(values[vi.name] for vi in g.output)
    for info in (*inputs, *outputs):
        _check_dtype(info.dtype, f"{where}: graph value {info.name!r}")
    return Graph(
        name=g.name or os.path.splitext(os.path.basename(where))[0] or "model",
        nodes=tuple(nodes),
        inputs=inputs,
        outputs=outputs,
        initializers=initializers,
        values=values,
        opset=opset,
    )


def _tensor_info(vi: onnx.ValueInfoProto, where: str) -> TensorInfo:
    ttype = vi.type.tensor_type if vi.type.HasField("tensor_type") else None
    if ttype is None:
        raise ModelError(f"{where}: value {vi.name!r} is not a tensor (sequences and maps are not supported)")
    dtype = _np_dtype_name(ttype.elem_type)
    shape: tuple[Dim, ...] | None = None
    if ttype.HasField("shape"):
        shape = tuple(
            int(d.dim_value) if d.HasField("dim_value") else (d.dim_param or "?") for d in ttype.shape.dim
        )
    return TensorInfo(vi.name, shape, dtype)


def _np_dtype_name(elem_type: int) -> str:
    if elem_type == onnx.TensorProto.UNDEFINED:
        return "undefined"
    try:
        return str(np.dtype(helper.tensor_dtype_to_np_dtype(elem_type)))
    except (KeyError, TypeError, ValueError):
        return onnx.TensorProto.DataType.Name(elem_type).lower()


def _check_dtype(dtype: str, what: str) -> None:
    if dtype not in SUPPORTED_DTYPES and dtype != "undefined":
        raise ModelError(f"{what} element type must be one of {', '.join(sorted(SUPPORTED_DTYPES))}, not {dtype!r}")


def _attribute(attr: onnx.AttributeProto, where: str, node: onnx.NodeProto) -> Any:
    if attr.type in (onnx.AttributeProto.GRAPH, onnx.AttributeProto.GRAPHS):
        raise ModelError(f"{where}: node {node.name or node.op_type!r} has a subgraph attribute {attr.name!r}")
    value = helper.get_attribute_value(attr)
    if isinstance(value, bytes):
        return value.decode("utf-8")
    if isinstance(value, onnx.TensorProto):
        return numpy_helper.to_array(value)
    if isinstance(value, list):
        return [_attr_item(v) for v in value]
    return value


def _attr_item(value: Any) -> Any:
    if isinstance(value, bytes):
        return value.decode("utf-8")
    if isinstance(value, onnx.TensorProto):
        return numpy_helper.to_array(value)
    return value


def _constant_value(attrs: dict[str, Any], where: str, node: onnx.NodeProto) -> np.ndarray:
    if "value" in attrs:
        return np.asarray(attrs["value"])
    scalars = {"value_float": np.float32, "value_int": np.int64}
    lists = {"value_floats": np.float32, "value_ints": np.int64}
    for key, dtype in scalars.items():
        if key in attrs:
            return np.asarray(attrs[key], dtype=dtype)
    for key, dtype in lists.items():
        if key in attrs:
            return np.asarray(attrs[key], dtype=dtype)
    raise ModelError(f"{where}: Constant node {node.name or node.output[0]!r} has an unsupported value kind {sorted(attrs)}")


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
