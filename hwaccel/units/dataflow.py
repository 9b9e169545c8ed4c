"""The hardware graph: a streaming dataflow of the units of :mod:`hwaccel.units`.

Plain frozen data (nothing here builds hardware), the one description that the top level (``hw/top.py``),
the cycle model (:mod:`hwaccel.perf.model`), the functional model
(:mod:`hwaccel.golden.dataflow`) and the manifest all read. Built by
:func:`hwaccel.passes.to_dataflow.to_dataflow`.

Structure
---------
``Dataflow.stages`` (topological order) are the layers. A :class:`Stage` is a chain of unit
params (``Stage.units``) instantiated in order and joined by *direct* stream connections (unit
``k``'s ``o`` drives unit ``k+1``'s ``i``; ``wiring.connect``, no FIFO). Stage kinds and chains:

========== ================================================ =========================================
kind       units                                             notes
========== ================================================ =========================================
conv       (WindowParams, MatVecParams, RequantParams)      1x1/stride 1/no pad: no WindowParams
dwconv     (WindowParams, DepthwiseParams, RequantParams)   depthwise (group = C = M); as conv
dense      (MatVecParams, RequantParams)                     one vector a pixel (``H = W = 1`` usually)
maxpool    (WindowParams, PoolParams[max])                   ``pad_value`` = qmin
avgpool    (WindowParams, PoolParams[avg])                   1/count in the requant (per output pixel class: counts may differ)
gpool      (PoolParams,)                                     global max/average: the whole map one window
add        (EltwiseAddParams,)                               ``inputs = (a, b)``
concat     (EltwiseConcatParams,)                            ``inputs = (a, b)``
lut        (PoolParams[avg, window 1],)                      requant x1 + table (``requant.lut``)
requant    (PoolParams[avg, window 1],)                      ``requant(x - x_zero_point)``
========== ================================================ =========================================

A trailing activation table (``QLut``) is folded into the last requant of the stage before it
(``RequantParams.lut``). Unit port names: ``i``/``o`` (``a``/``b``/``o`` for the Eltwise units);
a stage's input port ``p`` is the first unit's ``i`` (``a`` for ``p = 0`` and ``b`` for ``p = 1``
in add/concat); its output is the last unit's ``o``.

Streams carry ``lanes`` codes a beat in HWC order (pixels row-major, each pixel's channels in
``C / lanes`` beats of consecutive channels); a flattened vector is one pixel of ``C`` features.

``Dataflow.edges`` connect stages: ``Edge(src, dst, port, fifo)`` joins the output of ``src``
(a stage name, or :data:`INPUT` = the top-level input port ``i``) to input port ``port`` of
``dst`` (a stage name, or :data:`OUTPUT` = the top-level output port ``o``), through a
``StreamFifo(fifo)`` when ``fifo`` is a :class:`~hwaccel.units.fifo.FifoParams`, else by a direct
connection. When several edges leave one ``src`` the top level broadcasts in lockstep (a *fork*):
``src.ready = AND_k ready_k`` and ``valid_k = src.valid & AND_{j != k} ready_j``, so a beat
transfers on every branch in the same cycle. The compiler puts a FIFO on every edge between two
stages (so every fork branch and every add/concat input has one: no combinational valid/ready
loop can form); the edges from ``INPUT`` and into ``OUTPUT`` are direct unless the input forks.
Add/Concat input FIFOs hold at least one image of beats plus one, which makes the design
deadlock-free under any stalls (argument in :mod:`hwaccel.passes.size_fifos`).

Top level (``hw/top.py``): port ``i`` carries ``input.lanes`` codes of ``input.encoding``
(``bits``, ``signed``), port ``o`` the output of the stage feeding :data:`OUTPUT`
(``unit_codes(stage.units[-1])``, ``stage.lanes`` lanes). Nothing else may sit on a stream (no
extra register, skid buffer or width converter): the cycle model (:mod:`hwaccel.perf.model`, whose
docstring lists the timing assumptions) is exact only for exactly this netlist. Weights live in
the MatVec params (the build directory also writes them as ``weights/<stage>.<unit>.mem``).

The host feeds ``input`` codes (after ``host_pre``, the QuantizeLinear: codes in IR layout, put on
the stream by :meth:`Port.to_stream`), reads ``output`` beats (back to IR layout with
:meth:`Port.from_stream`), then runs ``host_post`` (IR nodes, e.g. DequantizeLinear and Softmax)
with ``constants``. :func:`dataflow_to_dict` / :func:`dataflow_from_dict` are the manifest body.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

import numpy as np

from ..errors import CompileError
from ..ir.graph import CodeRange, Node
from .base import Unit
from .fifo import FifoParams
from .registry import UNIT_TYPES, jsonable, params_from_dict, params_to_dict

__all__ = ["INPUT", "OUTPUT", "STAGE_KINDS", "UNIT_TYPES", "Encoding", "Port", "Stage", "Edge", "Dataflow",
           "unit_lanes", "unit_codes", "params_to_dict", "params_from_dict", "dataflow_to_dict",
           "dataflow_from_dict"]

INPUT = "input"  # the top-level input port as an edge source
OUTPUT = "output"  # the top-level output port as an edge destination
STAGE_KINDS = ("conv", "dwconv", "dense", "maxpool", "avgpool", "gpool", "add", "concat", "lut", "requant", "depth_to_space",
               "upsample", "recurrent")
UnitParams = Unit  # a params object of the registry (:data:`~hwaccel.units.registry.UNITS`)


@dataclass(frozen=True)
class Encoding(CodeRange):
    """How codes on a stream encode reals: ``real = scale * (code - zero_point)``, ``bits``-bit codes."""

    bits: int
    signed: bool
    zero_point: int
    scale: float


@dataclass(frozen=True)
class Port:
    """A top-level stream: the IR value it carries, its HWC shape, encoding, lanes and layout.

    ``layout = (source_shape, axes)`` relates the stream to the IR value ``x`` (batch dropped):
    ``stream = x.reshape(source_shape).transpose(axes).reshape(-1)``, beat ``b`` holding stream
    elements ``[b*lanes, (b+1)*lanes)``. E.g. an ``(C, H, W)`` value streams with
    ``((C, H, W), (1, 2, 0))``; a flat vector with ``((K,), (0,))``.
    """

    value: str
    shape: tuple[int, int, int]
    encoding: Encoding
    lanes: int
    layout: tuple[tuple[int, ...], tuple[int, ...]]
    logical_shape: tuple[int, ...]

    @property
    def beats(self) -> int:
        """Beats per input (one image)."""
        h, w, c = self.shape
        return h * w * c // self.lanes

    def to_stream(self, x: np.ndarray) -> np.ndarray:
        """IR-layout codes ``(N, *logical_shape)`` -> beats ``(N, beats, lanes)``."""
        source, axes = self.layout
        n = x.shape[0]
        return np.asarray(x).reshape((n,) + source).transpose((0,) + tuple(a + 1 for a in axes)).reshape(n, self.beats, self.lanes)

    def from_stream(self, beats: np.ndarray) -> np.ndarray:
        """Beats ``(N, beats, lanes)`` -> IR-layout codes ``(N, *logical_shape)``."""
        source, axes = self.layout
        n = beats.shape[0]
        moved = tuple(source[a] for a in axes)
        inverse = tuple(int(i) + 1 for i in np.argsort(axes))
        return np.asarray(beats).reshape((n,) + moved).transpose((0,) + inverse).reshape((n,) + self.logical_shape)


def unit_lanes(params: UnitParams) -> tuple[int, int]:
    """``(input lanes, output lanes)`` of a unit."""
    return params.in_lanes, params.out_lanes


def unit_codes(params: UnitParams) -> tuple[int, bool]:
    """``(bits, signed)`` of the unit's output lanes (MatVec: signed ``acc_bits`` accumulators)."""
    return params.out_codes


