"""The CPU engine's planner: a graph's nodes become steps (:mod:`.cpu_steps`), in contiguous pipeline stages.

Each node is offered to its builder (:data:`~.cpu_builders.BUILDERS`); a builder returns flat-form
steps for it or None, and the node then runs as a golden step on integer arrays. Conversions
between the two forms are inserted where a consumer needs the other one. A builder may absorb a
later node of the same stage (a max pool fused onto a convolution); fusion never crosses stages.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

import numpy as np

from ..golden.fixed import BOUNDARY_KERNELS, CODE_MOVERS
from ..golden.fixed_ops.common import code_dtype
from ..ir.graph import Graph, Node
from ..ir.ops import FIXED_DOMAIN
from .cpu_steps import Env, Golden, Reorder, ToFlat, ToGolden, flat_key

__all__ = ["Step", "Flat", "Built", "Context", "compile_stages", "node_costs", "partition"]

Step = Callable[[Env], None]
FLOAT32_EXACT = 2**24  # every integer of at most this magnitude is a float32


@dataclass(frozen=True, eq=False)
class Flat:
    """A value's flat form: per-row ``shape``, golden's container ``dtype``, stored ``code - offset``
    in ``[lo, hi]`` (at most :data:`FLOAT32_EXACT` in magnitude); column ``j`` holds the C-order
    feature ``order[j]`` (``order`` None: C order itself)."""

    shape: tuple[int, ...]
    dtype: np.dtype
    offset: int
    lo: int
    hi: int
    order: np.ndarray | None = None

    @property
    def bound(self) -> int:
        return max(abs(self.lo), abs(self.hi))

    @property
    def columns(self) -> np.ndarray | None:
        """The column of each C-order feature (the inverse of ``order``)."""
        if self.order is None:
            return None
        inverse = np.empty_like(self.order)
        inverse[self.order] = np.arange(self.order.size)
        return inverse

    def same_order(self, other: "Flat") -> bool:
        if self.order is None or other.order is None:
            return self.order is None and other.order is None
        return bool(np.array_equal(self.order, other.order))


@dataclass
class Built:
    """A builder's result: its steps, the flat values they write (by key), later nodes they absorb,
    and the values they write in golden form (not integer codes)."""

    steps: list[Step]
    outputs: dict[str, Flat]
    fused: set[int] = field(default_factory=set)
    golden: tuple[str, ...] = ()


class Context:
    """What builders see: graph facts and the forms the values have so far."""

    def __init__(self, graph: Graph) -> None:
        self.graph = graph
        self.flat: dict[str, Flat] = {}  # by table key
        self.golden: dict[str, np.dtype | None] = {t.name: None for t in graph.inputs}  # integer container or None
        self.consumers: dict[str, list[int]] = {}
        for i, node in enumerate(graph.nodes):
            for name in node.inputs:
                self.consumers.setdefault(name, []).append(i)
        self.stage = range(0)
        self.pending: dict[str, tuple[Step, Flat]] = {}  # conversions the current builder reads (made if it succeeds)

    def node(self, index: int) -> Node:
        return self.graph.nodes[index]

    def row_shape(self, value: str) -> tuple[int, ...] | None:
        """The declared shape of ``value`` after its first (row) axis, when static."""
        info = self.graph.values.get(value)
        if info is None or info.shape is None or not info.shape or not all(isinstance(d, int) for d in info.shape[1:]):
            return None
        return tuple(int(d) for d in info.shape[1:])

    def same_rows(self, a: str, b: str) -> bool:
        """Whether two values have the same declared first axis (so a row of one is a row of the other)."""
        ia, ib = self.graph.values.get(a), self.graph.values.get(b)
        return bool(ia and ib and ia.shape and ib.shape and ia.shape[0] == ib.shape[0])

    def code_dtype(self, value: str) -> np.dtype:
        """The container golden's ``as_codes`` gives a fixed-point node's output ``value``."""
        info = self.graph.values.get(value)
        quant = info.quant if info is not None else None
        return np.dtype(np.int32) if quant is None else code_dtype(quant.bits, quant.signed)

    def offset(self, value: str, default: int = 0) -> int:
        """The zero point consumers of ``value`` subtract (its per-tensor encoding), else ``default``."""
        info = self.graph.values.get(value)
        if info is not None and info.quant is not None and np.size(info.quant.zero_point) == 1:
            return int(np.asarray(info.quant.zero_point).reshape(-1)[0])
        return default

    def initializer(self, name: str) -> np.ndarray | None:
        return self.graph.initializers.get(name) if name else None

    def sole_consumer(self, value: str) -> int | None:
        """The one node of this stage reading ``value`` when nothing else (nor the graph output) does."""
        users = self.consumers.get(value, [])
        if any(t.name == value for t in self.graph.outputs) or len(users) != 1 or users[0] not in self.stage:
            return None
        return users[0]

    def flat_input(self, name: str, natural: bool = False) -> tuple[str, Flat] | None:
        """``(table key, flat form)`` of ``name``, in C order when ``natural``: existing, or converted from
        its golden codes or its other order (the conversions are made if the builder succeeds)."""
        key = flat_key(name)
        flat = self.flat.get(key) or self.pending.get(key, (None, None))[1]
        if flat is None:
            dtype, shape = self.golden.get(name), self.row_shape(name)
            if dtype is None or dtype.kind not in "iu" or shape is None:
                return None
            info, offset = np.iinfo(dtype), self.offset(name)
            flat = Flat(shape, dtype, offset, int(info.min) - offset, int(info.max) - offset)
            if flat.bound > FLOAT32_EXACT:
                return None
            self.pending[key] = (ToFlat(name, key, shape, offset), flat)
        if not natural or flat.order is None:
            return key, flat
        natural_key, columns = key + "\0natural", flat.columns
        assert columns is not None
        if natural_key not in self.flat:
            self.pending[natural_key] = (Reorder(key, natural_key, columns), replace(flat, order=None))
        return natural_key, replace(flat, order=None)


def _golden_dtype(node: Node, graph: Graph, golden: dict[str, np.dtype | None]) -> np.dtype | None:
    """The integer container of a golden node's first output, when known before running it."""
    if node.domain == FIXED_DOMAIN:
        info = graph.values.get(node.outputs[0])
        quant = info.quant if info is not None else None
        return np.dtype(np.int32) if quant is None else code_dtype(quant.bits, quant.signed)
    if node.op == "QuantizeLinear":
        if len(node.inputs) < 3 or not node.inputs[2]:
            return np.dtype(np.uint8)
        zero = graph.initializers.get(node.inputs[2])
        return None if zero is None else zero.dtype
    if node.op in CODE_MOVERS and node.op not in BOUNDARY_KERNELS and node.inputs:
        return golden.get(node.inputs[0])
    return None


