"""The weights of an ONNX model taken out as arrays, and the rest of it (the skeleton).

onnx's version converter, checker and shape inference each serialise the whole ModelProto and
parse it again in C++ (the converter twice), so on a model with its weights they copy every
weight three to five times: VGG-19 with its 575 MB of weights peaked at 3.5 GB in the converter
alone. They never need a weight's values, only its name, type and dims, so the import runs them on
a skeleton in which each large initializer is a typed graph input, and holds the weights once, as
read-only views of the serialised model's bytes (a file's own bytes: :func:`read_split`). Small
initializers stay: shape inference reads shape tensors' values. Initializers stored in typed
fields instead of ``raw_data`` (rare for weights) also stay.
"""

from __future__ import annotations

import os
import sys
from typing import Any, Callable, NamedTuple

import numpy as np
import onnx
from google.protobuf.message import DecodeError
from onnx import helper

from ..errors import ModelError
from .safe_load import MAX_MODEL_BYTES, parse_onnx, read_bytes
from .validate import Limits, check_tensor
from .wire import Cut, cut_initializers

__all__ = ["SMALL_BYTES", "Split", "split_weights", "read_split"]

SMALL_BYTES = 1 << 12  # an initializer up to this size stays in the skeleton (shape tensors are far smaller)


class Split(NamedTuple):
    skeleton: onnx.ModelProto
    weights: dict[str, np.ndarray]
    order: tuple[str, ...]  # every initializer's name, in the model's order


def split_weights(model: onnx.ModelProto, where: str) -> Split:
    """``(skeleton, weights, order)``: ``model`` without its initializers whose ``raw_data`` is
    over :data:`SMALL_BYTES` (each one a graph input of the same name, type and dims instead),
    those initializers as read-only arrays, each checked first (:func:`~.validate.check_tensor`:
    name, element type, dims, stored size), and the names of all initializers in order. ``model``
    itself is not changed; with no large initializer it is returned as the skeleton."""
    order = tuple(t.name for t in model.graph.initializer)
    if not any(t.HasField("raw_data") and _declared_bytes(t) > SMALL_BYTES for t in model.graph.initializer):
        return Split(model, {}, order)
    data = model.SerializeToString()
    cut = cut_initializers(data, SMALL_BYTES) if sys.byteorder == "little" else None
    if cut is None:
        return Split(model, {}, order)
    return _from_cut(data, cut, where, lambda skeleton: _parse(skeleton, where))


def read_split(path: str | os.PathLike[str], max_bytes: int = MAX_MODEL_BYTES) -> Split:
    """:func:`split_weights` of the ONNX file ``path`` (read with :mod:`.safe_load`'s checks and
    external data) with the file's bytes held once: the large initializers are cut out of them
    before parsing and the weights are views of them."""
    where = str(path)
    data = read_bytes(path, max_bytes)
    cut = cut_initializers(data, SMALL_BYTES) if sys.byteorder == "little" else None
    if cut is None:
        return split_weights(parse_onnx(data, path, max_bytes), where)  # loaded external data may be large
    return _from_cut(data, cut, where, lambda skeleton: parse_onnx(skeleton, path, max_bytes))


def _from_cut(data: bytes, cut: Cut, where: str, parse: Callable[[bytes], onnx.ModelProto]) -> Split:
    model = parse(cut.skeleton)
    limits = Limits.from_env()
    taken: dict[int, tuple[onnx.TensorProto, np.ndarray]] = {}
    for piece in cut.tensors:
        t = _parse(piece.fields, where, onnx.TensorProto)
        raw = memoryview(data)[piece.start:piece.end]
        check_tensor(t, where, limits, raw)
        dtype = np.dtype(helper.tensor_dtype_to_np_dtype(t.data_type))
        taken[piece.index] = t, np.frombuffer(data, dtype, len(raw) // dtype.itemsize, piece.start).reshape(tuple(t.dims))
    rest = split_weights(model, where)  # large initializers the parse added (external data)
    kept = iter(rest.order)
    order = tuple(taken[i][0].name if i in taken else next(kept) for i in range(cut.initializers))
    _declare(rest.skeleton.graph, [t for t, _ in taken.values()])
    return Split(rest.skeleton, {t.name: array for t, array in taken.values()} | rest.weights, order)


def _parse(data: bytes, where: str, message: type = onnx.ModelProto) -> Any:
    """``data`` parsed as a ``message`` (a model, or one tensor); a parse error names ``where``."""
    parsed = message()
    try:
        parsed.ParseFromString(data)
    except (DecodeError, RuntimeError, ValueError) as exc:
        raise ModelError(f"{where}: not a valid ONNX model (protobuf parse failed: {exc})") from None
    return parsed


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
    count = 1
    for d in t.dims:
        count *= max(0, d)
    return count * itemsize
