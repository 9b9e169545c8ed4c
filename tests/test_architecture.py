"""The house rules of DESIGN.md section 2 that a machine can check: layers import only downward,
no import cycles, no Amaranth below the hardware layer, no hand-written Python file over 500 lines.

The checks read the source (``ast``), so they see every import, including the ones inside
functions and under ``TYPE_CHECKING``; a failure names the offending file, line and import.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "hwaccel"

# From the ground up (DESIGN.md section 2, "Layers import only downward"): a module may import
# modules of its own layer and of the layers below. Top-level helper modules are placed where
# what they import puts them.
LAYERS: list[tuple[str, ...]] = [
    ("errors",),
    ("fixedpoint",),
    ("ir",),
    ("units",),
    ("golden", "passes", "perf", "frontend", "files", "summary", "build_dir"),
    ("hw", "ref", "estimate", "sim"),
    ("api",),
    ("bench", "explore"),
    ("cli", "commands", "__main__", ""),  # "": the package __init__ (the public API, lazily)
]
LAYER_OF = {name: depth for depth, names in enumerate(LAYERS) for name in names}
NO_AMARANTH = ("errors", "fixedpoint", "ir", "units", "golden", "passes", "perf", "frontend")
MAX_LINES = 500


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports_of(path: Path) -> list[tuple[int, str]]:
    """``(line, module)`` of every import in ``path``, relative imports resolved; for
    ``from X import name`` the submodule ``X.name`` when it is one, else ``X``."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module != "__future__":
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            for alias in node.names:
                sub = f"{target}.{alias.name}"
                found.append((node.lineno, sub if _is_module(sub) else target))
    return found


def _is_module(name: str) -> bool:
    path = ROOT.joinpath(*name.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def layer(module: str) -> tuple[str, int]:
    """The top-level part of ``hwaccel.<part>...`` and its layer."""
    part = module.split(".")[1] if module.count(".") else ""
    if part not in LAYER_OF:
        raise AssertionError(f"{module}: hwaccel.{part} has no layer; add it to LAYERS in {Path(__file__).name}")
    return part, LAYER_OF[part]


def package_files() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def layer_violations(files: list[Path]) -> list[str]:
    bad = []
    for path in files:
        mod = module_name(path)
        part, depth = layer(mod)
        for line, target in imports_of(path):
            where = f"{path.relative_to(ROOT)}:{line}"
            if target == "hwaccel" or target.startswith("hwaccel."):
                other, other_depth = layer(target)
                if other_depth > depth:
                    bad.append(f"{where}: {mod} (layer {part}) imports {target} (layer {other}, above it)")
            elif target.split(".")[0] == "amaranth" and part in NO_AMARANTH:
                bad.append(f"{where}: {mod} imports {target}; hwaccel.{part} must not import Amaranth")
    return list(dict.fromkeys(bad))


def import_cycles(files: list[Path]) -> list[list[str]]:
    """Strongly connected components of more than one module in the import graph (Tarjan)."""
    graph = {module_name(p): sorted({t for _, t in imports_of(p) if t.startswith("hwaccel.")}) for p in files}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    cycles = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in graph.get(v, []):
            if w not in graph:
                continue
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return cycles


def long_files() -> list[str]:
    """Hand-written Python files (not generated, not the virtualenv) over :data:`MAX_LINES` lines."""
    skip = {".venv", ".git", "build", "sim_build", "node_modules"}
    out = []
    for path in sorted(ROOT.rglob("*.py")):
        rel = path.relative_to(ROOT)
        if skip & set(rel.parts) or rel.parts[0].startswith("."):
            continue
        n = len(path.read_text().splitlines())
        if n > MAX_LINES:
            out.append(f"{rel}: {n} lines (at most {MAX_LINES})")
    return out


def test_layers_import_only_downward():
    assert layer_violations(package_files()) == []


def test_no_import_cycles():
    assert import_cycles(package_files()) == []


def test_no_file_over_500_lines():
    assert long_files() == []


def test_the_checks_catch_violations(tmp_path, monkeypatch):
    """Each rule fails on a planted violation, naming the file and the import."""
    fake = tmp_path / "hwaccel"
    for sub in ("units", "hw", "golden"):
        (fake / sub).mkdir(parents=True)
        (fake / sub / "__init__.py").write_text("")
    (fake / "__init__.py").write_text("")
    (fake / "units" / "a.py").write_text("from ..hw import top\n")
    (fake / "units" / "b.py").write_text("def f():\n    from amaranth.hdl import Signal\n")
    (fake / "hw" / "top.py").write_text("")
    (fake / "golden" / "x.py").write_text("from . import y\n")
    (fake / "golden" / "y.py").write_text("from .x import f\n")
    (fake / "big.py").write_text("pass\n" * (MAX_LINES + 1))
    monkeypatch.setattr(sys.modules[__name__], "ROOT", tmp_path)
    monkeypatch.setitem(LAYER_OF, "big", 4)
    files = sorted(fake.rglob("*.py"))
    bad = layer_violations(files)
    assert any("units/a.py:1: hwaccel.units.a (layer units) imports hwaccel.hw.top" in b for b in bad), bad
    assert any("units/b.py:2" in b and "must not import Amaranth" in b for b in bad), bad
    assert import_cycles(files) == [["hwaccel.golden.x", "hwaccel.golden.y"]]
    assert long_files() == [f"hwaccel/big.py: {MAX_LINES + 1} lines (at most {MAX_LINES})"]


@pytest.mark.parametrize("package", ["hwaccel.units", "hwaccel.perf", "hwaccel.golden.fixed"])
def test_lower_layers_load_without_amaranth(package):
    """Importing the pure layers pulls in no Amaranth (checked in a fresh interpreter)."""
    import subprocess
    import sys

    code = f"import sys, importlib; importlib.import_module({package!r}); " \
           "bad = sorted(m for m in sys.modules if m.split('.')[0] == 'amaranth'); print(bad); sys.exit(bool(bad))"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 0, proc.stdout + proc.stderr