@dataclass(frozen=True)
class Stage:
    """One layer in hardware: a chain of units fed by ``inputs`` (stage names or :data:`INPUT`).

    ``shape`` is the output ``(H, W, C)``, ``encoding`` its codes, ``source`` the IR nodes lowered
    into it, ``macs`` the useful multiply-accumulates per input (zero weights included, as
    ``ir.ops.macs_of`` counts them), ``groups`` the convolution groups (the MatVec weights are
    block-diagonal over them).
    """

    name: str
    kind: str
    units: tuple[UnitParams, ...]
    inputs: tuple[str, ...]
    shape: tuple[int, int, int]
    encoding: Encoding
    source: tuple[str, ...] = ()
    macs: int = 0
    groups: int = 1

    def __post_init__(self) -> None:
        if self.kind not in STAGE_KINDS:
            raise CompileError(f"stage kind must be one of {STAGE_KINDS}, not {self.kind!r}")
        if not self.name.isidentifier() or not self.name.isascii():
            raise CompileError(f"stage name must be an ASCII identifier, not {self.name!r}")
        for a, b in zip(self.units, self.units[1:]):
            if unit_lanes(a)[1] != unit_lanes(b)[0]:
                raise CompileError(f"{self.name}: lanes of {type(b).__name__} must be {unit_lanes(a)[1]}, not {unit_lanes(b)[0]!r}")

    @property
    def in_lanes(self) -> int:
        return unit_lanes(self.units[0])[0]

    @property
    def lanes(self) -> int:
        """Output lanes."""
        return unit_lanes(self.units[-1])[1]

    @property
    def out_beats(self) -> int:
        """Output beats per input."""
        h, w, c = self.shape
        return h * w * c // self.lanes

    def unit(self, kind: type) -> Any:
        """The first unit of type ``kind``, or None."""
        return next((u for u in self.units if isinstance(u, kind)), None)


