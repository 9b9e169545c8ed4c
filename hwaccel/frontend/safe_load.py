"""Reading an ONNX file from disk without trusting it.

Size limit, parse errors reported as :class:`ModelError`, and external data accepted only from
files inside the model's own directory (no ``..``, no absolute locations, no symlinks out).
"""

from __future__ import annotations

import os
from pathlib import Path

import onnx
from google.protobuf.message import DecodeError
from onnx.external_data_helper import ExternalDataInfo, load_external_data_for_model, uses_external_data

from ..errors import ModelError

__all__ = ["MAX_MODEL_BYTES", "read_onnx", "read_bytes", "parse_onnx"]

MAX_MODEL_BYTES = 1 << 30  # 1 GiB: far above any model this toolkit targets, far below trouble


def read_onnx(path: str | os.PathLike[str], max_bytes: int = MAX_MODEL_BYTES) -> onnx.ModelProto:
    """Parse ``path`` as an ONNX model, with its external data, or raise :class:`ModelError`."""
    return parse_onnx(read_bytes(path, max_bytes), path, max_bytes)


def read_bytes(path: str | os.PathLike[str], max_bytes: int = MAX_MODEL_BYTES) -> bytes:
    """The bytes of file ``path`` (a regular, non-empty file of at most ``max_bytes``)."""
    path = Path(path)
    if not path.exists():
        raise ModelError(f"{path}: no such file")
    if not path.is_file():
        raise ModelError(f"{path}: not a regular file")
    size = path.stat().st_size
    if size == 0:
        raise ModelError(f"{path}: file is empty, not an ONNX model")
    if size > max_bytes:
        raise ModelError(f"{path}: file is {size} bytes, more than the limit of {max_bytes}")
    return path.read_bytes()


def parse_onnx(data: bytes, path: str | os.PathLike[str], max_bytes: int = MAX_MODEL_BYTES) -> onnx.ModelProto:
    """``data`` (the bytes of file ``path``) parsed as an ONNX model, with its external data."""
    path = Path(path)
    model = onnx.ModelProto()
    try:
        model.ParseFromString(data)
    except (DecodeError, RuntimeError, ValueError) as exc:
        raise ModelError(f"{path}: not a valid ONNX model (protobuf parse failed: {exc})") from None
    if not model.HasField("graph") or not model.opset_import:
        raise ModelError(f"{path}: not an ONNX model (no graph or no opset_import)")
    _load_external_data(model, path, max_bytes)
    return model


def _load_external_data(model: onnx.ModelProto, path: Path, max_bytes: int) -> None:
    base = path.resolve().parent
    total = 0
    for tensor in _all_tensors(model):
        if not uses_external_data(tensor):
            continue
        info = ExternalDataInfo(tensor)
        location = info.location
        where = f"{path}: tensor {tensor.name!r} external data location {location!r}"
        if not location or os.path.isabs(location) or Path(location).drive:
            raise ModelError(f"{where} must be a relative path inside the model's directory")
        if ".." in Path(location).parts:
            raise ModelError(f"{where} must not contain '..'")
        target = (base / location).resolve()
        if base not in target.parents:
            raise ModelError(f"{where} resolves outside the model's directory")
        if not target.is_file():
            raise ModelError(f"{where}: file not found")
        total += target.stat().st_size if info.length is None else int(info.length)
        if total > max_bytes:
            raise ModelError(f"{path}: external data exceeds the limit of {max_bytes} bytes")
    try:
        load_external_data_for_model(model, str(base))
    except (OSError, ValueError) as exc:
        raise ModelError(f"{path}: cannot read external data ({exc})") from None


def _all_tensors(model: onnx.ModelProto):
    yield from model.graph.initializer
    for node in model.graph.node:
        for attr in node.attribute:
            if attr.HasField("t"):
                yield attr.t
            yield from attr.tensors
