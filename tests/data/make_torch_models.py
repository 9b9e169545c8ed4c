"""Regenerate the torch-exported ONNX test models of tests/data (random weights, fixed seed).

    .venv/bin/python -m pip install torch==2.13.0
    .venv/bin/python tests/data/make_torch_models.py

All use the TorchScript exporter, opset 17, input "input" / output "output" with dynamic batch
axis "N" (shared export code: models/zoo_common.py).

- resnet_bn.onnx: Conv+BatchNormalization+Relu stem, MaxPool, residual block (identity Add),
  AveragePool, residual block with 1x1 projection shortcut, GlobalAveragePool, Flatten, Gemm.
  BatchNormalization nodes are kept (TrainingMode.PRESERVE) with non-trivial statistics.
- resnet_bn_view.onnx: the same network and weights, flattened with ``x.view(x.size(0), -1)``,
  which exports Shape/Gather/Unsqueeze/Concat/Reshape instead of Flatten.
- conv_variants.onnx: stride-2 conv, dilated conv, non-square kernels with non-square padding,
  AveragePool with stride 1, on a non-square input; Flatten, Gemm.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import torch
from torch import nn

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent.parent / "models"))

from zoo_common import deterministic, export_onnx  # noqa: E402
from zoo_nets import ResidualBlock, conv_bn  # noqa: E402

SEED = 1234


class ResNetLike(nn.Module):
    """(N, 3, 16, 16) -> (N, 10); ``view_flatten`` picks x.view(x.size(0), -1) over nn.Flatten."""

    def __init__(self, view_flatten: bool) -> None:
        super().__init__()
        self.features = nn.Sequential(
            conv_bn(3, 8), nn.ReLU(), nn.MaxPool2d(2),  # 8 x 8 x 8
            ResidualBlock(8, 8), nn.AvgPool2d(2),  # 8 x 4 x 4
            ResidualBlock(8, 16), nn.AdaptiveAvgPool2d(1),  # 16 x 1 x 1
        )
        self.view_flatten = view_flatten
        self.flatten = nn.Flatten()
        self.head = nn.Linear(16, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.features(x)
        y = y.view(y.size(0), -1) if self.view_flatten else self.flatten(y)
        return self.head(y)


def conv_variants() -> nn.Sequential:
    """(N, 2, 17, 13) -> (N, 5) through strided, dilated and non-square convolutions."""
    return nn.Sequential(
        nn.Conv2d(2, 6, 3, stride=2, padding=1), nn.ReLU(),  # 6 x 9 x 7
        nn.Conv2d(6, 6, 3, dilation=2, padding=2), nn.ReLU(),  # 6 x 9 x 7
        nn.Conv2d(6, 8, (1, 3), padding=(0, 1)), nn.ReLU(),  # 8 x 9 x 7
        nn.Conv2d(8, 8, (3, 2), stride=(2, 1), padding=(1, 0)), nn.ReLU(),  # 8 x 5 x 6
        nn.AvgPool2d((2, 3), stride=1),  # 8 x 4 x 4
        nn.Flatten(), nn.Linear(128, 5),
    )


def randomize_batchnorm(model: nn.Module, gen: torch.Generator) -> None:
    """Give every BatchNorm non-trivial affine parameters and running statistics."""
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            c = m.num_features
            assert m.running_mean is not None and m.running_var is not None
            m.weight.data = torch.rand(c, generator=gen) + 0.5
            m.bias.data = torch.randn(c, generator=gen) * 0.2
            m.running_mean.data = torch.randn(c, generator=gen) * 0.3
            m.running_var.data = torch.rand(c, generator=gen) + 0.5


def build(name: str) -> tuple[nn.Module, torch.Tensor, bool]:
    """The model, an example input and whether BatchNormalization nodes must be kept."""
    gen = deterministic(SEED)
    if name == "conv_variants":
        return conv_variants().eval(), torch.randn(2, 2, 17, 13, generator=gen), False
    model = ResNetLike(view_flatten=name == "resnet_bn_view")
    randomize_batchnorm(model, gen)
    return model.eval(), torch.randn(2, 3, 16, 16, generator=gen), True


def main() -> None:
    for name in ["resnet_bn", "resnet_bn_view", "conv_variants"]:
        model, example, keep_bn = build(name)
        path = HERE / f"{name}.onnx"
        export_onnx(model, example, path, keep_batchnorm=keep_bn)
        proto = onnx.load(path)
        onnx.checker.check_model(proto)
        ops = sorted({n.op_type for n in proto.graph.node})
        if keep_bn and "BatchNormalization" not in ops:
            raise RuntimeError(f"{name}: the exporter fused BatchNormalization away")
        x = torch.randn(5, *example.shape[1:], generator=torch.Generator().manual_seed(SEED + 1))
        out = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, {"input": x.numpy()})[0]
        with torch.no_grad():
            ref = model(x).numpy()
        if not np.allclose(out, ref, rtol=1e-4, atol=1e-5):
            raise RuntimeError(f"{name}: onnxruntime disagrees with torch by {np.abs(out - ref).max()}")
        print(f"{name:15s} {path.stat().st_size:6d} bytes  {' '.join(ops)}")


if __name__ == "__main__":
    main()
