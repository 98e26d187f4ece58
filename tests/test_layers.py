"""The packages' dependencies point one way (README, "Layout"): each package imports only the
packages listed for it here, at module level or inside functions."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1] / "songlens"

#: package → the songlens packages (and top-level modules) it may import besides itself
ALLOWED: dict[str, set[str]] = {
    "errors": set(),
    "units": set(),
    "files": set(),
    "content": {"errors"},
    "settings": {"errors", "content"},
    "store": {"errors"},
    "embeddings": {"errors", "settings", "content"},
    "catalog": {"errors", "settings", "units", "files", "content", "embeddings", "store"},
    "search": {"errors", "settings", "units", "files", "content", "embeddings", "store",
               "catalog"},
    "coldstart": {"errors", "settings", "units", "files", "content", "store", "catalog"},
    "ranking": {"errors", "settings", "units", "files", "content", "catalog", "coldstart"},
    "service": {"errors", "settings", "units", "files", "content", "store", "catalog",
                "coldstart", "ranking"},
    # the web app's files and the function that mounts them: no songlens import (the pages
    # reach everything through the HTTP API)
    "web": set(),
    "api": {"errors", "settings", "units", "files", "content", "embeddings", "store",
            "catalog", "search", "coldstart", "ranking", "service", "web"},
    "cli": {"errors", "settings", "units", "files", "content", "embeddings", "store",
            "catalog", "search", "coldstart", "ranking", "service", "api", "web"},
}


def _imports(path: Path) -> set[str]:
    """First component under ``songlens`` of every songlens import in ``path``."""
    out = set()
    for node in ast.walk(ast.parse(path.read_text("utf-8"))):
        names = []
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module]
            if node.module == "songlens":
                names = [f"songlens.{a.name}" for a in node.names]
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        for name in names:
            parts = name.split(".")
            if parts[0] == "songlens" and len(parts) > 1:
                out.add(parts[1])
    return out


def _package(path: Path) -> str:
    rel = path.relative_to(ROOT)
    return rel.parts[0] if len(rel.parts) > 1 else rel.stem


def test_every_package_is_listed():
    found = {_package(p) for p in ROOT.rglob("*.py")} - {"__init__"}
    assert found <= set(ALLOWED), f"packages with no layering rule: {found - set(ALLOWED)}"


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_imports_point_down(package):
    files = [p for p in ROOT.rglob("*.py") if _package(p) == package]
    wrong = {f"{p.relative_to(ROOT)} imports songlens.{dep}"
             for p in files for dep in _imports(p) - ALLOWED[package] - {package}}
    assert not wrong, sorted(wrong)
