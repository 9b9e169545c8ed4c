"""The digits data set of the model zoo: one fixed, documented train/test split.

scikit-learn's bundled ``load_digits`` (1797 greyscale 8x8 images, pixel values 0..16, no
download) split by ``train_test_split(test_size=0.25, stratify=y, random_state=0)`` into 1347
training and 450 held-out images, pixels scaled to [0, 1] by dividing by 16. Every metric of
the zoo (float here, quantized later) is measured on this held-out split.

Plain importable module: needs only NumPy and scikit-learn (not torch, not hwaccel).
"""

from __future__ import annotations

import numpy as np

TEST_SIZE = 0.25
SPLIT_SEED = 0

#: Per-image input layout of each zoo model that reads pixels (the batch axis comes first).
#: The same 64 pixels, row-major: ``x.reshape((len(x),) + LAYOUTS[name])``.
#: The generator reads an 8-d latent code instead (see models/README.md).
LAYOUTS: dict[str, tuple[int, ...]] = {
    "mlp": (64,),
    "autoencoder": (64,),
    "dbn": (64,),
    "lstm": (8, 8),  # 8 time steps (image rows) of 8 features (pixels of the row)
    "cnn": (1, 8, 8),
    "resnet": (1, 8, 8),
    "dscnn": (1, 8, 8),
}


def load_split() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Return the fixed digits split.

    Returns
    -------
    x_train, y_train, x_test, y_test : numpy.ndarray
        Images as float32 of shape (N, 64) with values in [0, 1] (row-major 8x8 pixels / 16);
        labels 0..9 as int64 of shape (N,). 1347 training and 450 test images.
    """
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    x, y = load_digits(return_X_y=True)
    x_train, x_test, y_train, y_test = train_test_split(
        x, y, test_size=TEST_SIZE, stratify=y, random_state=SPLIT_SEED
    )
    scale = np.float32(1.0 / 16.0)
    return (
        x_train.astype(np.float32) * scale,
        y_train.astype(np.int64),
        x_test.astype(np.float32) * scale,
        y_test.astype(np.int64),
    )


def to_layout(x: np.ndarray, model: str) -> np.ndarray:
    """Reshape images of any layout (N, ...) with 64 pixels each into the layout of ``model``.

    Parameters
    ----------
    x : numpy.ndarray
        Images, first axis the batch, 64 pixels per image in row-major order.
    model : str
        A key of :data:`LAYOUTS`.

    Returns
    -------
    numpy.ndarray
        A view of ``x`` with shape ``(N,) + LAYOUTS[model]``.
    """
    if model not in LAYOUTS:
        raise KeyError(f"model must be one of {sorted(LAYOUTS)}, not {model!r}")
    return x.reshape((len(x),) + LAYOUTS[model])
