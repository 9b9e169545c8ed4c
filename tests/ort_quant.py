"""Quantize a float ONNX file with onnxruntime's own quantize_static (the independent producer)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

FLAVOURS = {
    # name: (quant_format, activation type, per_channel)
    "qdq-int8-per-tensor": ("QDQ", "QInt8", False),
    "qdq-uint8-per-channel": ("QDQ", "QUInt8", True),
    "qoperator-uint8": ("QOperator", "QUInt8", False),
}


def ort_quantize(model_path: Path, out_path: Path, calib: np.ndarray, flavour: str, input_name: str = "input") -> Path:
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static

    fmt, act, per_channel = FLAVOURS[flavour]

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self.batches = iter([{input_name: calib[i : i + 32]} for i in range(0, len(calib), 32)])

        def get_next(self):
            return next(self.batches, None)

    quantize_static(
        str(model_path), str(out_path), Reader(), quant_format=getattr(QuantFormat, fmt),
        activation_type=getattr(QuantType, act), weight_type=QuantType.QInt8, per_channel=per_channel,
    )
    return out_path
