"""The committed ``rtl/`` is current: each zoo build there equals, byte for byte, what ``make rtl``
(``rtl/generate.py``) produces from the models and the compiler of this checkout."""

from __future__ import annotations

from pathlib import Path

import pytest

from zoo_builds import ROOT, generator, zoo_build

RTL = ROOT / "rtl"
COMPILED = ("mlp", "cnn", "autoencoder", "dbn", "resnet", "dscnn", "lstm")  # the zoo models that compile


def _files(root: Path) -> dict[str, bytes]:
    """The build's files; ``sim_build/`` is the simulator's folder ``hwaccel verify`` keeps there."""
    files = (p for p in sorted(root.rglob("*")) if p.is_file() and "sim_build" not in p.relative_to(root).parts[:1])
    return {str(p.relative_to(root)): p.read_bytes() for p in files}


@pytest.mark.slow
@pytest.mark.parametrize("name", COMPILED)
def test_committed_rtl_is_current(name: str) -> None:
    committed, fresh = _files(RTL / name), _files(zoo_build(name))
    assert committed, f"rtl/{name}/ is missing: run `make rtl`"
    assert sorted(committed) == sorted(fresh), f"rtl/{name}/ holds other files than `make rtl` writes: run `make rtl`"
    stale = [f for f in fresh if committed[f] != fresh[f]]
    assert not stale, f"rtl/{name}/{stale[0]} is stale ({len(stale)} files differ): run `make rtl`"
    assert "module top(" in fresh["top.v"].decode()


def test_no_other_builds_in_rtl() -> None:
    builds = sorted(p.name for p in RTL.iterdir() if p.is_dir() and not p.name.startswith((".", "_")))
    assert builds == sorted(COMPILED)
    assert set(COMPILED) <= set(generator().ZOO)
