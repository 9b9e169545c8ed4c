"""Reading user inputs and writing outputs safely (atomic, no silent overwrite)."""

from __future__ import annotations

import ctypes
import errno
import io
import os
import shutil
import tempfile
import zipfile
from pathlib import Path
from typing import Mapping, Union

import numpy as np

from .errors import HwaccelError, ModelError
from .ir.graph import Graph, TensorInfo

__all__ = ["Inputs", "atomic_write_bytes", "check_suffix", "check_writable", "current_umask", "exchange_paths",
           "load_inputs", "replace_directory", "save_arrays"]

# inputs as a file (.npy/.npz), one array (the single input) or arrays keyed by input name
Inputs = Union[str, "os.PathLike[str]", np.ndarray, Mapping[str, np.ndarray]]


def check_writable(path: str | os.PathLike[str], force: bool, directory: bool = False) -> Path:
    """Check before any work that ``path`` can be written: an existing one only with ``force``, of the
    right kind (a file, or a build ``directory``), in an existing directory this process may write.

    Raises
    ------
    HwaccelError
        One line naming the path: it exists (without ``force``), is of the other kind, or its
        directory is missing, not a directory or not writable.
    """
    path = Path(path)
    if path.exists() or path.is_symlink():
        if not force:
            raise HwaccelError(f"{path}: already exists (use --force to overwrite)")
        if path.is_dir() and not directory:
            raise HwaccelError(f"{path}: is a directory, not a file")
        if directory and not path.is_dir():
            raise HwaccelError(f"{path}: is a file, not a build directory")
    parent = path.parent
    if not parent.is_dir():
        what = "is not a directory" if parent.exists() else "does not exist"
        raise HwaccelError(f"{parent}: output directory {what} (for {path})")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise HwaccelError(f"{parent}: output directory must be writable, not read-only for this user (for {path})")
    return path


def current_umask() -> int:
    """The process's umask (read once: setting it to read it is not thread-safe)."""
    global _UMASK
    if _UMASK is None:
        _UMASK = os.umask(0o022)
        os.umask(_UMASK)
    return _UMASK


_UMASK: int | None = None


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes, force: bool = False) -> Path:
    """Write ``data`` to ``path`` through a temporary file and a rename, so readers never see half a file."""
    path = check_writable(path, force)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    except OSError as exc:
        raise HwaccelError(f"{path}: cannot write ({exc.strerror})") from None
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(tmp, 0o666 & ~current_umask())  # as open() would create it, not mkstemp's 0600
        os.replace(tmp, path)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise HwaccelError(f"{path}: cannot write ({exc.strerror})") from None
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def exchange_paths(a: Path, b: Path) -> bool:
    """Swap two existing paths in one step (Linux ``renameat2(RENAME_EXCHANGE)``); False where the
    system or the file system cannot, so the caller falls back to two renames."""
    func = getattr(ctypes.CDLL(None, use_errno=True), "renameat2", None)
    if func is None:
        return False
    func.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    at_fdcwd, rename_exchange = -100, 2
    if func(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP):
        return False
    raise OSError(code, os.strerror(code), str(b))


def replace_directory(new: Path, out: Path, old: Path) -> None:
    """Put the finished directory ``new`` at ``out`` (a sibling), replacing what is there.

    Where :func:`exchange_paths` works, ``out`` always holds the old or the new directory: one
    exchange, then the old one (now at ``new``) is removed. Elsewhere the old directory moves to
    ``old`` first, then ``new`` to ``out``; a kill between the two leaves it at ``old``, from where
    the next writer restores it (:func:`hwaccel.build_dir.remove_stale`).
    """
    if not (out.exists() or out.is_symlink()):
        os.rename(new, out)
        return
    if exchange_paths(new, out):
        shutil.rmtree(new, ignore_errors=True)
        return
    os.rename(out, old)
    os.rename(new, out)
    shutil.rmtree(old, ignore_errors=True)


def save_arrays(path: str | os.PathLike[str], arrays: dict[str, np.ndarray], force: bool = False) -> Path:
    """Save one array as ``.npy`` or several (keyed by name) as ``.npz``, atomically.

    The ``.npz`` is written entry by entry (what :func:`numpy.savez` writes), so any name works,
    ``file`` and ``allow_pickle`` included.
    """
    path = Path(path)
    check_suffix(path, arrays)
    buffer = io.BytesIO()
    if path.suffix == ".npy":
        np.save(buffer, next(iter(arrays.values())), allow_pickle=False)
    else:
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
            for name, value in arrays.items():
                with archive.open(f"{name}.npy", "w", force_zip64=True) as entry:
                    np.lib.format.write_array(entry, np.asanyarray(value), allow_pickle=False)
    return atomic_write_bytes(path, buffer.getvalue(), force)


def check_suffix(path: str | os.PathLike[str], arrays: Mapping[str, object] | None = None) -> None:
    """``path`` must end in ``.npy`` (one array; with ``arrays``, checked to be one) or ``.npz``."""
    path = Path(path)
    if path.suffix not in (".npy", ".npz"):
        raise HwaccelError(f"{path}: output file must end in .npy or .npz, not {path.suffix!r}")
    if path.suffix == ".npy" and arrays is not None and len(arrays) != 1:
        raise HwaccelError(f"{path}: the model has {len(arrays)} outputs; write them to a .npz file")


def load_inputs(path: Inputs, graph: Graph, samples: bool = False) -> dict[str, np.ndarray]:
    """Read the feeds for ``graph``: a ``.npy`` for its single input, or a ``.npz`` keyed by input name
    (or the same as an array, or a dict of arrays).

    Shapes are checked against the model (batch first; symbolic dims accept any size) and values
    cast to the input's element type. With ``samples`` (calibration data) a model exported for
    batch 1 takes any number of samples along its batch axis; the caller runs them one at a time.
    """
    if isinstance(path, (np.ndarray, Mapping)):
        return _arrays(path, graph, samples)
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
    return {t.name: _conform(feeds[t.name], t, path, samples) for t in graph.inputs}


def _arrays(arrays: np.ndarray | Mapping[str, np.ndarray], graph: Graph, samples: bool = False) -> dict[str, np.ndarray]:
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
    return {t.name: _conform(np.asarray(arrays[t.name]), t, where, samples) for t in graph.inputs}


def _conform(array: np.ndarray, info: TensorInfo, path: Path, samples: bool = False) -> np.ndarray:
    if info.shape is not None:
        if array.ndim != len(info.shape):
            raise ModelError(f"{path}: input {info.name!r} must have shape {info.shape}, not {array.shape}")
        for axis, (want, got) in enumerate(zip(info.shape, array.shape)):
            if isinstance(want, int) and want != got and not (samples and axis == 0 and want == 1 and got > 0):
                raise ModelError(f"{path}: input {info.name!r} must have shape {info.shape}, not {array.shape}")
    if array.dtype.kind not in "biuf":
        raise ModelError(f"{path}: input {info.name!r} must be numeric, not {array.dtype}")
    return array.astype(info.dtype, copy=False)
