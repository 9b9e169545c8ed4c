"""Architectures of the model zoo (PyTorch modules; each well under 50k parameters).

Every ``forward`` takes the exported input layout of its model (see ``digits_data.LAYOUTS``)
and returns what the ONNX file outputs: logits, except ``mlp`` (softmax probabilities, so a
host-side Softmax is exercised), the autoencoder (sigmoid reconstruction, (N, 64)) and the
generator (sigmoid image, (N, 1, 8, 8)).
"""

from __future__ import annotations

import torch
from torch import nn

LATENT = 8  # size of the generator's latent code


class MLP(nn.Module):
    """64-32-10 ReLU perceptron ending in Softmax."""

    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 10))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.softmax(self.body(x), dim=1)

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        """Pre-softmax scores, used as the training target of the cross-entropy loss."""
        return self.body(x)


def cnn() -> nn.Module:
    """(conv3x3-relu-maxpool2) x 2, flatten, linear 64->10."""
    return nn.Sequential(
        nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(8, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(64, 10),
    )


def autoencoder() -> nn.Module:
    """64-32-8-32-64, ReLU hidden layers and sigmoid output."""
    return nn.Sequential(
        nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 8), nn.ReLU(),
        nn.Linear(8, 32), nn.ReLU(), nn.Linear(32, 64), nn.Sigmoid(),
    )


def dbn() -> nn.Sequential:
    """64-48-32 sigmoid stack (weights from RBM pretraining) plus a 10-way linear head."""
    return nn.Sequential(nn.Linear(64, 48), nn.Sigmoid(), nn.Linear(48, 32), nn.Sigmoid(), nn.Linear(32, 10))


class LSTMClassifier(nn.Module):
    """Image rows as an 8-step sequence (batch first), LSTM hidden 32, linear head on the last state."""

    def __init__(self) -> None:
        super().__init__()
        self.lstm = nn.LSTM(8, 32, batch_first=True)
        self.head = nn.Linear(32, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        seq, _ = self.lstm(x)
        return self.head(seq[:, -1, :])


class Unflatten(nn.Module):
    """Reshape (N, prod(shape)) to (N, *shape); exports as one Reshape by a constant ``[-1, *shape]``
    (``nn.Unflatten`` exports a Shape/Slice/Concat chain instead)."""

    def __init__(self, *shape: int) -> None:
        super().__init__()
        self.shape = shape

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.reshape(-1, *self.shape)


def generator() -> nn.Sequential:
    """Latent (N, 8) -> linear -> (N, 16, 2, 2) -> two stride-2 ConvTranspose -> (N, 1, 8, 8) in (0, 1)."""
    return nn.Sequential(
        nn.Linear(LATENT, 64), nn.ReLU(), Unflatten(16, 2, 2),
        nn.ConvTranspose2d(16, 8, 4, stride=2, padding=1), nn.ReLU(),
        nn.ConvTranspose2d(8, 1, 4, stride=2, padding=1), nn.Sigmoid(),
    )


def encoder() -> nn.Sequential:
    """Image (N, 1, 8, 8) -> latent (N, 8); trained with the generator, not exported."""
    return nn.Sequential(
        nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(8, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(64, LATENT),
    )


class GeneratorAutoencoder(nn.Module):
    """encoder -> generator; the generator alone is exported."""

    def __init__(self) -> None:
        super().__init__()
        self.encoder = encoder()
        self.generator = generator()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.generator(self.encoder(x))


def conv_bn(cin: int, cout: int, stride: int = 1) -> nn.Sequential:
    """3x3 convolution (no bias) followed by BatchNorm."""
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False), nn.BatchNorm2d(cout))


class ResidualBlock(nn.Module):
    """relu(conv-bn-relu-conv-bn(x) + shortcut(x)); 1x1 conv-bn shortcut when the shape changes."""

    def __init__(self, cin: int, cout: int, stride: int = 1) -> None:
        super().__init__()
        self.body = nn.Sequential(conv_bn(cin, cout, stride), nn.ReLU(), conv_bn(cout, cout))
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or cin != cout:
            self.shortcut = nn.Sequential(nn.Conv2d(cin, cout, 1, stride=stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.body(x) + self.shortcut(x))


def resnet() -> nn.Sequential:
    """Stem conv-bn-relu (8 ch), two residual blocks (8 ch at 8x8, 16 ch at 4x4), GAP, linear head."""
    return nn.Sequential(
        conv_bn(1, 8), nn.ReLU(),
        ResidualBlock(8, 8), ResidualBlock(8, 16, stride=2),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(16, 10),
    )


def separable(cin: int, cout: int) -> list[nn.Module]:
    """MobileNet block: depthwise 3x3 (groups = channels)-BN-ReLU, then pointwise 1x1-BN-ReLU."""
    return [
        nn.Conv2d(cin, cin, 3, padding=1, groups=cin, bias=False), nn.BatchNorm2d(cin), nn.ReLU(),
        nn.Conv2d(cin, cout, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(),
    ]


def dscnn() -> nn.Sequential:
    """Stem conv-BN-ReLU, two depthwise-separable blocks with average pooling, linear head.

    Exported in plain eval mode, so the exporter folds every BatchNorm into its convolution
    (the BatchNormalization-preserving export is the resnet's).
    """
    return nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1, bias=False), nn.BatchNorm2d(16), nn.ReLU(),
        *separable(16, 32), nn.AvgPool2d(2),
        *separable(32, 32), nn.AvgPool2d(4),
        nn.Flatten(), nn.Linear(32, 10),
    )
