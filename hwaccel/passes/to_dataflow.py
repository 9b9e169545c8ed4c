"""Fixed-point IR -> :class:`~hwaccel.units.dataflow.Dataflow`: the compiler's front and middle.

Pipeline (plain function calls, one concern per module):

1. :func:`~.partition.partition`: host ops before / the hardware partition / host ops after.
2. :func:`lower_to_specs`: layout (NCHW values -> HWC streams, data movement folded into the
   layout, QPad into the next window) and one :class:`~.lower_stages.StageSpec` per layer.
3. :func:`~.fold_lanes.choose_lanes`: lanes (PE/SIMD) of every stream for the target.
4. :func:`~.size_fifos.size_fifos`: FIFO depths from an analytic schedule (deadlock-free joins,
   then throughput).
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Any

import numpy as np

from ..errors import CompileError
from ..golden.fixed import CODE_MOVERS
from ..units.dataflow import INPUT, OUTPUT, Dataflow, Edge, Port, Stage
from ..ir.graph import Graph
from .fold_lanes import FoldTarget, choose_lanes
from .lower_generators import HWC_INPUTS, LOWER, channels_last_from_producer
from .lower_recurrent import fold_gather
from .lower_stages import StageSpec, Stream, encoding_of, quant_of
from .partition import Partition, partition
from .size_fifos import initial_fifos, size_fifos
from .stream_layout import channels_last, identity, transposed

__all__ = ["to_dataflow", "lower_to_specs"]

RESHAPES = ("Flatten", "Reshape", "Squeeze", "Unsqueeze", "Identity")
WINDOWED = ("QConv", "QMaxPool", "QAveragePool")
LUT_HOSTS = ("conv", "dwconv", "dense", "add", "avgpool", "requant")  # stages ending in a requant a table can follow


def _logical(graph: Graph, value: str, batch: int = 0) -> tuple[int, ...]:
    """The shape of one batch element of ``value`` (its batch axis ``batch`` dropped)."""
    shape = graph.shape(value)
    if shape is None or not all(isinstance(d, int) for k, d in enumerate(shape) if k != batch):
        raise CompileError(f"value {value!r} must have a static shape besides the batch, not {shape}")
    return tuple(int(d) for k, d in enumerate(shape) if k != batch)


def _batch_axis(graph: Graph, value: str, before: int, size: Any) -> int:
    """The batch axis of ``value``: its one symbolic dimension, else the first axis of extent ``size``
    after axes whose product is ``before`` (the elements before the batch axis of the value it came from)."""
    shape = graph.shape(value) or ()
    symbolic = [k for k, d in enumerate(shape) if not isinstance(d, int)]
    if len(symbolic) == 1:
        return symbolic[0]
    for k, d in enumerate(shape):
        if d == size and math.prod(int(v) for v in shape[:k]) == before:
            return k
    raise CompileError(f"value {value!r} must keep the batch axis whole (shape {shape})")


def _input_layout(graph: Graph, part: Partition, logical: tuple[int, ...]) -> tuple:
    """Channels last when the first layer reading the input is a conv or pool, else C order."""
    values = {part.input_value}
    for node in part.hardware:
        if any(v in values for v in node.inputs):
            if node.op in CODE_MOVERS or node.op == "QPad":
                values.update(node.outputs)
                continue
            hwc = WINDOWED + HWC_INPUTS + ("QGlobalAveragePool", "QGlobalMaxPool")
            return channels_last(logical) if node.op in hwc else identity(logical)
    return identity(logical)


def _move(graph: Graph, node, x: Stream) -> Stream:
    """A data movement op on a stream: only its view of the elements changes (the batch axis may
    move: a recurrent cell reads its sequences with the batch second)."""
    if any(x.pads):
        raise CompileError(f"{node.name}: a Pad must feed a convolution or pooling, not {node.op}")
    shape_in = graph.shape(node.inputs[0]) or ()
    if node.op in RESHAPES:
        before = math.prod(int(d) for d in shape_in[:x.batch])
        batch = _batch_axis(graph, node.outputs[0], before, shape_in[x.batch] if shape_in else None)
        return Stream(x.stage, _logical(graph, node.outputs[0], batch), x.layout, x.quant, batch=batch)
    if node.op == "Transpose":
        perm = [int(p) for p in node.attr("perm")]
        batch = perm.index(x.batch)
        within = tuple(p - (p > x.batch) for p in perm if p != x.batch)  # the permutation of one batch element
        logical = _logical(graph, node.outputs[0], batch)
        layout = x.layout if within == tuple(range(len(within))) else transposed(x.layout, x.logical, within)
        return Stream(x.stage, logical, layout, x.quant, batch=batch)
    raise CompileError(f"{node.name}: {node.op} has no hardware unit (data movement other than reshapes and transposes)")


def _gather(graph: Graph, node, x: Stream, producer: StageSpec | None) -> Stream:
    """A Gather of time steps right after a recurrent stage folds into it (its only reader)."""
    shape = graph.shape(node.inputs[0]) or ()
    axis = int(node.attr("axis", 0)) % max(len(shape), 1)
    indices = graph.initializers.get(node.inputs[1]) if len(node.inputs) > 1 else None
    only = producer is not None and _only_reader(graph, producer.node.outputs[0], node)
    if (producer is None or indices is None or axis == x.batch or not only
            or not fold_gather(producer, node, axis - (axis > x.batch), x, np.asarray(indices))):
        raise CompileError(f"{node.name}: Gather has a hardware unit only as the choice of time steps right after a "
                           f"recurrent cell (its output Y's only reader, constant indices)")
    batch = _batch_axis(graph, node.outputs[0], math.prod(int(d) for d in shape[:x.batch]), shape[x.batch])
    logical = _logical(graph, node.outputs[0], batch)
    return Stream(producer.name, logical, identity(logical), x.quant, batch=batch)


def _only_reader(graph: Graph, value: str, reader) -> bool:
    """Whether ``reader`` reads ``value`` through data movement only, and nothing else reads any of it."""
    while True:
        users = graph.consumers(value)
        if len(users) != 1 or value in {t.name for t in graph.outputs}:
            return False
        if users[0] is reader:
            return True
        if users[0].op not in CODE_MOVERS:
            return False
        value = users[0].outputs[0]


def _pad(node, x: Stream) -> Stream:
    pads = [int(p) for p in node.attr("pads")]
    rank = len(pads) // 2
    begins, ends = pads[:rank], pads[rank:]
    if begins[:2] != [0, 0] or ends[:2] != [0, 0] or min(pads) < 0 or rank not in (3, 4) or any(x.pads):
        raise CompileError(f"{node.name}: Pad must pad the spatial axes only, once, by non-negative amounts, not pads {pads}")
    extra = (0, begins[2], 0, ends[2]) if rank == 3 else (begins[2], begins[3], ends[2], ends[3])
    return Stream(x.stage, x.logical, x.layout, x.quant, extra)


def _fold_table(graph: Graph, node, prev: StageSpec | None, by_name: dict[str, StageSpec]) -> StageSpec | None:
    """Fold table ``node`` into the requant ending stage ``prev`` (or the one before a depth_to_space
    ``prev``: a table commutes with moving pixels); the stage now producing its value, or None."""
    host, mover = prev, None
    if prev is not None and prev.kind == "depth_to_space":
        host, mover = by_name.get(prev.inputs[0].stage), prev
    if host is None or host.kind not in LUT_HOSTS or host.lut is not None:
        return None
    host.lut = (tuple(int(v) for v in node.attr("table")), int(node.attr("in_qmin")), quant_of(graph, node.outputs[0]))
    host.sources.append(node.name)
    if mover is None:
        return host
    mover.quant = host.out_quant  # the pixels it moves are the table's codes now
    mover.data["params"] = replace(mover.data["params"], bits=int(host.out_quant.bits), signed=bool(host.out_quant.signed))
    mover.sources.append(node.name)
    return mover


def lower_to_specs(graph: Graph, part: Partition) -> tuple[Stream, list[StageSpec], Stream]:
    """The input stream, the stage specs in order and the output stream of the hardware partition."""
    logical = _logical(graph, part.input_value)
    quant = quant_of(graph, part.input_value)
    source = Stream(INPUT, logical, _input_layout(graph, part, logical), quant)
    streams: dict[str, Stream] = {part.input_value: source}
    specs: list[StageSpec] = []
    by_name: dict[str, StageSpec] = {}
    for node in part.hardware:
        if node.op == "Gather":
            x = streams[node.inputs[0]]
            streams[node.outputs[0]] = _gather(graph, node, x, by_name.get(x.stage))
            continue
        if node.op in CODE_MOVERS and node.op not in LOWER:
            streams[node.outputs[0]] = _move(graph, node, streams[node.inputs[0]])
            continue
        if node.op == "QPad":
            streams[node.outputs[0]] = _pad(node, streams[node.inputs[0]])
            continue
        if node.op not in LOWER:
            raise CompileError(f"{graph.name}: node {node.name!r} ({node.op}) has no hardware unit")
        arity = {"QAdd": 2, "QConcat": len(node.inputs)}.get(node.op, 1)
        xs = [streams[v] for v in node.inputs[:arity]]
        if node.op in HWC_INPUTS + WINDOWED:  # a shuffled or unflattened input: its producer's outputs reorder
            xs[0] = channels_last_from_producer(graph, node, by_name.get(xs[0].stage), xs[0])
        if node.op not in WINDOWED and any(any(x.pads) for x in xs):
            raise CompileError(f"{node.name}: a Pad must feed a convolution or pooling, not {node.op}")
        out = node.outputs[0]
        prev = by_name.get(xs[0].stage)
        if node.op == "QLut" and node.inputs[0] != part.output_value and len(graph.consumers(node.inputs[0])) == 1:
            owner = _fold_table(graph, node, prev, by_name)
            if owner is not None:
                streams[out] = Stream(owner.name, xs[0].logical, xs[0].layout, owner.out_quant, batch=xs[0].batch)
                continue
        made = LOWER[node.op](graph, node, xs)
        chain = made if isinstance(made, tuple) else (made,)  # a node may become stages in a row
        for k, spec in enumerate(chain):
            if k:
                spec.inputs = (replace(spec.inputs[0], stage=chain[k - 1].name),) + spec.inputs[1:]
            spec.name, spec.sources = f"{spec.kind}{len(specs)}", [node.name]
            specs.append(spec)
            by_name[spec.name] = spec
        out_batch = spec.data.get("out_batch", 0)
        out_logical = _logical(graph, out, out_batch)
        layout = xs[0].layout if spec.kind in ("add", "lut", "requant") else (
            identity(out_logical) if spec.kind in ("dense", "recurrent") else channels_last(out_logical))
        streams[out] = Stream(spec.name, out_logical, layout, spec.out_quant, batch=out_batch)
    result = streams[part.output_value]
    if result.stage == INPUT:
        raise CompileError(f"{graph.name}: the hardware partition computes nothing")
    return source, specs, result


def _constants(graph: Graph, nodes) -> dict[str, np.ndarray]:
    return {v: np.asarray(graph.initializers[v]) for n in nodes for v in n.inputs if v in graph.initializers}


def to_dataflow(graph: Graph, target: FoldTarget | None = None, name: str | None = None, fifos: bool = True) -> Dataflow:
    """Compile a fixed-point ``graph`` (from ``frontend.qdq.load_quantized``) to a dataflow.

    Parameters
    ----------
    graph
        The lowered fixed-point IR.
    target
        Folding target (default: the fastest interval reachable, with the fewest multipliers).
    name
        Dataflow name (default ``graph.name``).
    fifos
        Size the FIFOs with the cycle model (``False``: minimal depths, for quick tests).

    Raises
    ------
    CompileError
        A node has no hardware unit (the message names it and why), or the target cannot be met.
    """
    target = target or FoldTarget()
    part = partition(graph)
    source, specs, result = lower_to_specs(graph, part)
    units, in_lanes, summary = choose_lanes(specs, INPUT, source.shape[2], target)
    stages = tuple(Stage(s.name, s.kind, units[s.name], tuple(x.stage for x in s.inputs), s.shape,
                         encoding_of(s.out_quant, s.name), tuple(s.sources), s.macs, s.data.get("groups", 1)) for s in specs)
    edges = [Edge(x.stage, s.name, p) for s in specs for p, x in enumerate(s.inputs)] + [Edge(result.stage, OUTPUT)]
    out_stage = next(s for s in stages if s.name == result.stage)
    ports = (Port(part.input_value, source.shape, encoding_of(source.quant, "input"), in_lanes, source.layout, source.logical),
             Port(part.output_value, out_stage.shape, out_stage.encoding, out_stage.lanes, result.layout, result.logical))
    df = Dataflow(name or graph.name, ports[0], ports[1], stages, (), graph.inputs[0].name,
                  tuple(t.name for t in graph.outputs), part.pre, part.post, _constants(graph, part.pre + part.post),
                  summary)
    df = df.replace(edges=initial_fifos(df, tuple(edges)))
    return size_fifos(df) if fifos else df
