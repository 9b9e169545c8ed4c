"""The golden executor: runs a lowered fixed-point graph exactly (THE numeric specification).

Fixed-point ops (domain ``hwaccel``) run integer kernels from :mod:`.fixed_ops`; Quantize/
DequantizeLinear follow ONNX exactly through :mod:`hwaccel.fixedpoint`; data movement ops move
codes unchanged; any other float op left in the graph runs on the host with the float kernels.
Each integer kernel registers as its op table row's ``golden`` kernel (:mod:`hwaccel.ir.ops`).
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from .. import fixedpoint
from ..errors import ModelError, QuantizationError, UnsupportedOpError
from ..ir.graph import Graph, Node
from ..ir.ops import FIXED_DOMAIN, FIXED_OPS, OPS, kernels, register
from .fixed_ops import conv, eltwise, pool, recurrent
from .fixed_ops.common import as_codes
from .float_executor import FLOAT_KERNELS
from .float_ops.common import required

__all__ = ["FIXED_KERNELS", "BOUNDARY_KERNELS", "CODE_MOVERS", "run_golden", "run_node", "is_fixed_point"]

Arrays = list[np.ndarray | None]
FixedKernel = Callable[[Node, Arrays, Graph], np.ndarray]


@register("golden", "QConv")
def _conv(node: Node, xs: Arrays, graph: Graph) -> np.ndarray:
    return conv.requant_channels(node, conv.conv_accumulate(node, xs), channel_axis=1)


@register("golden", "QConvTranspose")
def _conv_transpose(node: Node, xs: Arrays, graph: Graph) -> np.ndarray:
    out_spatial = tuple(node.attr("output_spatial"))
    acc = conv.conv_transpose_accumulate(node, xs, (0, 0) + out_spatial)
    return conv.requant_channels(node, acc, channel_axis=1)


@register("golden", "QMatMul")
def _matmul(node: Node, xs: Arrays, graph: Graph) -> np.ndarray:
    acc = conv.matmul_accumulate(node, xs)
    return conv.requant_channels(node, acc, channel_axis=acc.ndim - 1)


def _one_input(kernel: Callable[[Node, np.ndarray], np.ndarray]) -> FixedKernel:
    return lambda n, xs, g: kernel(n, required(n, xs, 0))


register("golden", "QMaxPool")(_one_input(pool.max_pool))
register("golden", "QGlobalMaxPool")(_one_input(pool.global_max_pool))
register("golden", "QAveragePool")(_one_input(pool.average_pool))
register("golden", "QGlobalAveragePool")(_one_input(pool.global_average_pool))
register("golden", "QLut")(_one_input(eltwise.lut))
register("golden", "QRequant")(_one_input(eltwise.requant))
register("golden", "QPad")(_one_input(eltwise.pad))
register("golden", "QAdd")(lambda n, xs, g: eltwise.add(n, required(n, xs, 0), required(n, xs, 1)))
register("golden", "QMul")(lambda n, xs, g: eltwise.mul(n, required(n, xs, 0), required(n, xs, 1)))
register("golden", "QConcat")(lambda n, xs, g: eltwise.concat(n, *(required(n, xs, i) for i in range(len(xs)))))
register("golden", *recurrent.GATES)(lambda n, xs, g: recurrent.recurrent(n, xs))

# ONNX ops that only move values: applied to codes as they are (exact for any dtype)
CODE_MOVERS = frozenset(row.op for row in OPS.values() if row.moves_codes)


@register("golden", "QuantizeLinear")
def _quantize_linear(node: Node, xs: Arrays, graph: Graph) -> np.ndarray:
    x, scale = required(node, xs, 0), required(node, xs, 1)
    zero = xs[2] if len(xs) > 2 and xs[2] is not None else np.zeros((), np.uint8)
    info = np.iinfo(zero.dtype)
    qmin, qmax = int(info.min), int(info.max)
    declared = graph.values.get(node.outputs[0])
    if declared is not None and declared.quant is not None:  # codes narrower than their container
        qmin, qmax = max(qmin, declared.quant.qmin), min(qmax, declared.quant.qmax)
    axis = int(node.attr("axis", 1)) if np.ndim(scale) == 1 and np.size(scale) > 1 else None
    codes = fixedpoint.quantize(x, scale, zero.astype(np.int64), qmin, qmax, axis=axis)
    return codes.astype(zero.dtype)


@register("golden", "DequantizeLinear")
def _dequantize_linear(node: Node, xs: Arrays, graph: Graph) -> np.ndarray:
    x, scale = required(node, xs, 0), required(node, xs, 1)
    zero = xs[2] if len(xs) > 2 and xs[2] is not None else np.zeros((), x.dtype)
    axis = int(node.attr("axis", 1)) if np.ndim(scale) == 1 and np.size(scale) > 1 else None
    return fixedpoint.dequantize(x, scale, zero.astype(np.int64), axis=axis).astype(scale.dtype)


# the golden kernels by op from the op table: fixed-point ops, and the Quantize/DequantizeLinear boundary
FIXED_KERNELS: dict[str, FixedKernel] = {op: k for op, k in kernels("golden").items() if op in FIXED_OPS}
BOUNDARY_KERNELS: dict[str, FixedKernel] = {op: k for op, k in kernels("golden").items() if op in OPS}


def is_fixed_point(graph: Graph) -> bool:
    """True when ``graph`` is quantized: it has fixed-point ops or quantize/dequantize boundaries."""
    return any(node.domain == FIXED_DOMAIN or node.op in BOUNDARY_KERNELS for node in graph.nodes)


def run_node(node: Node, xs: list, graph: Graph, kernels: dict | None = None) -> list:
    """One node of a fixed-point graph on its input arrays (None for an absent optional input):
    integer kernels give codes, boundary ops convert, host ops run in float; its outputs in order."""
    kernels = FIXED_KERNELS if kernels is None else kernels
    if node.domain == FIXED_DOMAIN:
        quant = graph.values[node.outputs[0]].quant if node.outputs[0] in graph.values else None
        return [as_codes(kernels[node.op](node, xs, graph), quant)]
    if node.op in BOUNDARY_KERNELS:
        return [BOUNDARY_KERNELS[node.op](node, xs, graph)]
    if node.op in FLOAT_KERNELS:
        results = FLOAT_KERNELS[node.op](node, xs)
        first = xs[0] if xs else None
        if node.op in CODE_MOVERS and first is not None and first.dtype.kind in "iu":
            results = [r.astype(first.dtype) if i == 0 else r for i, r in enumerate(results)]
        return results
    raise UnsupportedOpError([(node.name, node.op, graph.opset)], where=graph.name)


def run_golden(graph: Graph, feeds: dict[str, np.ndarray], outputs: list[str] | None = None,
               keep_all: bool = False, kernels: dict[str, FixedKernel] | None = None) -> dict[str, np.ndarray]:
    """Execute the fixed-point ``graph`` on float ``feeds``; returns the requested values by name.

    With ``keep_all`` every intermediate value is returned (used by tests and the compiler).
    ``kernels`` replaces the fixed-point kernel table (the CPU engine's faster, equal kernels).
    """
    kernels = FIXED_KERNELS if kernels is None else kernels
    if not is_fixed_point(graph):
        raise QuantizationError(
            f"graph {graph.name!r} is not quantized: the golden engine runs fixed-point models; "
            "run `hwaccel quantize MODEL --calib DATA` first (or give a QDQ model)"
        )
    env: dict[str, np.ndarray] = dict(graph.initializers)
    for t in graph.inputs:
        if t.name not in feeds:
            raise ModelError(f"missing input {t.name!r}")
        env[t.name] = np.asarray(feeds[t.name])
    for node in graph.nodes:
        results = run_node(node, [env[name] if name else None for name in node.inputs], graph, kernels)
        for name, value in zip(node.outputs, results):
            if name:
                env[name] = value
    wanted = list(env) if keep_all else (outputs or [t.name for t in graph.outputs])
    return {name: env[name] for name in wanted}
