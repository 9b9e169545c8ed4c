"""Digits data in each zoo model's input layout (the split lives in models/digits_data.py)."""

from __future__ import annotations

import importlib.util
from functools import lru_cache
from pathlib import Path

import numpy as np

MODELS = Path(__file__).resolve().parent.parent / "models"
CLASSIFIERS = ["mlp", "cnn", "dbn", "lstm", "resnet", "dscnn"]


@lru_cache(maxsize=1)
def digits():
    spec = importlib.util.spec_from_file_location("digits_data", MODELS / "digits_data.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def split(name: str):
    """(x_train, y_train, x_test, y_test) shaped for zoo model ``name``."""
    d = digits()
    x_train, y_train, x_test, y_test = d.load_split()
    layout = d.LAYOUTS[name]
    return x_train.reshape((-1,) + layout), y_train, x_test.reshape((-1,) + layout), y_test


def calibration(name: str, count: int = 256) -> np.ndarray:
    return split(name)[0][:count]
