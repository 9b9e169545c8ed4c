"""One validation layer at import: prove what every later stage assumes, before any kernel runs.

:func:`check_proto` runs on the parsed ONNX model before anything converts a tensor: the graph
has nodes and outputs, names are printable text, every tensor's element type is supported and
its bytes match its dims, and every declared dim is non-negative and within the ceilings
(:class:`Limits`: elements per tensor and total bytes, from ``HWACCEL_MAX_TENSOR_ELEMENTS`` and
``HWACCEL_MAX_TOTAL_BYTES``). It runs again on the shapes that strict shape inference found.
:func:`check_graph` then runs each node's ``check`` rule from the op table (rank, shape and
attribute requirements, QDQ scales and zero points; :mod:`.validate_ops`, :mod:`.validate_qdq`).

Every failure is one :class:`~hwaccel.errors.ModelError` line naming the file, the node and the tensor.
"""

from __future__ import annotations

import math
import os
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Iterator

import numpy as np
import onnx
from onnx import helper

from ..errors import HwaccelError, ModelError
from ..ir.graph import Graph, Node
from ..ir.ops import row_of
from . import validate_ops, validate_qdq  # noqa: F401  (register the check rules)

__all__ = ["Limits", "MAX_TENSOR_ELEMENTS", "MAX_TOTAL_BYTES", "MAX_NAME_LENGTH", "check_proto", "check_tensor", "check_graph",
           "named"]

MAX_TENSOR_ELEMENTS = 1 << 27  # 128 Mi elements: far above a feature map of the networks hwaccel targets
MAX_TOTAL_BYTES = 4 << 30  # every tensor of one inference together
MAX_NAME_LENGTH = 1024
# op families whose inputs must not be empty (ONNX allows zero extents, e.g. for shape arithmetic)
NON_EMPTY_FAMILIES = frozenset({"conv", "pool", "recurrent", "pointwise", "eltwise", "quant"})

# ONNX element type -> (NumPy dtype, the TensorProto field holding its values when not raw_data)
_STORAGE: dict[int, tuple[str, str]] = {
    onnx.TensorProto.FLOAT: ("float32", "float_data"), onnx.TensorProto.DOUBLE: ("float64", "double_data"),
    onnx.TensorProto.FLOAT16: ("float16", "int32_data"), onnx.TensorProto.INT8: ("int8", "int32_data"),
    onnx.TensorProto.UINT8: ("uint8", "int32_data"), onnx.TensorProto.INT16: ("int16", "int32_data"),
    onnx.TensorProto.UINT16: ("uint16", "int32_data"), onnx.TensorProto.INT32: ("int32", "int32_data"),
    onnx.TensorProto.INT64: ("int64", "int64_data"), onnx.TensorProto.BOOL: ("bool", "int32_data"),
}


@dataclass(frozen=True)
class Limits:
    """Ceilings checked before anything is allocated: elements of one tensor, bytes of all tensors."""

    tensor_elements: int = MAX_TENSOR_ELEMENTS
    total_bytes: int = MAX_TOTAL_BYTES

    @classmethod
    def from_env(cls) -> "Limits":
        """The defaults, or ``HWACCEL_MAX_TENSOR_ELEMENTS`` / ``HWACCEL_MAX_TOTAL_BYTES`` where set."""
        return cls(_env_int("HWACCEL_MAX_TENSOR_ELEMENTS", MAX_TENSOR_ELEMENTS),
                   _env_int("HWACCEL_MAX_TOTAL_BYTES", MAX_TOTAL_BYTES))


def _env_int(name: str, default: int) -> int:
    text = os.environ.get(name)
    if text is None:
        return default
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value <= 0:
        raise HwaccelError(f"environment variable {name} must be a positive integer, not {text!r}")
    return value


@contextmanager
def named(where: str) -> Iterator[None]:
    """Prefix ``where`` (the file) to a :class:`HwaccelError` raised inside, unless it already names it."""
    try:
        yield
    except HwaccelError as exc:
        message = str(exc)
        if where not in message:
            exc.args = (f"{where}: {message}",)
        raise


