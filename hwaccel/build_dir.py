"""The compiled build directory: ``manifest.json``, ``weights/*.mem``, the quantized model and
(from ``hw/top.py``) Verilog.

Written atomically: everything goes to a temporary sibling directory that is renamed into place,
so a reader never sees half a build; an existing directory is replaced only with ``force``.
Deterministic: the manifest is ``json.dumps(..., sort_keys=True)`` of values that depend on the
model and options only (no time, no absolute path), and the ``.mem`` files are plain hex.

``.mem`` format (``$readmemh``): one weight code a line, two's complement in
``ceil(bits / 4)`` hex digits (codebook indices: unsigned), row-major over the MatVec's
``(out_features, in_features)`` matrix (inputs in stream order) or the Depthwise unit's
``(channels, taps)`` matrix.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Callable

import numpy as np

from .errors import CompileError, HwaccelError
from .units.dataflow import Dataflow, dataflow_from_dict, dataflow_to_dict

__all__ = ["MANIFEST", "FORMAT", "write_mem", "read_mem", "write_build", "read_build", "manifest_bytes"]

MANIFEST = "manifest.json"
FORMAT = "hwaccel-build/1"


def write_mem(values: Any, bits: int) -> str:
    """``.mem`` text of integer codes (two's complement, ``ceil(bits / 4)`` hex digits a line)."""
    digits = -(-bits // 4)
    mask = (1 << bits) - 1
    return "".join(f"{int(v) & mask:0{digits}x}\n" for v in np.asarray(values).reshape(-1).tolist())


def read_mem(text: str, bits: int, shape: tuple[int, ...], signed: bool = True) -> np.ndarray:
    """Inverse of :func:`write_mem` (``signed``: two's complement codes, else unsigned indices)."""
    words = np.array([int(line, 16) for line in text.split()], dtype=np.int64)
    if words.size != int(np.prod(shape)):
        raise CompileError(f".mem file must hold {int(np.prod(shape))} words, not {words.size}")
    if signed:
        words = np.where(words >= 1 << (bits - 1), words - (1 << bits), words)
    return words.reshape(shape)


def _weights_store(files: dict[str, str], units: dict[str, Any]) -> Callable[[str, Any], Any]:
    """A ``store`` for :func:`dataflow_to_dict` that collects weight matrices as ``.mem`` files."""
    def store(key: str, value: Any) -> dict:
        stage, index, _ = key.split(".")
        unit = units[f"{stage}.{index}"]
        path = f"weights/{stage}.{index}.mem"
        files[path] = write_mem(value, unit.index_bits)
        return {"file": path, "shape": list(np.shape(value)), "bits": unit.index_bits,
                "signed": getattr(unit, "codebook", None) is None}
    return store


def manifest_bytes(df: Dataflow, extra: dict) -> tuple[bytes, dict[str, str]]:
    """The manifest (bytes) and the ``.mem`` files (path -> text) of ``df``; ``extra`` adds top-level keys."""
    files: dict[str, str] = {}
    units = {f"{s.name}.{k}": u for s in df.stages for k, u in enumerate(s.units)}
    body = {"format": FORMAT, "dataflow": dataflow_to_dict(df, _weights_store(files, units)), **extra}
    return (json.dumps(body, sort_keys=True, indent=1) + "\n").encode(), files


def write_build(out_dir: str | os.PathLike[str], df: Dataflow, extra: dict, force: bool = False,
                emit: Callable[[Dataflow, Path], list[str]] | None = None, files: dict[str, bytes] | None = None) -> list[str]:
    """Write the build directory atomically; returns the files written (relative paths, sorted).

    ``files`` are more files to write (name -> bytes, e.g. the quantized model); ``emit(df,
    tmp_dir)`` may add files (the Verilog) before the directory is renamed into place.
    """
    out = Path(out_dir)
    if out.exists() and not force:
        raise HwaccelError(f"{out}: already exists (use --force to overwrite)")
    if out.exists() and not out.is_dir():
        raise HwaccelError(f"{out}: is a file, not a build directory")
    out.parent.mkdir(parents=True, exist_ok=True)
    manifest, mems = manifest_bytes(df, extra)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        (tmp / "weights").mkdir()
        (tmp / MANIFEST).write_bytes(manifest)
        for rel, text in mems.items():
            (tmp / rel).write_text(text)
        for rel, data in (files or {}).items():
            (tmp / rel).write_bytes(data)
        if emit is not None:
            emit(df, tmp)
        written = sorted(str(p.relative_to(tmp)) for p in tmp.rglob("*") if p.is_file())
        os.chmod(tmp, 0o755)
        if out.exists():
            trash = Path(tempfile.mkdtemp(prefix=f".{out.name}.old.", dir=out.parent))
            os.replace(out, trash / out.name)
            os.replace(tmp, out)
            shutil.rmtree(trash, ignore_errors=True)
        else:
            os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return written


def read_build(build_dir: str | os.PathLike[str]) -> tuple[Dataflow, dict]:
    """The dataflow and the manifest of a build directory."""
    root = Path(build_dir)
    path = root / MANIFEST
    if not path.is_file():
        raise HwaccelError(f"{root}: not a build directory (no {MANIFEST}); run `hwaccel compile MODEL -o {root}` first")
    try:
        manifest = json.loads(path.read_text())
    except ValueError as exc:
        raise HwaccelError(f"{path}: cannot read the manifest ({exc})") from None
    if manifest.get("format") != FORMAT:
        raise HwaccelError(f"{path}: manifest format must be {FORMAT!r}, not {manifest.get('format')!r}")

    def load(ref: dict) -> np.ndarray:
        mem = root / ref["file"]
        if not mem.is_file():
            raise HwaccelError(f"{mem}: weight file missing from the build")
        return read_mem(mem.read_text(), int(ref["bits"]), tuple(ref["shape"]), bool(ref["signed"]))

    return dataflow_from_dict(manifest["dataflow"], load), manifest
