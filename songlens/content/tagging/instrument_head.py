"""Which instruments play, heard by a *head* on musicnn's penultimate features.

musicnn's own outputs name few instruments, and those badly (its MTT/MSD vocabularies have no
organ or brass, and its ``guitar`` fires on most plucked sounds). The head is a one-vs-rest
logistic regression per instrument on the audio encoder's per-patch vectors (MSD and MTT
musicnn penultimate layers, 400-d), trained on General MIDI pieces rendered with four different
SoundFonts so that it learns the instrument rather than one sample set
(``benchmarks/instruments_accuracy.py --write-head``; shipped as ``instrument_head.npz``, a few
dozen KiB). Its per-instrument thresholds were chosen by leave-one-SoundFont-out
cross-validation on the tuning pieces; precision and recall on held-out pieces of SoundFonts
the head never heard are in benchmarks/RESULTS.md.

A head only applies to the encoder it was trained on (:meth:`InstrumentHead.accepts`); other
encoders fall back to the musicnn cues of ``configs/instruments.yaml``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from songlens.errors import ConfigError

__all__ = ["HEAD_PATH", "InstrumentHead"]

#: The shipped head.
HEAD_PATH = Path(__file__).with_name("instrument_head.npz")


@dataclass(frozen=True)
class InstrumentHead:
    """Logistic weights ``w`` (d × k) and biases ``b`` (k) for the instruments ``names``, each
    named at its ``thresholds`` entry (on the mean of its per-patch probabilities); ``encoder``
    is the audio encoder configuration whose ``patch_vectors`` it reads (name and models)."""

    names: tuple[str, ...]
    w: np.ndarray
    b: np.ndarray
    thresholds: np.ndarray
    encoder: Mapping[str, Any]
    about: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        k = len(self.names)
        if self.w.ndim != 2 or self.w.shape[1] != k or self.b.shape != (k,) \
                or self.thresholds.shape != (k,):
            raise ConfigError(f"instrument head: weights {self.w.shape}, biases {self.b.shape} "
                              f"and thresholds {self.thresholds.shape} do not fit {k} names")

    @property
    def dim(self) -> int:
        return int(self.w.shape[0])

    @classmethod
    def load(cls, path: str | Path = HEAD_PATH) -> InstrumentHead | None:
        """The head at ``path``, or ``None`` when there is no file."""
        p = Path(path)
        if not p.is_file():
            return None
        try:
            with np.load(p) as data:
                about = json.loads(str(data["about"]))
                w = data["w"].astype(np.float32)
                b = data["b"].astype(np.float32)
                thr = data["thresholds"].astype(np.float64)
            names = tuple(str(n) for n in about["names"])
            encoder = dict(about["encoder"])
        except (OSError, KeyError, TypeError, ValueError) as exc:
            raise ConfigError(f"cannot read instrument head {p.name!r}: {exc}") from exc
        return cls(names, w, b, thr, encoder, about)

    def save(self, path: str | Path = HEAD_PATH) -> None:
        about = dict(self.about) | {"names": list(self.names), "encoder": dict(self.encoder)}
        np.savez_compressed(Path(path), w=self.w.astype(np.float32),
                            b=self.b.astype(np.float32),
                            thresholds=np.asarray(self.thresholds, dtype=np.float64),
                            about=json.dumps(about, ensure_ascii=False, sort_keys=True))

    def accepts(self, encoder_config: Mapping[str, Any] | None) -> bool:
        """Whether vectors of the encoder configured so are what the head was trained on."""
        if not encoder_config:
            return False
        return all(encoder_config.get(k) == v for k, v in self.encoder.items())

    def patch_probs(self, patch_vectors: np.ndarray) -> np.ndarray:
        """P(instrument plays) per patch: shape ``(n_patches, len(names))``."""
        v = np.asarray(patch_vectors, dtype=np.float32)
        if v.ndim != 2 or v.shape[1] != self.dim:
            raise ValueError(f"instrument head expects {self.dim}-d patch vectors, "
                             f"got shape {v.shape}")
        z = np.clip(v @ self.w + self.b, -30.0, 30.0)
        return 1.0 / (1.0 + np.exp(-z.astype(np.float64)))

    def threshold(self, name: str) -> float:
        return float(self.thresholds[self.names.index(name)])

    @classmethod
    def from_models(cls, names: Sequence[str], coef: np.ndarray, intercept: np.ndarray,
                    thresholds: Sequence[float], *, encoder: Mapping[str, Any],
                    about: Mapping[str, Any] | None = None) -> InstrumentHead:
        """A head from fitted coefficients ``coef`` (k × d, scikit-learn's layout)."""
        return cls(tuple(names), np.asarray(coef, dtype=np.float32).T.copy(),
                   np.asarray(intercept, dtype=np.float32).ravel(),
                   np.asarray(thresholds, dtype=np.float64), dict(encoder), dict(about or {}))