def _name(value: object, what: str, where: str) -> str:
    """``value`` as a printable name, or a ModelError (protobuf hands non-UTF-8 text over as bytes)."""
    if not isinstance(value, str):
        raise ModelError(f"{where}: {what} must be UTF-8 text, not {value!r}"[:300])
    if len(value) > MAX_NAME_LENGTH:
        raise ModelError(f"{where}: {what} must be at most {MAX_NAME_LENGTH} characters, not {len(value)} ({value[:40]!r}...)")
    if not value.isprintable():
        raise ModelError(f"{where}: {what} must be printable text, not {value!r}")
    return value


def check_proto(model: onnx.ModelProto, where: str, limits: Limits | None = None, inferred: bool = False) -> None:
    """Structure, names, tensors and declared dims of ``model`` (``inferred``: after shape inference,
    which may have added value info; the structural checks ran before)."""
    limits = limits or Limits.from_env()
    g = model.graph
    if not inferred:
        _check_structure(g, where)
    total = 0
    tensors = [("initializer", t) for t in g.initializer]
    tensors += [(f"node {n.name or n.op_type!r} attribute {a.name!r}", t)
                for n in g.node for a in n.attribute for t in ([a.t] if a.HasField("t") else []) + list(a.tensors)]
    if not inferred:
        for what, tensor in tensors:
            total += _check_tensor(tensor, what, where, limits)
    else:
        total = sum(_tensor_bytes(t) for _, t in tensors)
    initializers = {t.name for t in g.initializer}
    for kind, vis in (("input", g.input), ("output", g.output), ("value", g.value_info)):
        for vi in vis:
            if kind == "input" and vi.name in initializers:
                continue
            total += _check_value(vi, f"graph {kind}" if kind != "value" else "value", where, limits)
    if total > limits.total_bytes:
        raise ModelError(f"{where}: the model's tensors need {total} bytes, more than the limit of {limits.total_bytes} "
                         "(HWACCEL_MAX_TOTAL_BYTES)")


def check_tensor(t: onnx.TensorProto, where: str, limits: Limits | None = None, raw: bytes | memoryview | None = None) -> int:
    """Name, element type, dims and stored size of initializer ``t`` (what :func:`check_proto`
    proves of each one); its size in bytes. ``raw``: ``t.raw_data`` where the caller holds it
    (reading the field copies it)."""
    _name(t.name, "initializer name", where)
    return _check_tensor(t, "initializer", where, limits or Limits.from_env(), raw)


def _check_structure(g: onnx.GraphProto, where: str) -> None:
    _name(g.name, "graph name", where)
    if not len(g.node):
        raise ModelError(f"{where}: the graph must have at least one node, not 0")
    if not len(g.output):
        raise ModelError(f"{where}: the graph must have at least one output, not 0")
    for node in g.node:
        label = _name(node.name, "node name", where) or node.op_type
        for value in [*node.input, *node.output]:
            _name(value, f"node {label!r} ({node.op_type}) value name", where)
        for attr in node.attribute:
            _name(attr.name, f"node {label!r} attribute name", where)
            if attr.type in (onnx.AttributeProto.STRING, onnx.AttributeProto.STRINGS):
                for text in [attr.s] if attr.type == onnx.AttributeProto.STRING else list(attr.strings):
                    try:
                        _name(text.decode("utf-8"), f"node {label!r} attribute {attr.name!r}", where)
                    except UnicodeDecodeError:
                        raise ModelError(f"{where}: node {label!r} attribute {attr.name!r} must be UTF-8 text, not {text!r}"[:300]) from None
    for kind, vis in (("input", g.input), ("output", g.output), ("value", g.value_info)):
        for vi in vis:
            _name(vi.name, f"graph {kind} name", where)
            if not vi.name:
                raise ModelError(f"{where}: a graph {kind} must have a name, not ''")
    for t in g.initializer:
        _name(t.name, "initializer name", where)
    seen: set[str] = set()
    for out in g.output:
        if out.name in seen:
            raise ModelError(f"{where}: graph output {out.name!r} must be listed once, not twice")
        seen.add(out.name)


def _tensor_bytes(t: onnx.TensorProto) -> int:
    entry = _STORAGE.get(t.data_type)
    return 0 if entry is None else math.prod(t.dims) * np.dtype(entry[0]).itemsize


