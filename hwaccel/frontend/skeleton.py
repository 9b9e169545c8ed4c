"""The weights of an ONNX model taken out as arrays, and the rest of it (the skeleton).

onnx's version converter, checker and shape inference each serialise the whole ModelProto and
parse it again in C++ (the converter twice), so on a model with its weights they copy every
weight three to five times: VGG-19 with its 575 MB of weights peaked at 3.5 GB in the converter
alone. They never need a weight's values, only its name, type and dims, so the import runs them on
a skeleton in which each large initializer is a typed graph input, and reads the weights once,
as arrays. Small initializers stay: shape inference reads shape tensors' values.
"""

from __future__ import annotations

import math
import os
import sys
from typing import Any, NamedTuple

import numpy as np
import onnx
from onnx import helper, numpy_helper

from google.protobuf.message import DecodeError

from ..errors import ModelError
from .safe_load import MAX_MODEL_BYTES, parse_onnx, read_bytes
from .validate import Limits, check_tensor
from .wire import cut_initializers

__all__ = ["SMALL_BYTES", "Split", "split_weights", "read_split"]

SMALL_BYTES = 1 << 12  # an initializer up to this size stays in the skeleton (shape tensors are far smaller)


class Split(NamedTuple):
    skeleton: onnx.ModelProto
    weights: dict[str, np.ndarray]
    order: tuple[str, ...]


def split_weights(model: onnx.ModelProto, where: str) -> Split:
    """``(skeleton, weights, order)``: ``model`` without the data of its initializers over
    :data:`SMALL_BYTES` (each one a graph input of the same name, type and dims instead), and
    those initializers as read-only arrays, and the names of all initializers in file order. Each
    one is checked first
    (:func:`~.validate.check_tensor`: name, element type, dims, stored size). ``model`` itself is
    not changed; with no large initializer it is returned as the skeleton."""
    g = model.graph
    large = [t for t in g.initializer if t.data_location != onnx.TensorProto.EXTERNAL and _declared_bytes(t) > SMALL_BYTES]
    order = tuple(t.name for t in g.initializer)
    if not large:
        return Split(model, {}, order)
    limits = Limits.from_env()
    weights: dict[str, np.ndarray] = {}
    for t in large:
        weights[t.name] = _array(t, where, limits)
    skeleton = onnx.ModelProto()
    _copy_fields(model, skeleton, skip="graph")
    _copy_fields(g, skeleton.graph, skip="initializer")
    skeleton.graph.initializer.extend(t for t in g.initializer if t.name not in weights)
    _declare(skeleton.graph, large)
    return Split(skeleton, weights, order)


def read_split(path: str | os.PathLike[str], max_bytes: int = MAX_MODEL_BYTES) -> Split:
    """:func:`split_weights` of the ONNX file ``path`` with the file's bytes held once: the large
    initializers' ``raw_data`` is cut out of the bytes before parsing (:mod:`.wire`) and the
    weights are read-only views of those bytes."""
    where = str(path)
    data = read_bytes(path, max_bytes)
    cut = cut_initializers(data, SMALL_BYTES) if sys.byteorder == "little" else None
    if cut is None:
        return split_weights(parse_onnx(data, path, max_bytes), where)
    model = parse_onnx(cut.skeleton, path, max_bytes)
    limits = Limits.from_env()
    taken: dict[int, tuple[onnx.TensorProto, np.ndarray]] = {}
    for piece in cut.tensors:
        t = onnx.TensorProto()
        try:
            t.ParseFromString(piece.fields)
        except (DecodeError, RuntimeError, ValueError) as exc:
            raise ModelError(f"{where}: not a valid ONNX model (protobuf parse failed: {exc})") from None
        raw = memoryview(data)[piece.start:piece.end]
        check_tensor(t, where, limits, raw)
        dtype = np.dtype(helper.tensor_dtype_to_np_dtype(t.data_type))
        array = np.frombuffer(data, dtype, len(raw) // dtype.itemsize, piece.start).reshape(tuple(t.dims))
        taken[piece.index] = t, array
    rest = split_weights(model, where)  # initializers the cut left (external data, typed fields)
    kept = iter(rest.order)
    order = tuple(taken[i][0].name if i in taken else next(kept) for i in range(cut.initializers))
    _declare(rest.skeleton.graph, [t for t, _ in taken.values()])
    return Split(rest.skeleton, {t.name: array for t, array in taken.values()} | rest.weights, order)


def _declare(graph: onnx.GraphProto, tensors: list[onnx.TensorProto]) -> None:
    """Each of ``tensors`` a graph input of its name, type and dims, unless one is declared."""
    declared = {vi.name for vi in graph.input}
    graph.input.extend(helper.make_tensor_value_info(t.name, t.data_type, list(t.dims)) for t in tensors if t.name not in declared)


def _declared_bytes(t: onnx.TensorProto) -> int:
    """The bytes ``t``'s dims and type declare (``ByteSize`` would serialise it); 0 for a type
    NumPy lacks (left to :func:`~.validate.check_proto` to report)."""
    try:
        itemsize = np.dtype(helper.tensor_dtype_to_np_dtype(t.data_type)).itemsize
    except (KeyError, TypeError, ValueError):
        return 0
    return math.prod(max(0, d) for d in t.dims) * itemsize


def _array(t: onnx.TensorProto, where: str, limits: Limits) -> np.ndarray:
    """``t`` checked and read as a read-only array, with one copy of its bytes (NumPy views them)."""
    raw = t.raw_data if t.HasField("raw_data") else None  # reading the field copies it: once
    check_tensor(t, where, limits, raw)
    if raw is None or sys.byteorder != "little":
        array = numpy_helper.to_array(t)
    else:  # what to_array does, without a second read of the field
        array = np.frombuffer(raw, dtype=helper.tensor_dtype_to_np_dtype(t.data_type)).reshape(tuple(t.dims))
    array.flags.writeable = False
    return array


def _copy_fields(src: Any, dst: Any, skip: str) -> None:
    """Every set field of protobuf message ``src`` but ``skip`` into the empty ``dst``."""
    for field, value in src.ListFields():
        if field.name == skip:
            continue
        repeated = getattr(field, "is_repeated", None)
        if repeated is None:  # protobuf < 5
            repeated = field.label == field.LABEL_REPEATED
        if repeated:
            getattr(dst, field.name).extend(value)
        elif field.type == field.TYPE_MESSAGE:
            getattr(dst, field.name).CopyFrom(value)
        else:
            setattr(dst, field.name, value)