@dataclass(frozen=True)
class Edge:
    """A stream from ``src`` to input ``port`` of ``dst``, through a FIFO unless ``fifo`` is None."""

    src: str
    dst: str
    port: int = 0
    fifo: FifoParams | None = None


@dataclass(frozen=True, eq=False)
class Dataflow:
    """A compiled network: host ops, the input/output ports, stages, edges (see the module doc)."""

    name: str
    input: Port
    output: Port
    stages: tuple[Stage, ...]
    edges: tuple[Edge, ...]
    graph_input: str  # the float graph input the host quantizes
    graph_outputs: tuple[str, ...]  # values the host returns after ``host_post``
    host_pre: tuple[Node, ...] = ()
    host_post: tuple[Node, ...] = ()
    constants: Mapping[str, np.ndarray] = field(default_factory=dict)
    folding: Mapping[str, Any] = field(default_factory=dict)  # the target the folds were chosen for

    def stage(self, name: str) -> Stage:
        for s in self.stages:
            if s.name == name:
                return s
        raise CompileError(f"stage must be one of {[s.name for s in self.stages]}, not {name!r}")

    def edges_into(self, dst: str) -> tuple[Edge, ...]:
        """Edges into ``dst`` by port."""
        return tuple(sorted((e for e in self.edges if e.dst == dst), key=lambda e: e.port))

    def edges_from(self, src: str) -> tuple[Edge, ...]:
        return tuple(e for e in self.edges if e.src == src)

    def replace(self, **changes: Any) -> "Dataflow":
        return dataclasses.replace(self, **changes)


# -- serialization (the manifest body) -------------------------------------------------------------

def _encoding_from(data: Mapping[str, Any]) -> Encoding:
    return Encoding(int(data["bits"]), bool(data["signed"]), int(data["zero_point"]), float(data["scale"]))


def _port_to_dict(port: Port) -> dict:
    return {"value": port.value, "shape": list(port.shape), "encoding": dataclasses.asdict(port.encoding),
            "lanes": port.lanes, "layout": [list(port.layout[0]), list(port.layout[1])],
            "logical_shape": list(port.logical_shape)}


