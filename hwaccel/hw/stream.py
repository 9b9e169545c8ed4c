"""Stream plumbing shared by the units: payload layouts, counters, and the payload packing benches use.

Every unit port is an ``amaranth.lib.stream`` interface whose payload is ``lanes`` codes
(``data.ArrayLayout``); lane ``i`` lies in payload bits ``[i*w, (i+1)*w)``. :func:`pack_lanes` and
:func:`unpack_lanes` are the same layout in plain Python, for testbenches that drive the flattened
Verilog port ``<port>__payload``.
"""

from __future__ import annotations

from typing import Iterable

from amaranth.hdl import Module, Mux, Shape, Signal, Value, signed, unsigned
from amaranth.lib import data, stream

__all__ = ["code_shape", "lanes_stream", "counter", "register", "valid_chain", "pack_lanes", "pack_fields", "unpack_lanes"]


def code_shape(bits: int, is_signed: bool) -> Shape:
    """The shape of a ``bits``-bit code."""
    return signed(bits) if is_signed else unsigned(bits)


def lanes_stream(shape: Shape, lanes: int) -> stream.Signature:
    """A stream whose payload is ``lanes`` values of ``shape``."""
    return stream.Signature(data.ArrayLayout(shape, lanes))


def counter(m: Module, step: Value, size: int, name: str) -> tuple[Signal, Value]:
    """A counter over ``range(size)`` advancing on ``step``; returns it and its wrap condition."""
    count = Signal(range(max(size, 2)), name=name)
    last = count == size - 1
    with m.If(step):
        m.d.sync += count.eq(Mux(last, 0, count + 1))
    return count, last


def register(m: Module, value: Value, name: str, shape: Shape | None = None, keep: bool = False) -> Signal:
    """A register loading ``value`` every cycle (of ``value``'s shape unless ``shape`` is given);
    ``keep``: synthesis must not merge it with a twin (a copy that serves a group of lanes)."""
    r = Signal(Shape.cast(value.shape()) if shape is None else shape, name=name, attrs={"keep": 1} if keep else {})
    m.d.sync += r.eq(value)
    return r


def valid_chain(m: Module, valid: Value, stages: int, prefix: str) -> list[Value]:
    """``valid`` and its copies delayed by ``1..stages`` cycles (registers ``<prefix>_<k>``)."""
    chain = [valid]
    for k in range(1, stages + 1):
        chain.append(register(m, chain[-1], f"{prefix}_{k}", unsigned(1)))
    return chain


def pack_lanes(values: Iterable[int], bits: int) -> int:
    """Pack integer codes (any sign) into one payload word, lane 0 in the low bits."""
    return pack_fields((v, bits) for v in values)


def pack_fields(fields: Iterable[tuple[int, int]]) -> int:
    """Pack ``(value, bits)`` fields (any sign, two's complement in ``bits``) into one word, the first in the low bits."""
    word, start = 0, 0
    for value, bits in fields:
        word |= (int(value) & ((1 << bits) - 1)) << start
        start += bits
    return word


def unpack_lanes(word: int, bits: int, lanes: int, is_signed: bool) -> list[int]:
    """Split a payload word into ``lanes`` codes of ``bits`` bits (inverse of :func:`pack_lanes`)."""
    mask, out = (1 << bits) - 1, []
    for i in range(lanes):
        v = (int(word) >> (i * bits)) & mask
        out.append(v - (1 << bits) if is_signed and v >> (bits - 1) else v)
    return out

