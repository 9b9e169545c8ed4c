"""Quantized ONNX (QDQ or QLinear/Integer ops, ours or onnxruntime's) -> fixed-point IR."""

from __future__ import annotations

import json
import os
from dataclasses import replace

import onnx

from ..errors import ModelError, QuantizationError
from ..ir.graph import Graph
from ..passes.lower.cell_format import CELL_FORMAT_METADATA_KEY, CellFormat
from ..passes.lower_qdq import LowerOptions, lower_qdq
from .onnx_import import import_model
from .safe_load import read_onnx
from .validate import named

__all__ = ["QUANTIZED_OPS", "is_quantized", "bits_metadata", "cell_format_metadata", "load_quantized", "lower_model"]

QUANTIZED_OPS = frozenset({"QuantizeLinear", "DequantizeLinear", "QLinearConv", "QLinearMatMul", "ConvInteger", "MatMulInteger"})


def is_quantized(graph: Graph) -> bool:
    return any(node.op in QUANTIZED_OPS for node in graph.nodes)


def bits_metadata(model: onnx.ModelProto, where: str = "model") -> dict[str, int]:
    """Code widths narrower than their container, from the ``hwaccel.bits`` metadata entry."""
    from .quantize import BITS_METADATA_KEY

    for prop in model.metadata_props:
        if prop.key == BITS_METADATA_KEY:
            try:
                bits = {str(k): int(v) for k, v in json.loads(prop.value).items()}
            except (ValueError, AttributeError, TypeError):
                raise ModelError(f"{where}: metadata {BITS_METADATA_KEY!r} must be a JSON object of widths") from None
            bad = {k: v for k, v in bits.items() if not 2 <= v <= 16}
            if bad:
                raise ModelError(f"{where}: code widths must be in 2..16, not {bad}")
            return bits
    return {}


def lower_model(model: onnx.ModelProto, where: str = "model", options: LowerOptions | None = None) -> Graph:
    """Import a quantized ONNX model and lower it to the fixed-point IR."""
    graph = import_model(model, where)
    if not is_quantized(graph):
        raise QuantizationError(
            f"{where}: the model is not quantized (no QuantizeLinear/DequantizeLinear or QLinear ops); "
            "run `hwaccel quantize MODEL --calib DATA` first"
        )
    options = options or LowerOptions()
    options = replace(options, bits={**bits_metadata(model, where), **options.bits},
                      cell_format=options.cell_format or cell_format_metadata(model, where))
    with named(where):
        return lower_qdq(graph, options)


def cell_format_metadata(model: onnx.ModelProto, where: str = "model") -> CellFormat | None:
    """The recurrent cell format ``hwaccel quantize`` chose (metadata ``hwaccel.cell_format``), or None."""
    for prop in model.metadata_props:
        if prop.key == CELL_FORMAT_METADATA_KEY:
            return CellFormat.from_json(prop.value, where)
    return None


def load_quantized(path: str | os.PathLike[str], options: LowerOptions | None = None) -> Graph:
    return lower_model(read_onnx(path), str(path), options)
