"""Per-op import checks: the ``check`` rules of the op table (see :mod:`hwaccel.frontend.validate`).

A rule ``rule(node, graph)`` proves what the op's kernels assume about ranks, shapes and
attributes (channels divisible by ``group``, positive strides, a window no larger than the padded
input, matching inner dimensions...) and raises :class:`~hwaccel.errors.ModelError` naming the
tensor or attribute; the caller prefixes the file and node. Unknown (symbolic) extents pass.
"""

from __future__ import annotations

import math

import numpy as np

from ..errors import ModelError
from ..ir.graph import Dim, Graph, Node
from ..ir.ops import register

__all__ = ["shape_of", "conv", "conv_node", "matmul", "pool"]

AUTO_PADS = ("NOTSET", "SAME_UPPER", "SAME_LOWER", "VALID")


def shape_of(graph: Graph, name: str) -> tuple[Dim, ...] | None:
    """The shape of value ``name`` (None when unknown or ``name`` is the empty optional input)."""
    return graph.shape(name) if name else None


def _input(node: Node, k: int) -> str:
    return node.inputs[k] if len(node.inputs) > k else ""


def _ints(node: Node, key: str, length: int, default: int, low: int) -> list[int]:
    values = node.attr(key)
    if values is None:
        return [default] * length
    values = [int(v) for v in values]
    if len(values) != length:
        raise ModelError(f"attribute {key} must have {length} entries, not {values}")
    if any(v < low for v in values):
        raise ModelError(f"attribute {key} must be {'positive' if low == 1 else 'non-negative'}, not {values}")
    return values


def _rank_at_least(graph: Graph, name: str, rank: int, what: str) -> tuple[Dim, ...] | None:
    shape = shape_of(graph, name)
    if shape is not None and len(shape) < rank:
        raise ModelError(f"{what} {name!r} must have rank >= {rank}, not shape {tuple(shape)}")
    return shape


def _window(node: Node, x: str, xs: tuple[Dim, ...], kernel: list[int], has_dilations: bool = True) -> None:
    """Strides, dilations, pads and auto_pad of a sliding window over input ``x``; the window fits."""
    n = len(kernel)
    strides = _ints(node, "strides", n, 1, 1)
    dilations = _ints(node, "dilations", n, 1, 1) if has_dilations else [1] * n
    pads = _ints(node, "pads", 2 * n, 0, 0)
    auto_pad = node.attr("auto_pad", "NOTSET")
    if auto_pad not in AUTO_PADS:
        raise ModelError(f"attribute auto_pad must be one of {', '.join(AUTO_PADS)}, not {auto_pad!r}")
    if any(v > (1 << 20) for v in [*strides, *dilations, *pads, *kernel]):
        raise ModelError(f"window attributes must be at most {1 << 20}, not kernel {kernel}, strides {strides}, "
                         f"dilations {dilations}, pads {pads}")
    if auto_pad in ("SAME_UPPER", "SAME_LOWER"):
        return
    for i, (k, d, size) in enumerate(zip(kernel, dilations, xs[2:])):
        if not isinstance(size, int):
            continue
        span, padded = (k - 1) * d + 1, size + (pads[i] + pads[i + n] if auto_pad == "NOTSET" else 0)
        if span > padded:
            raise ModelError(f"the window ({span} with dilation {d}) must fit the padded input {x!r} "
                             f"({padded} along spatial axis {i}), not exceed it")


def conv(node: Node, graph: Graph, x: str, w: str, b: str, transpose: bool = False) -> None:
    """Conv-family geometry: ranks, channels against ``group``, kernel_shape, window, bias length."""
    xs = _rank_at_least(graph, x, 3, "input")
    ws = shape_of(graph, w)
    if xs is None or ws is None:
        return
    if len(ws) != len(xs):
        raise ModelError(f"weight {w!r} must have the rank {len(xs)} of input {x!r}, not shape {tuple(ws)}")
    group = int(node.attr("group", 1))
    if group < 1:
        raise ModelError(f"attribute group must be positive, not {group}")
    channels, kernel = xs[1], [int(k) if isinstance(k, int) else 1 for k in ws[2:]]
    if any(k < 1 for k in kernel):
        raise ModelError(f"weight {w!r} kernel extents must be positive, not {tuple(ws)}")
    if isinstance(channels, int) and channels % group:
        raise ModelError(f"attribute group must divide the {channels} channels of input {x!r}, not {group}")
    w_in, w_out = (ws[0], ws[1]) if transpose else (ws[1], ws[0])
    if isinstance(channels, int) and isinstance(w_in, int):
        expected = channels if transpose else channels // group
        if w_in != expected:
            raise ModelError(f"weight {w!r} must take {expected} input channels (input {x!r} has {channels}, "
                             f"group {group}), not {w_in} (shape {tuple(ws)})")
    if not transpose and isinstance(w_out, int) and w_out % group:
        raise ModelError(f"attribute group must divide the {w_out} output channels of weight {w!r}, not {group}")
    shape = node.attr("kernel_shape")
    if shape is not None and [int(k) for k in shape] != list(ws[2:]):
        raise ModelError(f"attribute kernel_shape must equal the weight {w!r} extents {list(ws[2:])}, not {list(shape)}")
    if transpose:
        strides = _ints(node, "strides", len(kernel), 1, 1)
        out_pad = _ints(node, "output_padding", len(kernel), 0, 0)
        if any(p >= s for p, s in zip(out_pad, strides)):
            raise ModelError(f"attribute output_padding must be smaller than the strides {strides}, not {out_pad}")
        _ints(node, "dilations", len(kernel), 1, 1)
        _ints(node, "pads", 2 * len(kernel), 0, 0)
    else:
        _window(node, x, xs, kernel)
    outputs = w_out * group if transpose and isinstance(w_out, int) else w_out
    bs = shape_of(graph, b)
    if bs is not None and isinstance(outputs, int) and tuple(bs) != (outputs,):
        raise ModelError(f"bias {b!r} must have shape ({outputs},), not {tuple(bs)}")


