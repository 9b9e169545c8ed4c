"""Resolve the shape arithmetic exporters emit for a dynamic batch.

torch writes ``x.view(x.size(0), -1)`` as Shape -> Gather -> Unsqueeze -> Concat -> Reshape, and
an LSTM's zero initial state as ConstantOfShape of such a vector. With the symbolic batch
dimension tracked as a name, this pass evaluates those chains: a Reshape whose target keeps the
symbolic dimension in its own position gets the constant target with ``0`` ("copy that
dimension") there, and a recurrent node's all-zero initial state from ConstantOfShape is dropped
(ONNX defines a missing initial state as zeros). The dead shape nodes go with the dead-value pass.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from ..ir.graph import Graph, Node, TensorInfo

__all__ = ["fold_shape_arithmetic"]

_RECURRENT_STATE_INPUTS = {"LSTM": (5, 6), "GRU": (5,), "RNN": (5,)}


def fold_shape_arithmetic(graph: Graph) -> Graph:
    symbolic: dict[str, np.ndarray] = {}  # value -> 1-D object array of ints and dimension names
    zero_fills: set[str] = set()  # outputs of ConstantOfShape(symbolic, value 0)
    consts = dict(graph.initializers)
    values = dict(graph.values)
    nodes: list[Node] = []
    changed = False
    for node in graph.nodes:
        result = _evaluate(node, graph, symbolic, consts)
        if result is not None:
            symbolic[node.outputs[0]] = result
        if node.op == "ConstantOfShape" and node.inputs[0] in symbolic and not np.any(_fill_value(node)):
            zero_fills.add(node.outputs[0])
        if node.op == "Reshape" and node.inputs[1] in symbolic:
            target = _static_target(symbolic[node.inputs[1]], graph.shape(node.inputs[0]), node)
            if target is not None:
                name = f"{node.name}.shape"
                consts[name] = target
                values[name] = TensorInfo(name, (len(target),), "int64")
                out = values.get(node.outputs[0])
                shape = _reshaped(graph.shape(node.inputs[0]), target)
                if out is not None and shape is not None:
                    values[node.outputs[0]] = replace(out, shape=shape)
                node = replace(node, inputs=(node.inputs[0], name))
                changed = True
        if node.op in _RECURRENT_STATE_INPUTS:
            inputs = list(node.inputs)
            for index in _RECURRENT_STATE_INPUTS[node.op]:
                if index < len(inputs) and inputs[index] in zero_fills:
                    inputs[index] = ""
                    changed = True
            node = replace(node, inputs=tuple(inputs))
        nodes.append(node)
    return graph.replace(nodes=tuple(nodes), initializers=consts, values=values) if changed else graph


def _fill_value(node: Node) -> np.ndarray:
    value = node.attr("value")
    return np.zeros(1) if value is None else np.asarray(value)


def _operand(name: str, symbolic: dict[str, np.ndarray], consts) -> np.ndarray | None:
    if name in symbolic:
        return symbolic[name]
    if name in consts:
        return np.asarray(consts[name]).astype(object)
    return None


def _evaluate(node: Node, graph: Graph, symbolic: dict[str, np.ndarray], consts) -> np.ndarray | None:
    """The symbolic value of a shape-arithmetic node's output, when its inputs have one."""
    if node.op == "Shape":
        shape = graph.shape(node.inputs[0])
        if shape is None or all(isinstance(d, int) for d in shape):
            return None
        return np.array(list(shape), dtype=object)[node.attr("start", 0) : node.attr("end", None)]
    if not any(i in symbolic for i in node.inputs):
        return None  # before _operand: it copies each constant input (a weight too) to an object array
    found = [_operand(i, symbolic, consts) for i in node.inputs if i]
    operands = [o for o in found if o is not None]
    if len(operands) != len(found):
        return None
    if node.op == "Gather" and int(node.attr("axis", 0)) == 0 and operands[0].ndim == 1:
        taken = np.take(operands[0], operands[1].astype(np.int64))
        result = np.empty(np.shape(taken), dtype=object)
        result[...] = taken
        return result
    if node.op == "Unsqueeze":
        return operands[0].reshape(-1)
    if node.op == "Squeeze":
        return operands[0].reshape(-1)
    if node.op == "Concat" and all(o.ndim == 1 for o in operands):
        return np.concatenate(operands)
    if node.op == "Cast":
        return operands[0]
    return None


def _reshaped(data_shape, target: np.ndarray) -> tuple | None:
    """Output shape of Reshape(data, target) with 0 = copy and one -1 = the rest (static rest only)."""
    dims = [data_shape[i] if t == 0 else int(t) for i, t in enumerate(target.tolist())]
    fixed = [d for d in data_shape if isinstance(d, int)]
    copied_symbols = [d for d in dims if isinstance(d, str)]
    if len(fixed) + len(copied_symbols) != len(data_shape) or dims.count(-1) > 1:
        return None
    known = int(np.prod([d for d in dims if isinstance(d, int) and d != -1]))
    total = int(np.prod(fixed))
    return tuple(total // known if d == -1 else d for d in dims)


def _static_target(target: np.ndarray, data_shape, node: Node) -> np.ndarray | None:
    """Replace each symbolic entry by 0 (copy) when it is the data's own dimension at that position."""
    if data_shape is None or int(node.attr("allowzero", 0)):
        return None
    out = []
    for i, d in enumerate(target.tolist()):
        if isinstance(d, str):
            if i >= len(data_shape) or data_shape[i] != d:
                return None
            out.append(0)
        else:
            out.append(int(d))
    return np.array(out, dtype=np.int64)
