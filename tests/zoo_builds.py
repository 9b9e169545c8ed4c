"""Fresh compiled builds of the zoo models (``rtl/generate.py``), made once per test session.

:func:`zoo_build` writes the build of a zoo model into a session temporary directory (the
same function ``make rtl`` runs, so ``test_rtl_generate`` can compare it with the committed
``rtl/``); :func:`zoo_inputs` writes digits test images in the model's input layout.
"""

from __future__ import annotations

import importlib.util
import tempfile
from functools import lru_cache
from pathlib import Path

import numpy as np

from zoo_data import split

ROOT = Path(__file__).resolve().parent.parent
_TMP = tempfile.TemporaryDirectory(prefix="hwaccel-zoo-builds-")


@lru_cache(maxsize=1)
def generator():
    """The ``rtl/generate.py`` module."""
    spec = importlib.util.spec_from_file_location("rtl_generate", ROOT / "rtl" / "generate.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@lru_cache(maxsize=None)
def zoo_build(name: str) -> Path:
    """The build directory of zoo model ``name`` (compiled on first use)."""
    out = Path(_TMP.name) / name
    generator().generate(name, out)
    return out


@lru_cache(maxsize=None)
def zoo_inputs(name: str, count: int = 100) -> Path:
    """An ``.npz`` of the first ``count`` digits test images in ``name``'s input layout."""
    path = Path(_TMP.name) / f"{name}_test{count}.npz"
    np.savez(path, input=split(name)[2][:count])
    return path
