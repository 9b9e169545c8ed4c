"""Regenerate ``rtl/<model>/`` for the zoo models (``make rtl``); deterministic.

Each model of ``models/`` is quantized with the default :class:`~hwaccel.frontend.quantize.QuantConfig`
on its digits calibration set (the first 256 training images, as the tests use), compiled with
the default folding target, and written as a ``hwaccel compile`` build directory (``manifest.json``,
``weights/*.mem``, ``top.v``) with the QDQ model it was compiled from (``model.qdq.onnx``), so
``hwaccel verify rtl/<model> --input X`` needs nothing else. A model that does not compile yet is
skipped with the compiler's reason.

Usage: ``python rtl/generate.py [--out DIR] [MODEL ...]``
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import tempfile
from pathlib import Path

from hwaccel.api.compiler import compile_model, write_compiled
from hwaccel.errors import HwaccelError
from hwaccel.frontend import load_model
from hwaccel.frontend.quantize import QuantConfig, quantize_graph
from hwaccel.passes.fold_lanes import FoldTarget

ROOT = Path(__file__).resolve().parent.parent
MODELS = ROOT / "models"
ZOO = ("mlp", "cnn", "autoencoder", "dbn", "resnet", "dscnn", "lstm")  # the digits-input models
CALIBRATION_IMAGES = 256


def _digits():
    spec = importlib.util.spec_from_file_location("digits_data", MODELS / "digits_data.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def quantized_model(name: str) -> bytes:
    """The QDQ ONNX bytes of zoo model ``name`` (default config, digits calibration)."""
    digits = _digits()
    x_train = digits.load_split()[0]
    calib = x_train[:CALIBRATION_IMAGES].reshape((-1,) + digits.LAYOUTS[name])
    graph = load_model(MODELS / f"{name}.onnx")
    qdq, _ = quantize_graph(graph, {graph.inputs[0].name: calib}, QuantConfig())
    return qdq.SerializeToString()


def generate(name: str, out_dir: Path) -> list[str]:
    """Write the build of zoo model ``name`` to ``out_dir`` (replaced); returns its files."""
    with tempfile.TemporaryDirectory() as tmp:
        model = Path(tmp) / f"{name}.qdq.onnx"
        model.write_bytes(quantized_model(name))
        df, extra, _, qdq = compile_model(str(model), None, FoldTarget(), name)
        return write_compiled(out_dir, df, extra, qdq, force=True)[0]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("models", nargs="*", default=list(ZOO), help=f"zoo models (default: {' '.join(ZOO)})")
    parser.add_argument("--out", default=str(ROOT / "rtl"), help="parent directory of the builds (default: rtl/)")
    args = parser.parse_args(argv)
    for name in args.models:
        try:
            files = generate(name, Path(args.out) / name)
        except HwaccelError as exc:
            print(f"{name}: skipped: {exc}")
            continue
        print(f"{name}: {len(files)} files in {Path(args.out) / name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
