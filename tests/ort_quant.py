"""Quantize a float ONNX file with onnxruntime's own quantize_static (the independent producer)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np

SATURATION = ("onnxruntime's u8s8 integer kernels saturate on this CPU (AVX2 without VNNI: int16 pair sums; "
              "MatMulInteger of 255 x -128 over 64 terms gives -1048576, not -2088960), so they are no reference here")


@lru_cache(maxsize=None)
def ort_u8s8_saturates() -> bool:
    """Whether onnxruntime's u8 x s8 integer GEMM (behind its fused QLinearConv/QGemm and QOperator
    kernels) saturates here, as MLAS does on x86 CPUs without VNNI; its QDQ reference (standard
    DequantizeLinear / float op / QuantizeLinear kernels) is exact either way."""
    import onnx
    import onnxruntime as ort
    from onnx import TensorProto, helper, numpy_helper

    b = numpy_helper.from_array(np.full((64, 8), -128, np.int8), "b")
    graph = helper.make_graph([helper.make_node("MatMulInteger", ["a", "b"], ["y"])], "probe",
                              [helper.make_tensor_value_info("a", TensorProto.UINT8, [4, 64])],
                              [helper.make_tensor_value_info("y", TensorProto.INT32, [4, 8])], [b])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    y = sess.run(None, {"a": np.full((4, 64), 255, np.uint8)})[0]
    return bool((y != 64 * 255 * -128).any())

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
