"""An ONNX file's large initializers located in its bytes, without parsing them (protobuf wire format).

Parsing a whole ModelProto copies every weight out of the file's bytes, so a 575 MB file holds
1.15 GB at once. :func:`cut_initializers` walks the wire format down to the graph's initializers
(ModelProto field 7, GraphProto field 5) and, for each one whose ``raw_data`` (TensorProto field
9) is larger than a bound, gives where those bytes lie in the file, the tensor's other fields
(name, type, dims: a few bytes to parse), and the file with those initializers cut out. The
caller views the weights in the file's bytes and parses only the rest. Anything unexpected (a
graph field written twice, a group, a truncated varint, a tensor with two ``raw_data`` fields)
returns None: the caller then parses the whole file the ordinary way, which reports what is wrong.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator

__all__ = ["Cut", "CutTensor", "cut_initializers"]

MODEL_GRAPH, GRAPH_INITIALIZER, TENSOR_RAW_DATA, TENSOR_DATA_LOCATION = 7, 5, 9, 14
_LENGTH_DELIMITED = 2


@dataclass(frozen=True)
class CutTensor:
    index: int  # position among the graph's initializers
    fields: bytes  # the TensorProto without its raw_data field
    start: int  # raw_data's bytes: data[start:end]
    end: int


@dataclass(frozen=True)
class Cut:
    skeleton: bytes  # the file without the cut initializers
    tensors: tuple[CutTensor, ...]
    initializers: int  # how many the graph has, cut or not


class _Unexpected(Exception):
    pass


def _varint(data: memoryview, pos: int, end: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= end or shift > 63:
            raise _Unexpected
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7


def _fields(data: memoryview, start: int, end: int) -> Iterator[tuple[int, int, int, int, int]]:
    """``(number, wire type, field start, value start, value end)`` of each field in ``data[start:end]``."""
    pos = start
    while pos < end:
        key, value = _varint(data, pos, end)
        number, wire = key >> 3, key & 7
        if number == 0:
            raise _Unexpected
        if wire == 0:
            stop = _varint(data, value, end)[1]
        elif wire == 1:
            stop = value + 8
        elif wire == _LENGTH_DELIMITED:
            length, value = _varint(data, value, end)
            stop = value + length
        elif wire == 5:
            stop = value + 4
        else:  # groups (3, 4) and invalid types
            raise _Unexpected
        if stop > end:
            raise _Unexpected
        yield number, wire, pos, value, stop
        pos = stop


def _encode_varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def _cut_tensor(data: memoryview, start: int, end: int, index: int, min_bytes: int) -> CutTensor | None:
    raw = []
    for number, wire, field_start, value, stop in _fields(data, start, end):
        if number == TENSOR_RAW_DATA and wire == _LENGTH_DELIMITED:
            raw.append((field_start, value, stop))
        elif number == TENSOR_DATA_LOCATION and wire == 0 and _varint(data, value, stop)[0] != 0:
            return None  # external data: read_onnx loads it
    if len(raw) != 1 or raw[0][2] - raw[0][1] <= min_bytes:
        if len(raw) > 1:
            raise _Unexpected
        return None
    field_start, value, stop = raw[0]
    return CutTensor(index, bytes(data[start:field_start]) + bytes(data[stop:end]), value, stop)


def cut_initializers(data: bytes, min_bytes: int) -> Cut | None:
    """The initializers of the ModelProto ``data`` whose raw_data exceeds ``min_bytes``, cut out
    (None: none, or a layout this reader does not expect)."""
    view = memoryview(data)
    try:
        graphs = [f for f in _fields(view, 0, len(data)) if f[0] == MODEL_GRAPH]
        if len(graphs) != 1 or graphs[0][1] != _LENGTH_DELIMITED:
            return None
        _, _, graph_start, body_start, body_end = graphs[0]
        kept: list[bytes] = []
        tensors: list[CutTensor] = []
        index = 0
        for number, wire, field_start, value, stop in _fields(view, body_start, body_end):
            if number == GRAPH_INITIALIZER and wire == _LENGTH_DELIMITED:
                cut = _cut_tensor(view, value, stop, index, min_bytes)
                index += 1
                if cut is not None:
                    tensors.append(cut)
                    continue
            kept.append(bytes(view[field_start:stop]))
    except _Unexpected:
        return None
    if not tensors:
        return None
    body = b"".join(kept)
    head = _encode_varint(MODEL_GRAPH << 3 | _LENGTH_DELIMITED) + _encode_varint(len(body))
    return Cut(bytes(view[:graph_start]) + head + body + bytes(view[body_end:]), tuple(tensors), index)
