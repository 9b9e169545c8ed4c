"""The compiled build directory: ``manifest.json``, ``weights/*.mem``, the quantized model and
(from ``hw/top.py``) Verilog.

Written atomically: everything goes to a hidden sibling directory, marked complete last (the
stamp ``build.complete``, the sha256 of every other file), which then replaces the build in one
exchange rename, so the path holds the old build or the new one, never neither or half of one; an
existing directory is replaced only with ``force``. Readers (:func:`read_build`,
:func:`check_build`) refuse a build without its stamp; hidden folders of killed writes are removed
by the next write (:func:`remove_stale`).
Deterministic: the manifest is ``json.dumps(..., sort_keys=True)`` of values that depend on the
model and options only (no time, no absolute path), and the ``.mem`` files are plain hex.

``.mem`` format (``$readmemh``): one weight code a line, two's complement in
``ceil(bits / 4)`` hex digits (codebook indices: unsigned), row-major over the MatVec's
``(out_features, in_features)`` matrix (inputs in stream order) or the Depthwise unit's
``(channels, taps)`` matrix.
"""

from __future__ import annotations

import glob
import hashlib
import json
import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any, Callable

import numpy as np

from .errors import CompileError, HwaccelError
from .files import current_umask, replace_directory
from .units.dataflow import Dataflow, dataflow_from_dict, dataflow_to_dict

__all__ = ["MANIFEST", "FORMAT", "STAMP", "write_mem", "read_mem", "write_build", "write_plain_build", "write_tree",
           "read_manifest", "read_build", "check_build", "remove_stale", "manifest_bytes"]

