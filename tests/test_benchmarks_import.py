"""Every benchmark script imports against today's songlens (they run outside the test suite, so
a moved or renamed module would otherwise break them unnoticed)."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "benchmarks"
SCRIPTS = sorted(p.stem for p in BENCH.glob("*.py")) + sorted(
    f"reference.{p.stem}" for p in (BENCH / "reference").glob("*.py"))


@pytest.mark.parametrize("name", SCRIPTS)
def test_benchmark_imports(name, monkeypatch):
    monkeypatch.syspath_prepend(str(BENCH))
    try:
        importlib.import_module(name)
    except ModuleNotFoundError as exc:  # benchmark-only packages (mido, mir_eval, tensorflow…)
        if (exc.name or "").split(".")[0] in ("songlens", *(s.split(".")[0] for s in SCRIPTS)):
            raise
        pytest.skip(f"needs {exc.name}, a benchmark-only package")
    finally:
        for mod in [m for m in sys.modules if m.split(".")[0] in {s.split(".")[0]
                                                                  for s in SCRIPTS}]:
            sys.modules.pop(mod, None)
