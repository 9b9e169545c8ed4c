"""The float executor: runs an IR graph with NumPy kernels that follow ONNX semantics.

It is the reference for the float model (checked against onnxruntime and the ONNX node tests),
computes calibration statistics and folds constants at import. Kernels live in
:mod:`.float_ops`, one module per op family, registered as the ``float`` kernels of the op table
(:mod:`hwaccel.ir.ops`); :data:`FLOAT_KERNELS` is that registry's view.
"""

from __future__ import annotations

from typing import Callable, Mapping

import numpy as np

from ..errors import ModelError, UnsupportedOpError
from ..ir.graph import Graph, Node, TensorInfo
from ..ir.ops import kernels
from .float_ops import pointwise

__all__ = ["Kernel", "FLOAT_KERNELS", "LEGACY_KERNELS", "kernel_for", "run_node_float", "run_float"]

Kernel = Callable[[Node, list[np.ndarray | None]], list[np.ndarray]]

FLOAT_KERNELS: dict[str, Kernel] = kernels("float")  # op -> kernel, from the op table

# Ops whose semantics changed at an opset: op -> (first opset of the FLOAT_KERNELS semantics,
# kernel for older opsets).
LEGACY_KERNELS: dict[str, tuple[int, Kernel]] = {
    "Softmax": (13, pointwise.softmax_legacy),
}


def kernel_for(node: Node, opset: int | None = None) -> Kernel | None:
    """The kernel of ``node`` under ``opset`` (None: the newest semantics), or None if unsupported."""
    if node.domain not in ("", "ai.onnx"):
        return None
    legacy = LEGACY_KERNELS.get(node.op)
    if legacy is not None and opset is not None and opset < legacy[0]:
        return legacy[1]
    return FLOAT_KERNELS.get(node.op)


def run_node_float(node: Node, inputs: list[np.ndarray | None], opset: int | None = None) -> list[np.ndarray]:
    """Evaluate one node on constant ``inputs`` (in ``node.inputs`` order, None for a missing one).

    Raises
    ------
    UnsupportedOpError
        When no float kernel implements ``node.op``.
    """
    kernel = kernel_for(node, opset)
    if kernel is None:
        raise UnsupportedOpError([(node.name, node.op, opset or 0)], where="float executor")
    return kernel(node, inputs)


def run_float(graph: Graph, feeds: Mapping[str, np.ndarray], outputs: list[str] | None = None) -> dict[str, np.ndarray]:
    """Execute ``graph`` in floating point on ``feeds`` (graph input name -> array).

    Parameters
    ----------
    graph
        A topologically ordered IR graph; its initializers are the constants.
    feeds
        One array per graph input. An array of another type is cast to the declared type when
        NumPy's ``same_kind`` rule allows it (e.g. float64 for float32); static extents must match.
    outputs
        Names of the values to return (any input, initializer or node output); default: the
        graph outputs.

    Returns
    -------
    dict
        The requested values by name, in the order requested.

    Raises
    ------
    ModelError
        A feed is missing or has the wrong rank, extents or element type; a requested value does
        not exist.
    UnsupportedOpError
        The graph has nodes without a float kernel (all of them are listed).
    """
    kernels = [kernel_for(n, graph.opset) for n in graph.nodes]
    unsupported = [(n.name, n.op, graph.opset) for n, k in zip(graph.nodes, kernels) if k is None]
    if unsupported:
        raise UnsupportedOpError(unsupported, where=graph.name)
    wanted = list(outputs) if outputs is not None else [t.name for t in graph.outputs]
    known = set(graph.initializers) | {t.name for t in graph.inputs} | {o for n in graph.nodes for o in n.outputs if o}
    for name in wanted:
        if name not in known:
            raise ModelError(f"{graph.name}: requested output {name!r} is not a value of the graph")
    env: dict[str, np.ndarray] = dict(graph.initializers)
    for info in graph.inputs:
        env[info.name] = _checked_feed(info, feeds, graph.name)
    last_use = {name: i for i, node in enumerate(graph.nodes) for name in node.inputs if name}
    keep = set(wanted) | set(graph.initializers)
    for i, (node, kernel) in enumerate(zip(graph.nodes, kernels)):
        assert kernel is not None  # checked above
        missing = [name for name in node.inputs if name and name not in env]
        if missing:
            raise ModelError(f"{graph.name}: node {node.name!r} reads {missing[0]!r} before it is computed")
        results = kernel(node, [env[name] if name else None for name in node.inputs])
        for name, value in zip(node.outputs, results):
            if name and (name in keep or name in last_use):
                env[name] = value
        for name in node.inputs:  # free intermediates after their last reader
            if name and last_use.get(name) == i and name not in keep:
                env.pop(name, None)
    return {name: env[name] for name in wanted}


def _checked_feed(info: TensorInfo, feeds: Mapping[str, np.ndarray], where: str) -> np.ndarray:
    if info.name not in feeds:
        raise ModelError(f"{where}: missing input {info.name!r} (feeds given: {sorted(feeds)!r})")
    value = np.asarray(feeds[info.name])
    if info.shape is not None:
        fits = value.ndim == len(info.shape) and all(
            not isinstance(d, int) or d == n for d, n in zip(info.shape, value.shape))
        if not fits:
            raise ModelError(f"{where}: input {info.name!r} shape must be {tuple(info.shape)}, not {value.shape}")
    if info.dtype not in ("undefined", str(value.dtype)):
        declared = np.dtype(info.dtype)
        if not np.can_cast(value.dtype, declared, casting="same_kind"):
            raise ModelError(f"{where}: input {info.name!r} element type must be {declared}, not {value.dtype}")
        value = value.astype(declared)
    return value