MANIFEST = "manifest.json"
STAMP = "build.complete"  # written last: the sha256 of every other file; a build without it is incomplete
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
    tmp_dir)`` may add files (the Verilog). Everything goes to a hidden sibling folder
    (``.NAME.tmp-PID-XXXX``), the completion stamp (:data:`STAMP`) last, then the folder replaces
    the build in one exchange (:func:`hwaccel.files.replace_directory`).
    """
    manifest, mems = manifest_bytes(df, extra)

    def fill(tmp: Path) -> None:
        (tmp / "weights").mkdir()
        (tmp / MANIFEST).write_bytes(manifest)
        for rel, text in mems.items():
            (tmp / rel).write_text(text)
        for rel, data in (files or {}).items():
            (tmp / rel).write_bytes(data)
        if emit is not None:
            emit(df, tmp)

    return write_tree(out_dir, fill, force)


def write_plain_build(out_dir: str | os.PathLike[str], manifest: dict, files: dict[str, bytes], force: bool = False) -> list[str]:
    """Write a build without a dataflow (an overlay plan): ``manifest`` (with ``format``) and ``files``,
    atomically and stamped like :func:`write_build`."""
    body = (json.dumps({"format": FORMAT, **manifest}, sort_keys=True, indent=1) + "\n").encode()

    def fill(tmp: Path) -> None:
        (tmp / MANIFEST).write_bytes(body)
        for rel, data in files.items():
            (tmp / rel).write_bytes(data)

    return write_tree(out_dir, fill, force)


def write_tree(out_dir: str | os.PathLike[str], fill: Callable[[Path], None], force: bool = False) -> list[str]:
    """``fill(tmp)`` writes a build into a hidden sibling folder; stamp it, then swap it in."""
    out = Path(out_dir)
    if out.exists() and not force:
        raise HwaccelError(f"{out}: already exists (use --force to overwrite)")
    if out.exists() and not out.is_dir():
        raise HwaccelError(f"{out}: is a file, not a build directory")
    out.parent.mkdir(parents=True, exist_ok=True)
    remove_stale(out)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-{os.getpid()}-", dir=out.parent))
    try:
        fill(tmp)
        (tmp / STAMP).write_text(_stamp_text(tmp))
        written = sorted(str(p.relative_to(tmp)) for p in tmp.rglob("*") if p.is_file())
        os.chmod(tmp, 0o777 & ~current_umask())
        replace_directory(tmp, out, out.parent / f".{out.name}.old-{os.getpid()}-{tmp.name.rsplit('-', 1)[1]}")
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return written


def _stamp_text(root: Path) -> str:
    """The stamp: ``sha256  path`` of every file of the build (``sha256sum`` format), sorted."""
    paths = sorted(p for p in root.rglob("*") if p.is_file() and p.name != STAMP)
    return "".join(f"{hashlib.sha256(p.read_bytes()).hexdigest()}  {p.relative_to(root).as_posix()}\n" for p in paths)


def _stale(out: Path) -> list[tuple[str, Path]]:
    """Hidden folders beside ``out`` left by writers that are gone: ``(kind, path)``, kind tmp or old."""
    pattern = re.compile(rf"\.{re.escape(out.name)}\.(tmp|old)-(\d+)-\w+")
    found = []
    for path in sorted(out.parent.glob(f".{glob.escape(out.name)}.*-*-*")):
        match = pattern.fullmatch(path.name)
        if match and path.is_dir() and not _alive(int(match.group(2))):
            found.append((match.group(1), path))
    return found


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def remove_stale(out: str | os.PathLike[str]) -> None:
    """Clean up after killed writes of the build ``out``: a build moved aside by a two-rename
    replace (:func:`hwaccel.files.replace_directory`) goes back when nothing is at ``out``; other
    hidden folders whose writer process is gone are removed."""
    out = Path(out)
    for kind, path in _stale(out):
        if kind == "old" and not out.exists() and (path / STAMP).is_file():
            os.rename(path, out)
        else:
            shutil.rmtree(path, ignore_errors=True)


def check_build(build_dir: str | os.PathLike[str]) -> Path:
    """``build_dir`` must be a complete build: its manifest and its stamp (the files the stamp lists
    are checked where they are read: a build may go without its model, given to verify apart).

    Raises
    ------
    HwaccelError
        One line: not a build directory, or an incomplete one (its compile did not finish).
    """
    root = Path(build_dir)
    if not (root / MANIFEST).is_file():
        raise HwaccelError(f"{root}: not a build directory (no {MANIFEST}); run `hwaccel compile MODEL -o {root}` first")
    if not (root / STAMP).is_file():
        raise HwaccelError(f"{root}: incomplete build (no {STAMP}: its compile did not finish); run `hwaccel "
                           f"compile MODEL -o {root} --force` again")
    return root


def read_manifest(build_dir: str | os.PathLike[str]) -> dict:
    """The manifest of a complete build directory."""
    path = check_build(build_dir) / MANIFEST
    try:
        manifest = json.loads(path.read_text())
    except ValueError as exc:
        raise HwaccelError(f"{path}: cannot read the manifest ({exc})") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        found = manifest.get("format") if isinstance(manifest, dict) else None
        raise HwaccelError(f"{path}: manifest format must be {FORMAT!r}, not {found!r}")
    return manifest


def read_build(build_dir: str | os.PathLike[str]) -> tuple[Dataflow, dict]:
    """The dataflow and the manifest of a (streaming) build directory."""
    root = check_build(build_dir)
    manifest = read_manifest(root)
    if manifest.get("architecture") == "overlay":
        raise HwaccelError(f"{root}: an overlay build (compile --weights external) holds a schedule, not a dataflow: "
                           "only `hwaccel simulate` reads it (its RTL is not generated yet)")

    def load(ref: dict) -> np.ndarray:
        mem = root / ref["file"]
        if not mem.is_file():
            raise HwaccelError(f"{mem}: weight file missing from the build")
        return read_mem(mem.read_text(), int(ref["bits"]), tuple(ref["shape"]), bool(ref["signed"]))

    return dataflow_from_dict(manifest["dataflow"], load), manifest
