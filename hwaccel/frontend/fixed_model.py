"""A model file -> the fixed-point IR the hardware is compiled from (QDQ/QLinear as it is, float quantized)."""

from __future__ import annotations

from pathlib import Path

from ..errors import QuantizationError
from ..files import load_inputs
from ..ir.graph import Graph
from .onnx_import import load_model
from .qdq import is_quantized, load_quantized, lower_model
from .validate import named

__all__ = ["fixed_model"]


def fixed_model(path: str | Path, calib: str | Path | None = None) -> tuple[Graph, bytes]:
    """The fixed-point IR of the model at ``path`` and the quantized ONNX it comes from.

    Parameters
    ----------
    path
        A QDQ/QLinear ONNX file (taken as it is) or a float one.
    calib
        Calibration inputs (``.npz``/``.npy``) that quantize a float model with the default
        :class:`~hwaccel.frontend.quantize.QuantConfig`; must be ``None`` for a quantized model.

    Returns
    -------
    tuple
        The lowered :class:`~hwaccel.ir.graph.Graph` and the quantized model's serialized bytes.

    Raises
    ------
    QuantizationError
        ``calib`` is given for a quantized model, or missing for a float one.
    """
    graph = load_model(str(path))
    if is_quantized(graph):
        if calib:
            raise QuantizationError(f"{path}: the model is already quantized; --calib applies to float models only")
        return load_quantized(path), Path(path).read_bytes()
    if not calib:
        raise QuantizationError(f"{path}: the model is float; give --calib DATA to quantize it first, or a QDQ model")
    from .quantize import QuantConfig, quantize_graph

    with named(str(path)):
        qdq, _ = quantize_graph(graph, load_inputs(str(calib), graph, samples=True), QuantConfig())
    return lower_model(qdq, str(path)), qdq.SerializeToString()
