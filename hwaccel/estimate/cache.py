"""Result cache of the tool-based estimates: ``<root>/<kind>/<key>/result.json``.

``<root>`` is ``$HWACCEL_CACHE_DIR`` when set, else ``$XDG_CACHE_HOME/hwaccel``, else
``~/.cache/hwaccel``. The key is a SHA-256 over everything the result depends on (design text,
device, options, tool versions), so an entry never goes stale; a result is written to a temporary
file beside it and renamed into place, so readers never see half a file and concurrent writers of
the same key are harmless. An unreadable entry counts as a miss.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path

__all__ = ["cache_root", "cache_key", "load", "store"]

RESULT = "result.json"


def cache_root() -> Path:
    """The cache's root directory (not created)."""
    if os.environ.get("HWACCEL_CACHE_DIR"):
        return Path(os.environ["HWACCEL_CACHE_DIR"])
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "hwaccel"


def cache_key(*parts: str | bytes) -> str:
    """SHA-256 (hex) of ``parts``; each part is length-prefixed, so no two part lists collide."""
    h = hashlib.sha256()
    for part in parts:
        data = part.encode() if isinstance(part, str) else part
        h.update(len(data).to_bytes(8, "little"))
        h.update(data)
    return h.hexdigest()


def load(kind: str, key: str) -> dict | None:
    """The stored result of ``key``, or None (missing or unreadable)."""
    try:
        data = json.loads((cache_root() / kind / key / RESULT).read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def store(kind: str, key: str, data: dict) -> Path:
    """Write ``data`` as the result of ``key`` atomically; returns the file."""
    folder = cache_root() / kind / key
    folder.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".result.", dir=folder)
    try:
        with os.fdopen(fd, "w") as f:
            f.write(json.dumps(data, indent=1, sort_keys=True) + "\n")
        os.replace(tmp, folder / RESULT)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return folder / RESULT
