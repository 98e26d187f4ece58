"""Sentiment from the dense text vector and the lexicon together.

A *head* is a logistic regression on one text model's unit vectors, trained on labelled Chinese
reviews (``scripts/train_sentiment_head.py``; shipped as ``sentiment_heads/<model>.npz``, a few
KiB). Reviews are not music comments, so the head's logit is not used alone: a second, tiny
logistic combines it with the lexicon valence (:mod:`.sentiment`) — ``z = a·head + b·lexicon + c``
— and ``valence = 2σ(z) − 1``; ``a``, ``b``, ``c`` and the neutral band (``|valence| < band`` is
neutral) are fitted on labelled music comments (``configs/text_tags.yaml``, written by
``scripts/calibrate_text_tags.py``). A head is only applied to vectors of the model it was
trained on.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from songlens.content.heads import read_head
from songlens.errors import ConfigError

__all__ = ["HEADS_DIR", "SentimentHead"]

#: Where the shipped heads live, one ``<text model name>.npz`` each.
HEADS_DIR = Path(__file__).with_name("sentiment_heads")


@dataclass(frozen=True)
class SentimentHead:
    """A head (``w``, ``b``) for ``model`` and its combination with the lexicon."""

    model: str
    w: np.ndarray
    b: float
    combine: Mapping[str, float] = field(default_factory=lambda: {"head": 1.0, "lexicon": 0.0,
                                                                   "bias": 0.0})
    band: float = 0.2
    about: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def load(cls, model: str, *, combine: Mapping[str, float] | None = None,
             band: float | None = None, folder: Path = HEADS_DIR) -> SentimentHead | None:
        """The shipped head of ``model``, or ``None`` when there is none."""
        path = folder / f"{model}.npz"
        if not path.is_file():
            return None
        about, arr = read_head(path, "sentiment head", ("w", "b"))
        w, b = arr["w"].astype(np.float32), float(arr["b"])
        if about.get("model") != model or w.ndim != 1:
            raise ConfigError(f"sentiment head {path.name!r} is for {about.get('model')!r}, "
                              f"not {model!r}")
        kw: dict[str, Any] = {}
        if combine is not None:
            kw["combine"] = {k: float(combine[k]) for k in ("head", "lexicon", "bias")}
        if band is not None:
            kw["band"] = float(band)
        return cls(model=model, w=w, b=b, about=about, **kw)

    def logit(self, vectors: np.ndarray) -> np.ndarray:
        """The head's logit per row of ``vectors`` (unit vectors of :attr:`model`)."""
        v = np.asarray(vectors, dtype=np.float32)
        if v.ndim != 2 or v.shape[1] != self.w.shape[0]:
            raise ValueError(f"sentiment head for {self.model} expects {self.w.shape[0]}-d "
                             f"vectors, got shape {v.shape}")
        return v @ self.w + self.b

    def valence(self, vectors: np.ndarray, lexicon: np.ndarray) -> np.ndarray:
        """Valence in [-1, 1] per text from its vector and its lexicon valence."""
        c = self.combine
        z = c["head"] * self.logit(vectors) + c["lexicon"] * np.asarray(lexicon) + c["bias"]
        return (2.0 / (1.0 + np.exp(-np.clip(z, -30, 30))) - 1.0).astype(np.float32)