def _check_tensor(t: onnx.TensorProto, what: str, where: str, limits: Limits, raw: bytes | memoryview | None = None) -> int:
    """Element type, dims and stored size of one constant tensor; its size in bytes."""
    label = f"{where}: {what} {t.name!r}" if what == "initializer" else f"{where}: {what}"
    entry = _STORAGE.get(t.data_type)
    if entry is None:
        type_name = onnx.TensorProto.DataType.Name(t.data_type) if t.data_type in onnx.TensorProto.DataType.values() else t.data_type
        raise ModelError(f"{label} element type must be one of {', '.join(sorted(d for d, _ in _STORAGE.values()))}, "
                         f"not {type_name!r}")
    dtype, field = entry
    dims = list(t.dims)
    if any(d < 0 for d in dims):
        raise ModelError(f"{label} dims must be non-negative, not {dims}")
    count = math.prod(dims)
    if count > limits.tensor_elements:
        raise ModelError(f"{label} has {count} elements, more than the limit of {limits.tensor_elements} "
                         "(HWACCEL_MAX_TENSOR_ELEMENTS)")
    if t.data_location == onnx.TensorProto.EXTERNAL:
        raise ModelError(f"{label} external data was not loaded")
    itemsize = np.dtype(dtype).itemsize
    if raw is not None or t.HasField("raw_data"):
        stored, expected, unit = len(t.raw_data if raw is None else raw), count * itemsize, "bytes"
    else:
        stored = len(getattr(t, field))
        expected, unit = count, "values"
    if stored != expected:
        raise ModelError(f"{label} holds {stored} {unit} but its dims {dims} ({dtype}) need {expected}")
    return count * itemsize


def _check_value(vi: onnx.ValueInfoProto, what: str, where: str, limits: Limits) -> int:
    """Element type and dims of a declared value; its size in bytes (symbolic dims count 1)."""
    if not vi.type.HasField("tensor_type"):
        raise ModelError(f"{where}: {what} {vi.name!r} must be a tensor, not a {vi.type.WhichOneof('value')}")
    ttype = vi.type.tensor_type
    if ttype.elem_type not in _STORAGE:
        name = onnx.TensorProto.DataType.Name(ttype.elem_type) if ttype.elem_type in onnx.TensorProto.DataType.values() else ttype.elem_type
        raise ModelError(f"{where}: {what} {vi.name!r} element type must be one of "
                         f"{', '.join(sorted(d for d, _ in _STORAGE.values()))}, not {str(name).lower()!r}")
    if not ttype.HasField("shape"):
        return 0
    dims = []
    for d in ttype.shape.dim:
        if d.HasField("dim_value"):
            if d.dim_value < 0:
                shown = [x.dim_value if x.HasField("dim_value") else (x.dim_param or "?") for x in ttype.shape.dim]
                raise ModelError(f"{where}: {what} {vi.name!r} dims must be non-negative, not {shown}")
            dims.append(d.dim_value)
        elif d.HasField("dim_param"):
            _name(d.dim_param, f"{what} {vi.name!r} dim name", where)
    count = math.prod(dims)
    if count > limits.tensor_elements:
        raise ModelError(f"{where}: {what} {vi.name!r} has {count} elements, more than the limit of "
                         f"{limits.tensor_elements} (HWACCEL_MAX_TENSOR_ELEMENTS)")
    return count * np.dtype(helper.tensor_dtype_to_np_dtype(ttype.elem_type)).itemsize


def _non_empty(node: Node, graph: Graph) -> None:
    for name in node.inputs:
        shape = graph.shape(name) if name else None
        if shape is not None and any(isinstance(d, int) and d <= 0 for d in shape):
            raise ModelError(f"input {name!r} extents must be positive, not {tuple(shape)}")


def check_graph(graph: Graph, where: str) -> None:
    """Each node's ``check`` rule from the op table (shapes, attributes, QDQ parameters)."""
    for node in graph.nodes:
        row = row_of(node)
        if row is None:
            continue
        rule = row.kernel("check")
        try:
            if row.family in NON_EMPTY_FAMILIES:
                _non_empty(node, graph)
            if rule is not None:
                rule(node, graph)
        except ModelError as exc:
            raise ModelError(f"{where}: node {node.name!r} ({node.op}): {exc}") from None