def _golden_inputs(ctx: Context, names: Sequence[str]) -> list[Step]:
    """Conversions making ``names`` available in golden form."""
    steps: list[Step] = []
    for name in names:
        flat = ctx.flat.get(flat_key(name))
        if name and name not in ctx.golden and flat is not None:
            steps.append(ToGolden(flat_key(name), name, flat.shape, flat.dtype, flat.offset, flat.columns))
            ctx.golden[name] = flat.dtype
    return steps


Builder = Callable[[Context, int], "Built | None"]


def _compile_stage(ctx: Context, builders: dict[str, Builder], fused: set[int]) -> list[Step]:
    steps: list[Step] = []
    for i in ctx.stage:
        if i in fused:
            continue
        node = ctx.node(i)
        ctx.pending = {}
        builder = builders.get(node.op)
        built = builder(ctx, i) if builder is not None else None
        if built is not None:
            for key, (step, flat) in ctx.pending.items():
                steps.append(step)
                ctx.flat[key] = flat
            steps += built.steps
            ctx.flat.update(built.outputs)
            ctx.golden.update((name, None) for name in built.golden)
            fused |= built.fused
            continue
        steps += _golden_inputs(ctx, node.inputs)
        steps.append(Golden(node, ctx.graph))
        dtype = _golden_dtype(node, ctx.graph, ctx.golden)
        for k, name in enumerate(node.outputs):
            if name:
                ctx.golden[name] = dtype if k == 0 else None
    return steps


def compile_stages(graph: Graph, stages: Sequence[range], builders: dict[str, Builder]) -> list[list[Step]]:
    """The steps of each stage; the last one also brings the graph outputs to golden form."""
    ctx, fused = Context(graph), set[int]()
    compiled = []
    for stage in stages:
        ctx.stage = stage
        compiled.append(_compile_stage(ctx, builders, fused))
    compiled[-1] += _golden_inputs(ctx, [t.name for t in graph.outputs])
    return compiled


def node_costs(graph: Graph) -> list[float]:
    """A static work estimate per node: elements read and written, plus multiply-adds."""

    def features(value: str) -> float:
        info = graph.values.get(value)
        if info is None or info.shape is None or not all(isinstance(d, int) for d in info.shape[1:]):
            return 1000.0
        return float(math.prod(int(d) for d in info.shape[1:]))

    costs = []
    for node in graph.nodes:
        cost = sum(features(v) for v in node.inputs if v and v not in graph.initializers) + features(node.outputs[0])
        weights = graph.initializers.get(node.inputs[1]) if len(node.inputs) > 1 else None
        if node.op == "QConv" and weights is not None:
            cost += features(node.outputs[0]) * math.prod(weights.shape[1:])
        elif node.op == "QMatMul" and weights is not None:
            cost += features(node.outputs[0]) * weights.shape[0]
        costs.append(cost)
    return costs


def partition(costs: Sequence[float], parts: int) -> list[range]:
    """Split ``range(len(costs))`` into ``parts`` non-empty contiguous ranges minimising the largest sum."""
    n = len(costs)
    if not 1 <= parts <= n:
        raise ValueError(f"parts must be in [1, {n}], not {parts!r}")
    prefix = np.concatenate([[0.0], np.cumsum(costs)])
    best = np.full((parts + 1, n + 1), np.inf)  # best[p, j]: the first j nodes in p parts
    cut = np.zeros((parts + 1, n + 1), int)
    best[0, 0] = 0.0
    for p in range(1, parts + 1):
        for j in range(p, n - parts + p + 1):
            values = np.maximum(best[p - 1, p - 1:j], prefix[j] - prefix[p - 1:j])
            cut[p, j] = p - 1 + int(np.argmin(values))
            best[p, j] = values.min()
    bounds = [n]
    for p in range(parts, 0, -1):
        bounds.append(int(cut[p, bounds[-1]]))
    bounds.reverse()
    return [range(a, b) for a, b in zip(bounds[:-1], bounds[1:])]
