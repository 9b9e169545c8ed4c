"""The MLPerf Tiny v1.0 reference architectures, built in PyTorch with random weights and
quantized by onnxruntime's ``quantize_static`` (QDQ, per-channel int8 weights).

Layer shapes follow the reference models of github.com/mlcommons/tiny (benchmark/training):
- ``ad08``: the ToyCar anomaly-detection autoencoder, 640-128-128-128-128-8-128-128-128-128-640
  dense layers, each hidden one followed by BatchNorm and ReLU (264,192 MACs).
- ``resnet8``: CIFAR-10 image classification on 32x32x3; a 3x3 16-channel stem, three residual
  stacks of 16, 32 and 64 channels (the last two downsample by 2 with a 1x1 shortcut), an 8x8
  average pool and a 10-way dense layer (12.5 M MACs).
- ``dscnn``: keyword spotting on 49x10 MFCCs; a 10x4 stride-2 64-channel conv, four depthwise
  3x3 + pointwise 64-channel blocks, a 25x5 average pool and a 12-way dense layer (2.7 M MACs).
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np

NETWORKS = ("ad08", "resnet8", "dscnn")
INPUT_SHAPES = {"ad08": (640,), "resnet8": (3, 32, 32), "dscnn": (1, 49, 10)}


def _module(name: str):  # torch is a test extra; import it only when a network is built
    import torch
    from torch import nn

    def conv_bn(cin: int, cout: int, k, stride=1, padding=0, groups=1, relu=True) -> list:
        layers = [nn.Conv2d(cin, cout, k, stride, padding, groups=groups), nn.BatchNorm2d(cout)]
        return layers + [nn.ReLU()] if relu else layers

    class Block(nn.Module):
        def __init__(self, cin: int, cout: int, stride: int) -> None:
            super().__init__()
            self.body = nn.Sequential(*conv_bn(cin, cout, 3, stride, 1), *conv_bn(cout, cout, 3, 1, 1, relu=False))
            self.shortcut = nn.Identity() if stride == 1 and cin == cout else nn.Conv2d(cin, cout, 1, stride)
            self.relu = nn.ReLU()

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.relu(self.body(x) + self.shortcut(x))

    if name == "ad08":
        sizes = [640, 128, 128, 128, 128, 8, 128, 128, 128, 128]
        layers: list = []
        for a, b in zip(sizes, sizes[1:]):
            layers += [nn.Linear(a, b), nn.BatchNorm1d(b), nn.ReLU()]
        return nn.Sequential(*layers, nn.Linear(128, 640))
    if name == "resnet8":
        return nn.Sequential(*conv_bn(3, 16, 3, 1, 1), Block(16, 16, 1), Block(16, 32, 2), Block(32, 64, 2),
                             nn.AvgPool2d(8), nn.Flatten(), nn.Linear(64, 10))
    if name == "dscnn":
        layers = conv_bn(1, 64, (10, 4), 2, (5, 1))
        for _ in range(4):
            layers += conv_bn(64, 64, 3, 1, 1, groups=64) + conv_bn(64, 64, 1)
        return nn.Sequential(*layers, nn.AvgPool2d((25, 5)), nn.Flatten(), nn.Linear(64, 12))
    raise ValueError(f"network must be one of {NETWORKS}, not {name!r}")


def _randomize_batchnorm(model, rng: np.random.Generator) -> None:
    """Give every BatchNorm trained-looking statistics (random mean/var/affine), so folding matters."""
    import torch

    for m in model.modules():
        if isinstance(m, (torch.nn.BatchNorm1d, torch.nn.BatchNorm2d)):
            n = m.num_features
            with torch.no_grad():
                m.running_mean.copy_(torch.tensor(rng.normal(0, 0.1, n), dtype=torch.float32))
                m.running_var.copy_(torch.tensor(rng.uniform(0.5, 1.5, n), dtype=torch.float32))
                m.weight.copy_(torch.tensor(rng.uniform(0.5, 1.5, n), dtype=torch.float32))
                m.bias.copy_(torch.tensor(rng.normal(0, 0.1, n), dtype=torch.float32))


def float_model(name: str, path: Path, seed: int = 0) -> Path:
    """Export network ``name`` with random weights (seeded) to float ONNX at ``path``."""
    import torch

    torch.manual_seed(seed)
    model = _module(name)
    _randomize_batchnorm(model, np.random.default_rng(seed))
    model.eval()
    example = torch.zeros((1,) + INPUT_SHAPES[name])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (example,), str(path), dynamo=False, opset_version=17, input_names=["input"],
                          output_names=["output"], dynamic_axes={"input": {0: "N"}, "output": {0: "N"}})
    return path


def inputs(name: str, count: int, seed: int = 1) -> np.ndarray:
    """``count`` standard-normal inputs of network ``name`` (float32, batch first)."""
    return np.random.default_rng(seed).standard_normal((count,) + INPUT_SHAPES[name]).astype(np.float32)


def quantized_model(name: str, directory: Path, seed: int = 0, activations: str = "QUInt8", calib: int = 32) -> Path:
    """``<directory>/<name>_q.onnx``: the network quantized by onnxruntime (quant_pre_process, then
    quantize_static, QDQ, per-channel int8 weights, ``activations`` codes, ``calib`` random inputs)."""
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    directory.mkdir(parents=True, exist_ok=True)
    src = float_model(name, directory / f"{name}.onnx", seed)
    pre = directory / f"{name}_pre.onnx"
    quant_pre_process(str(src), str(pre), skip_symbolic_shape=True)
    data = inputs(name, calib, seed + 100)

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self.batches = iter([{"input": data[i:i + 8]} for i in range(0, len(data), 8)])

        def get_next(self):
            return next(self.batches, None)

    out = directory / f"{name}_q.onnx"
    quantize_static(str(pre), str(out), Reader(), quant_format=QuantFormat.QDQ, per_channel=True,
                    activation_type=getattr(QuantType, activations), weight_type=QuantType.QInt8)
    return out
