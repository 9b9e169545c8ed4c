"""onnxruntime as the independent reference engine (an optional test dependency)."""

from __future__ import annotations

import os

import numpy as np

from ..errors import HwaccelError

__all__ = ["run_onnxruntime"]


def run_onnxruntime(model_path: str | os.PathLike[str], feeds: dict[str, np.ndarray], threads: int = 0) -> dict[str, np.ndarray]:
    """Run the ONNX file with onnxruntime's CPU provider; returns outputs by name."""
    try:
        import onnxruntime as ort
    except ImportError:
        raise HwaccelError("the onnxruntime engine needs onnxruntime: pip install 'hwaccel[test]'") from None
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.log_severity_level = 3
    try:
        session = ort.InferenceSession(str(model_path), options, providers=["CPUExecutionProvider"])
        names = [o.name for o in session.get_outputs()]
        results = session.run(names, feeds)
    except Exception as exc:  # onnxruntime raises its own exception types
        raise HwaccelError(f"{model_path}: onnxruntime failed: {str(exc).splitlines()[0]}") from None
    return dict(zip(names, (np.asarray(r) for r in results)))