def pool(node: Node, graph: Graph) -> None:
    """Max/average pooling: kernel_shape of the input's spatial rank, the window fits."""
    x = node.inputs[0]
    xs = _rank_at_least(graph, x, 3, "input")
    if xs is None:
        return
    n = len(xs) - 2
    kernel = _ints(node, "kernel_shape", n, 0, 1)
    if node.attr("kernel_shape") is None:
        raise ModelError("attribute kernel_shape is required")
    _window(node, x, xs, kernel, has_dilations=node.op == "MaxPool")


def _global_pool(node: Node, graph: Graph) -> None:
    _rank_at_least(graph, node.inputs[0], 3, "input")


def _inner(graph: Graph, a: str, b: str, k_a: Dim, k_b: Dim) -> None:
    if isinstance(k_a, int) and isinstance(k_b, int) and k_a != k_b:
        raise ModelError(f"the inner dimensions must match: {k_a} of {a!r} {tuple(shape_of(graph, a) or ())} "
                         f"against {k_b} of {b!r} {tuple(shape_of(graph, b) or ())}")


def _gemm(node: Node, graph: Graph) -> None:
    a, b, c = node.inputs[0], node.inputs[1], _input(node, 2)
    sa, sb = shape_of(graph, a), shape_of(graph, b)
    for name, shape in ((a, sa), (b, sb)):
        if shape is not None and len(shape) != 2:
            raise ModelError(f"input {name!r} must have rank 2, not shape {tuple(shape)}")
    if sa is None or sb is None:
        return
    ta, tb = int(node.attr("transA", 0)), int(node.attr("transB", 0))
    _inner(graph, a, b, sa[0] if ta else sa[1], sb[1] if tb else sb[0])
    sc = shape_of(graph, c)
    if sc is not None:
        _broadcasts(c, sc, (sa[1] if ta else sa[0], sb[0] if tb else sb[1]))


def matmul(node: Node, graph: Graph) -> None:
    a, b = node.inputs[0], node.inputs[3] if node.op == "QLinearMatMul" else node.inputs[1]
    sa, sb = shape_of(graph, a), shape_of(graph, b)
    for name, shape in ((a, sa), (b, sb)):
        if shape is not None and len(shape) < 1:
            raise ModelError(f"input {name!r} must have rank >= 1, not a scalar")
    if sa is not None and sb is not None:
        _inner(graph, a, b, sa[-1], sb[-2] if len(sb) >= 2 else sb[0])


def _broadcasts(name: str, shape: tuple[Dim, ...], target: tuple[Dim, ...]) -> None:
    if len(shape) > len(target):
        raise ModelError(f"input {name!r} shape {tuple(shape)} must broadcast to {tuple(target)}")
    for s, t in zip(reversed(shape), reversed(target)):
        if isinstance(s, int) and isinstance(t, int) and s not in (1, t):
            raise ModelError(f"input {name!r} shape {tuple(shape)} must broadcast to {tuple(target)}")


def _elementwise(node: Node, graph: Graph) -> None:
    shapes = [(i, shape_of(graph, i)) for i in node.inputs if i]
    known = [(i, s) for i, s in shapes if s is not None]
    rank = max((len(s) for _, s in known), default=0)
    for axis in range(1, rank + 1):
        sizes = {s[-axis] for _, s in known if len(s) >= axis and isinstance(s[-axis], int) and s[-axis] != 1}
        if len(sizes) > 1:
            listed = ", ".join(f"{i!r} {tuple(s)}" for i, s in known)
            raise ModelError(f"the inputs must broadcast together, not {listed}")