def _port_from(data: Mapping[str, Any]) -> Port:
    layout = (tuple(data["layout"][0]), tuple(data["layout"][1]))
    return Port(data["value"], tuple(data["shape"]), _encoding_from(data["encoding"]), int(data["lanes"]), layout,
                tuple(data["logical_shape"]))


def _node_to_dict(node: Node) -> dict:
    attrs = {k: jsonable(v) for k, v in sorted(node.attrs.items())}
    return {"name": node.name, "op": node.op, "domain": node.domain, "inputs": list(node.inputs),
            "outputs": list(node.outputs), "attrs": attrs}


def _node_from(data: Mapping[str, Any]) -> Node:
    return Node(data["name"], data["op"], tuple(data["inputs"]), tuple(data["outputs"]), dict(data["attrs"]), data["domain"])


def dataflow_to_dict(df: Dataflow, store: Callable[[str, Any], Any] | None = None) -> dict:
    """The JSON-able description of ``df`` (deterministic: same dataflow, same dict).

    ``store(key, value)`` may replace MatVec weights by a reference (the compiler writes them to
    ``.mem`` files); ``key`` is ``"<stage>.<unit index>.weights"``.
    """
    stages = []
    for s in df.stages:
        units = [params_to_dict(u, store, f"{s.name}.{k}.") for k, u in enumerate(s.units)]
        stages.append({"name": s.name, "kind": s.kind, "inputs": list(s.inputs), "shape": list(s.shape),
                       "encoding": dataclasses.asdict(s.encoding), "lanes": s.lanes, "source": list(s.source),
                       "macs": s.macs, "groups": s.groups, "units": units})
    edges = [{"src": e.src, "dst": e.dst, "port": e.port, "fifo": None if e.fifo is None else params_to_dict(e.fifo)}
             for e in df.edges]
    constants = {k: {"dtype": str(v.dtype), "shape": list(v.shape), "data": np.asarray(v).reshape(-1).tolist()}
                 for k, v in sorted(df.constants.items())}
    return {"name": df.name, "graph_input": df.graph_input, "graph_outputs": list(df.graph_outputs),
            "input": _port_to_dict(df.input), "output": _port_to_dict(df.output), "stages": stages, "edges": edges,
            "host_pre": [_node_to_dict(n) for n in df.host_pre], "host_post": [_node_to_dict(n) for n in df.host_post],
            "constants": constants, "folding": jsonable(dict(sorted(df.folding.items())))}


def dataflow_from_dict(data: Mapping[str, Any], load: Callable[[Any], Any] | None = None) -> Dataflow:
    """Inverse of :func:`dataflow_to_dict`; ``load(reference)`` reads what ``store`` wrote."""
    try:
        stages = tuple(Stage(s["name"], s["kind"], tuple(params_from_dict(u, load) for u in s["units"]), tuple(s["inputs"]),
                             tuple(s["shape"]), _encoding_from(s["encoding"]), tuple(s["source"]), int(s["macs"]),
                             int(s["groups"]))
                       for s in data["stages"])
        edges = tuple(Edge(e["src"], e["dst"], int(e["port"]), None if e["fifo"] is None else params_from_dict(e["fifo"]))
                      for e in data["edges"])
        constants = {k: np.asarray(v["data"], dtype=v["dtype"]).reshape(v["shape"]) for k, v in data["constants"].items()}
        return Dataflow(data["name"], _port_from(data["input"]), _port_from(data["output"]), stages, edges,
                        data["graph_input"], tuple(data["graph_outputs"]), tuple(_node_from(n) for n in data["host_pre"]),
                        tuple(_node_from(n) for n in data["host_post"]), constants, dict(data["folding"]))
    except (KeyError, TypeError, ValueError) as exc:
        raise CompileError(f"dataflow description must have the manifest's fields, not fail with {exc!r}") from None
