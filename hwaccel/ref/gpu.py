"""The GPU engine: the golden integer semantics on PyTorch, values kept on the device between ops.

Bit-identical to :func:`hwaccel.golden.fixed.run_golden` on any torch device: ``"cuda"`` (default),
or ``"cpu"`` (how CI tests it). PyTorch is imported only when an engine is made (optional extra
``hwaccel[gpu]``). Kernels are in :mod:`.gpu_ops`.

On the device: QConv (any spatial rank, groups/depthwise, dilation, stride, asymmetric pads),
QConvTranspose, QMatMul, QMaxPool, QGlobalMaxPool, QAveragePool, QGlobalAveragePool, QAdd, QMul,
QConcat, QLut, QRequant, QPad, QuantizeLinear, DequantizeLinear, and the data movers Reshape,
Flatten, Transpose, Squeeze, Unsqueeze, Identity, Gather, Shape (:mod:`.gpu_io`).

On the host, through the golden / float NumPy kernels (values copied to the host and back):
QLSTM, QGRU and QRNN; Resize and Upsample; every float op left in the graph (e.g. Softmax);
QConv, QConvTranspose and QMatMul whose accumulator is wider than 54 bits (no exact float type).
A data mover whose input is already on the host stays there.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import HwaccelError, ModelError, QuantizationError, UnsupportedOpError
from ..golden.float_executor import FLOAT_KERNELS
from ..golden.fixed import BOUNDARY_KERNELS, CODE_MOVERS, FIXED_KERNELS, is_fixed_point
from ..golden.fixed_ops.common import as_codes, code_dtype
from ..ir.graph import Graph, Node
from ..ir.ops import FIXED_DOMAIN

if TYPE_CHECKING:
    from .gpu_ops import Value

__all__ = ["GpuEngine", "run_gpu", "INSTALL_HINT"]

INSTALL_HINT = "the gpu engine needs PyTorch with CUDA: pip install 'hwaccel[gpu]'"


def _torch() -> Any:
    try:
        import torch
    except ImportError as exc:
        raise HwaccelError(INSTALL_HINT) from exc
    return torch


def resolve_device(device: str) -> Any:
    """The ``torch.device`` for ``device``; raises :class:`HwaccelError` without PyTorch or a CUDA device."""
    torch = _torch()
    try:
        resolved = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise HwaccelError(f"device must be a torch device such as 'cuda' or 'cpu', not {device!r}") from exc
    if resolved.type == "cuda":
        if not torch.cuda.is_available():
            raise HwaccelError(f"no CUDA device: torch {torch.__version__} finds none for device {device!r} "
                               "(run the gpu engine on the CPU with --device cpu)")
        # only float64 GEMMs are used, which TF32 never touches; set anyway so no float32 path can lose bits
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False
    return resolved


class GpuEngine:
    """The fixed-point ``graph`` on a torch ``device``; device constants are cached between runs.

    Parameters
    ----------
    graph
        A lowered fixed-point graph (see :func:`hwaccel.frontend.qdq.lower_model`).
    device
        Any torch device name; ``"cuda"`` by default.
    """

    def __init__(self, graph: Graph, device: str = "cuda") -> None:
        if not is_fixed_point(graph):
            raise QuantizationError(
                f"graph {graph.name!r} is not quantized: the gpu engine runs fixed-point models; "
                "run `hwaccel quantize MODEL --calib DATA` first (or give a QDQ model)"
            )
        unsupported = [(n.name, n.op, graph.opset) for n in graph.nodes if not _known(n.op, n.domain)]
        if unsupported:
            raise UnsupportedOpError(unsupported, where=graph.name)
        self.graph = graph
        self.device = resolve_device(device)
        from . import gpu_io, gpu_ops

        self._fixed, self._other, self._dev = gpu_ops.FIXED_TORCH, gpu_io.OTHER_TORCH, gpu_ops.Dev
        ranges = {name: (info.quant.qmin, info.quant.qmax) for name, info in graph.values.items() if info.quant is not None}
        self._ctx = gpu_ops.Context(self.device, graph.initializers.values(), ranges)
        self._last_use = {name: i for i, node in enumerate(graph.nodes) for name in node.inputs if name}

    def run(self, feeds: dict[str, np.ndarray], outputs: list[str] | None = None,
            keep_all: bool = False) -> dict[str, np.ndarray]:
        """Execute on float ``feeds``; returns the requested values (default: graph outputs) on the host.

        With ``keep_all`` every value is returned, as :func:`~hwaccel.golden.fixed.run_golden` does.
        """
        graph, ctx = self.graph, self._ctx
        env: dict[str, Value] = {}
        env.update(graph.initializers)
        for t in graph.inputs:
            if t.name not in feeds:
                raise ModelError(f"missing input {t.name!r}")
            feed = np.asarray(feeds[t.name])
            env[t.name] = ctx.wrap(ctx.upload(feed), feed.dtype)
        wanted = outputs or [t.name for t in graph.outputs]
        for i, node in enumerate(graph.nodes):
            xs = [env[name] if name else None for name in node.inputs]
            for name, value in zip(node.outputs, self._execute(node, xs)):
                if name:
                    env[name] = value
            if not keep_all:  # free device memory after a value's last reader
                for name in node.inputs:
                    if name and self._last_use.get(name) == i and name not in wanted and name not in graph.initializers:
                        env.pop(name, None)
        names = list(env) if keep_all else wanted
        return {name: ctx.host(env[name]) for name in names}  # type: ignore[misc]

    def _execute(self, node: Node, xs: list[Value]) -> list[Value]:
        ctx = self._ctx
        if node.domain == FIXED_DOMAIN:
            quant = self.graph.values[node.outputs[0]].quant if node.outputs[0] in self.graph.values else None
            if node.op in self._fixed:
                dtype = np.dtype(np.int32) if quant is None else code_dtype(quant.bits, quant.signed)
                return [ctx.wrap(self._fixed[node.op](ctx, node, xs), dtype)]
            return [as_codes(FIXED_KERNELS[node.op](node, [ctx.host(x) for x in xs], self.graph), quant)]
        on_device = bool(xs) and isinstance(xs[0], self._dev)
        if node.op in self._other and (node.op in BOUNDARY_KERNELS or on_device):
            return [self._other[node.op](ctx, node, xs)]
        host = [ctx.host(x) for x in xs]
        results = FLOAT_KERNELS[node.op](node, host)
        if node.op in CODE_MOVERS and host[0] is not None and host[0].dtype.kind in "iu":  # as run_golden
            results = [r.astype(host[0].dtype) if i == 0 else r for i, r in enumerate(results)]
        return list(results)


def _known(op: str, domain: str) -> bool:
    return op in FIXED_KERNELS if domain == FIXED_DOMAIN else op in BOUNDARY_KERNELS or op in FLOAT_KERNELS


def run_gpu(graph: Graph, feeds: dict[str, np.ndarray], outputs: list[str] | None = None, device: str = "cuda",
            keep_all: bool = False) -> dict[str, np.ndarray]:
    """Run the fixed-point ``graph`` with the GPU engine (bit-identical to :func:`run_golden`).

    Raises
    ------
    HwaccelError
        PyTorch is missing, or ``device`` is CUDA and no CUDA device is available.
    """
    return GpuEngine(graph, device).run(feeds, outputs, keep_all)
