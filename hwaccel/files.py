"""Reading user inputs and writing outputs safely (atomic, no silent overwrite)."""

from __future__ import annotations

import io
import os
import tempfile
import zipfile
from pathlib import Path
from typing import Mapping, Union

import numpy as np

from .errors import HwaccelError, ModelError
from .ir.graph import Graph, TensorInfo

__all__ = ["Inputs", "atomic_write_bytes", "check_writable", "load_inputs", "save_arrays"]

# inputs as a file (.npy/.npz), one array (the single input) or arrays keyed by input name
Inputs = Union[str, "os.PathLike[str]", np.ndarray, Mapping[str, np.ndarray]]


def check_writable(path: str | os.PathLike[str], force: bool) -> Path:
    """Refuse to overwrite an existing ``path`` unless ``force``; the parent must exist."""
    path = Path(path)
    if path.exists() and not force:
        raise HwaccelError(f"{path}: already exists (use --force to overwrite)")
    if path.exists() and path.is_dir():
        raise HwaccelError(f"{path}: is a directory, not a file")
    if not path.parent.exists():
        raise HwaccelError(f"{path.parent}: output directory does not exist")
    return path


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes, force: bool = False) -> Path:
    """Write ``data`` to ``path`` through a temporary file and a rename, so readers never see half a file."""
    path = check_writable(path, force)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def save_arrays(path: str | os.PathLike[str], arrays: dict[str, np.ndarray], force: bool = False) -> Path:
    """Save one array as ``.npy`` or several (keyed by name) as ``.npz``, atomically."""
    path = Path(path)
    buffer = io.BytesIO()
    if path.suffix == ".npy":
        if len(arrays) != 1:
            raise HwaccelError(f"{path}: the model has {len(arrays)} outputs; write them to a .npz file")
        np.save(buffer, next(iter(arrays.values())))
    elif path.suffix == ".npz":
        np.savez(buffer, allow_pickle=True, **arrays)  # the default, named so no array can take its place
    else:
        raise HwaccelError(f"{path}: output file must end in .npy or .npz, not {path.suffix!r}")
    return atomic_write_bytes(path, buffer.getvalue(), force)


def load_inputs(path: Inputs, graph: Graph) -> dict[str, np.ndarray]:
    """Read the feeds for ``graph``: a ``.npy`` for its single input, or a ``.npz`` keyed by input name
    (or the same as an array, or a dict of arrays).

    Shapes are checked against the model (batch first; symbolic dims accept any size) and values
    cast to the input's element type.
    """
    if isinstance(path, (np.ndarray, Mapping)):
        return _arrays(path, graph)
    path = Path(path)
    if not path.is_file():
        raise HwaccelError(f"{path}: no such input file")
    try:
        if path.suffix == ".npy":
            if len(graph.inputs) != 1:
                names = ", ".join(t.name for t in graph.inputs)
                raise ModelError(f"{path}: the model has {len(graph.inputs)} inputs ({names}); give a .npz keyed by name")
            feeds = {graph.inputs[0].name: np.load(path, allow_pickle=False)}
        elif path.suffix == ".npz":
            with np.load(path, allow_pickle=False) as data:
                missing = [t.name for t in graph.inputs if t.name not in data.files]
                if missing:
                    raise ModelError(f"{path}: missing input(s) {missing}; the file has {sorted(data.files)}")
                feeds = {t.name: data[t.name] for t in graph.inputs}
        else:
            raise HwaccelError(f"{path}: input file must end in .npy or .npz, not {path.suffix!r}")
    except (ValueError, OSError, zipfile.BadZipFile) as exc:
        raise HwaccelError(f"{path}: cannot read NumPy data ({exc})") from None
    return {t.name: _conform(feeds[t.name], t, path) for t in graph.inputs}


def _arrays(arrays: np.ndarray | Mapping[str, np.ndarray], graph: Graph) -> dict[str, np.ndarray]:
    where = Path("inputs")
    if isinstance(arrays, np.ndarray):
        if len(graph.inputs) != 1:
            names = ", ".join(t.name for t in graph.inputs)
            raise ModelError(f"inputs must be a dict keyed by input name for a model with {len(graph.inputs)} "
                             f"inputs ({names}), not one array")
        arrays = {graph.inputs[0].name: arrays}
    missing = [t.name for t in graph.inputs if t.name not in arrays]
    if missing:
        raise ModelError(f"inputs: missing input(s) {missing}; the dict has {sorted(arrays)}")
    return {t.name: _conform(np.asarray(arrays[t.name]), t, where) for t in graph.inputs}


def _conform(array: np.ndarray, info: TensorInfo, path: Path) -> np.ndarray:
    if info.shape is not None:
        if array.ndim != len(info.shape):
            raise ModelError(f"{path}: input {info.name!r} must have shape {info.shape}, not {array.shape}")
        for want, got in zip(info.shape, array.shape):
            if isinstance(want, int) and want != got:
                raise ModelError(f"{path}: input {info.name!r} must have shape {info.shape}, not {array.shape}")
    if array.dtype.kind not in "biuf":
        raise ModelError(f"{path}: input {info.name!r} must be numeric, not {array.dtype}")
    return array.astype(info.dtype, copy=False)