def _axis(key: str, default: int, inclusive: bool = False):
    def check(node: Node, graph: Graph) -> None:
        shape = shape_of(graph, node.inputs[0])
        if shape is None:
            return
        axis, rank = int(node.attr(key, default)), len(shape)
        if not -rank <= axis < rank + int(inclusive):
            raise ModelError(f"attribute {key} must be in {-rank}..{rank - 1 + int(inclusive)} for input "
                             f"{node.inputs[0]!r} of rank {rank}, not {axis}")
    return check


def _transpose(node: Node, graph: Graph) -> None:
    shape, perm = shape_of(graph, node.inputs[0]), node.attr("perm")
    if shape is not None and perm is not None and sorted(int(p) for p in perm) != list(range(len(shape))):
        raise ModelError(f"attribute perm must be a permutation of 0..{len(shape) - 1}, not {list(perm)}")


def _gather(node: Node, graph: Graph) -> None:
    _axis("axis", 0)(node, graph)
    shape, indices = shape_of(graph, node.inputs[0]), graph.initializers.get(node.inputs[1])
    if shape is None or indices is None or not indices.size:
        return
    size = shape[int(node.attr("axis", 0))]
    if isinstance(size, int) and (indices.min() < -size or indices.max() >= size):
        raise ModelError(f"indices {node.inputs[1]!r} must be in {-size}..{size - 1}, not {indices.min()}..{indices.max()}")


def _batchnorm(node: Node, graph: Graph) -> None:
    xs = _rank_at_least(graph, node.inputs[0], 2, "input")
    if xs is None or not isinstance(xs[1], int):
        return
    for name in node.inputs[1:5]:
        shape = shape_of(graph, name)
        if shape is not None and tuple(shape) != (xs[1],):
            raise ModelError(f"parameter {name!r} must have shape ({xs[1]},) for the channels of {node.inputs[0]!r}, not {tuple(shape)}")


def _recurrent(gates: int):
    def check(node: Node, graph: Graph) -> None:
        hidden = int(node.attr("hidden_size", 0))
        if not 1 <= hidden <= 1 << 16:
            raise ModelError(f"attribute hidden_size must be in 1..{1 << 16}, not {hidden}")
        xs = _rank_at_least(graph, node.inputs[0], 3, "input")
        directions = 2 if node.attr("direction", "forward") == "bidirectional" else 1
        size = xs[2] if xs is not None and len(xs) == 3 else "?"
        for name, last in ((node.inputs[1], size), (node.inputs[2], hidden)):
            shape, want = shape_of(graph, name), (directions, gates * hidden, last)
            if shape is not None and (len(shape) != 3 or any(isinstance(s, int) and isinstance(t, int) and s != t
                                                             for s, t in zip(shape, want))):
                raise ModelError(f"weight {name!r} must have shape {want}, not {tuple(shape)}")
    return check


def _finite_attrs(*keys: str):
    def check(node: Node, graph: Graph) -> None:
        for key in keys:
            value = node.attr(key)
            if value is not None and not math.isfinite(float(value)):
                raise ModelError(f"attribute {key} must be finite, not {value!r}")
    return check


def _resize(node: Node, graph: Graph) -> None:
    name = _input(node, 1 if node.op == "Upsample" else 2)
    value = graph.initializers.get(name) if name else None
    if value is not None and value.size and (not np.all(np.isfinite(value)) or np.any(value <= 0)):
        raise ModelError(f"scales {name!r} must be finite and positive, not {value.tolist()}")


def conv_node(node: Node, graph: Graph) -> None:
    """Conv, ConvInteger, QLinearConv (weight at 3, bias at 8) and ConvTranspose."""
    if node.op == "QLinearConv":
        conv(node, graph, node.inputs[0], node.inputs[3], _input(node, 8))
    else:
        conv(node, graph, node.inputs[0], node.inputs[1], "" if node.op == "ConvInteger" else _input(node, 2),
             transpose=node.op == "ConvTranspose")


# the quantized variants (QLinear*, *Integer) register in validate_qdq, which calls these first
register("check", "Conv", "ConvTranspose")(conv_node)
register("check", "MaxPool", "AveragePool")(pool)
register("check", "GlobalAveragePool", "GlobalMaxPool")(_global_pool)
register("check", "Gemm")(_gemm)
register("check", "MatMul")(matmul)
register("check", "Add", "Sub", "Mul", "Sum", "Mean", "Max", "Min")(_elementwise)
register("check", "Concat")(_axis("axis", 0))
register("check", "Softmax")(_axis("axis", -1))
register("check", "Flatten")(_axis("axis", 1, inclusive=True))
register("check", "Transpose")(_transpose)
register("check", "Gather")(_gather)
register("check", "BatchNormalization")(_batchnorm)
register("check", "LSTM")(_recurrent(4))
register("check", "GRU")(_recurrent(3))
register("check", "RNN")(_recurrent(1))
register("check", "LeakyRelu")(_finite_attrs("alpha"))
register("check", "HardSigmoid")(_finite_attrs("alpha", "beta"))
register("check", "Resize", "Upsample")(_resize)
