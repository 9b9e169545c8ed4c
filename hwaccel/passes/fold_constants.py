"""Evaluate nodes whose inputs are all constants and store their outputs as initializers.

Also folds ``Shape`` of a value whose shape is fully static. Quantize/Dequantize nodes are kept:
they carry the quantization the QDQ importer reads.
"""

from __future__ import annotations

import numpy as np

from ..ir.graph import Graph, TensorInfo

__all__ = ["fold_constants"]

_KEEP = frozenset({"QuantizeLinear", "DequantizeLinear"})


def fold_constants(graph: Graph) -> Graph:
    from ..golden.float_executor import FLOAT_KERNELS, run_node_float

    consts = dict(graph.initializers)
    values = dict(graph.values)
    kept = []
    for node in graph.nodes:
        static_shape = _static_shape_of(node, graph) if node.op == "Shape" else None
        foldable = (
            node.op not in _KEEP
            and node.op in FLOAT_KERNELS
            and (static_shape is not None or all(not name or name in consts for name in node.inputs))
        )
        if not foldable:
            kept.append(node)
            continue
        if static_shape is not None:
            start, end = node.attr("start", 0), node.attr("end", None)
            results = [np.asarray(static_shape[start:end], dtype=np.int64)]
        else:
            results = run_node_float(node, [consts[name] if name else None for name in node.inputs], graph.opset)
        for name, array in zip(node.outputs, results):
            if name:
                array = np.asarray(array)
                consts[name] = array
                values[name] = TensorInfo(name, tuple(int(d) for d in array.shape), str(array.dtype))
    if len(kept) == len(graph.nodes):
        return graph
    return graph.replace(nodes=tuple(kept), initializers=consts, values=values)


def _static_shape_of(node, graph: Graph) -> tuple[int, ...] | None:
    shape = graph.shape(node.inputs[0])
    if shape is None or not all(isinstance(d, int) for d in shape):
        return None
    return tuple(int(d) for d in shape)
