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

from dataclasses import replace

import numpy as np

from ..errors import CompileError
from ..golden.fixed import CODE_MOVERS
from ..units.dataflow import INPUT, OUTPUT, Dataflow, Edge, Port, Stage
from ..ir.graph import Graph
from .fold_lanes import FoldTarget, choose_lanes
from .lower_generators import HWC_INPUTS, LOWER, channels_last_from_dense
from .lower_stages import StageSpec, Stream, encoding_of, quant_of
from .partition import Partition, partition
from .size_fifos import initial_fifos, size_fifos
from .stream_layout import channels_last, identity, transposed

__all__ = ["to_dataflow", "lower_to_specs"]

RESHAPES = ("Flatten", "Reshape", "Squeeze", "Unsqueeze", "Identity")
WINDOWED = ("QConv", "QMaxPool", "QAveragePool")
LUT_HOSTS = ("conv", "dwconv", "dense", "add", "avgpool", "requant")  # stages ending in a requant a table can follow


def _logical(graph: Graph, value: str) -> tuple[int, ...]:
    shape = graph.shape(value)
    if shape is None or not all(isinstance(d, int) for d in shape[1:]):
        raise CompileError(f"value {value!r} must have a static shape after the batch, not {shape}")
    return tuple(int(d) for d in shape[1:])


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
    """A data movement op on a stream: only its view of the elements changes."""
    logical = _logical(graph, node.outputs[0])
    if any(x.pads):
        raise CompileError(f"{node.name}: a Pad must feed a convolution or pooling, not {node.op}")
    if node.op in RESHAPES:
        return Stream(x.stage, logical, x.layout, x.quant)
    if node.op == "Transpose":
        perm = [int(p) for p in node.attr("perm")]
        if perm[0] != 0:
            raise CompileError(f"{node.name}: Transpose must keep the batch axis first, not perm {perm}")
        return Stream(x.stage, logical, transposed(x.layout, x.logical, tuple(p - 1 for p in perm[1:])), x.quant)
    raise CompileError(f"{node.name}: {node.op} has no hardware unit (data movement other than reshapes and transposes)")


def _pad(node, x: Stream) -> Stream:
    pads = [int(p) for p in node.attr("pads")]
    rank = len(pads) // 2
    begins, ends = pads[:rank], pads[rank:]
    if begins[:2] != [0, 0] or ends[:2] != [0, 0] or min(pads) < 0 or rank not in (3, 4) or any(x.pads):
        raise CompileError(f"{node.name}: Pad must pad the spatial axes only, once, by non-negative amounts, not pads {pads}")
    extra = (0, begins[2], 0, ends[2]) if rank == 3 else (begins[2], begins[3], ends[2], ends[3])
    return Stream(x.stage, x.logical, x.layout, x.quant, extra)


def lower_to_specs(graph: Graph, part: Partition) -> tuple[Stream, list[StageSpec], Stream]:
    """The input stream, the stage specs in order and the output stream of the hardware partition."""
    logical = _logical(graph, part.input_value)
    quant = quant_of(graph, part.input_value)
    source = Stream(INPUT, logical, _input_layout(graph, part, logical), quant)
    streams: dict[str, Stream] = {part.input_value: source}
    specs: list[StageSpec] = []
    by_name: dict[str, StageSpec] = {}
    for node in part.hardware:
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
        if node.op in HWC_INPUTS:
            xs[0] = channels_last_from_dense(graph, node, by_name.get(xs[0].stage), xs[0])
        if node.op not in WINDOWED and any(any(x.pads) for x in xs):
            raise CompileError(f"{node.name}: a Pad must feed a convolution or pooling, not {node.op}")
        out = node.outputs[0]
        prev = by_name.get(xs[0].stage)
        if (node.op == "QLut" and prev is not None and prev.kind in LUT_HOSTS and prev.lut is None
                and len(graph.consumers(node.inputs[0])) == 1 and node.inputs[0] != part.output_value):
            prev.lut = (tuple(int(v) for v in node.attr("table")), int(node.attr("in_qmin")), quant_of(graph, out))
            prev.sources.append(node.name)
            streams[out] = Stream(prev.name, xs[0].logical, xs[0].layout, prev.out_quant)
            continue
        made = LOWER[node.op](graph, node, xs)
        chain = made if isinstance(made, tuple) else (made,)  # a node may become stages in a row
        for k, spec in enumerate(chain):
            if k:
                spec.inputs = (replace(spec.inputs[0], stage=chain[k - 1].name),)
            spec.name, spec.sources = f"{spec.kind}{len(specs)}", [node.name]
            specs.append(spec)
            by_name[spec.name] = spec
        out_logical = _logical(graph, out)
        layout = xs[0].layout if spec.kind in ("add", "lut", "requant") else (
            identity(out_logical) if spec.kind == "dense" else channels_last(out_logical))
        streams[out] = Stream(spec.name, out_logical, layout, spec.out_quant)
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
