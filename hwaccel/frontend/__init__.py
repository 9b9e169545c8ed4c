"""Front end: ONNX files in, IR graphs out."""

from .onnx_import import import_model, load_model

__all__ = ["import_model", "load_model"]
