"""Which instruments play, heard by a *head* on musicnn's penultimate features.

musicnn's own outputs name few instruments, and those badly (its MTT/MSD vocabularies have no
organ or brass, and its ``guitar`` fires on most plucked sounds). The head is a one-vs-rest
logistic regression per instrument on the audio encoder's per-patch vectors (MSD and MTT
musicnn penultimate layers, 400-d), trained on General MIDI pieces rendered with four different
SoundFonts so that it learns the instrument rather than one sample set
(``benchmarks/instruments_accuracy.py --write-head``; shipped as ``instrument_head.npz``, about
22 KiB). A song's score pools the patch probabilities (``pool``: the mean of the strongest
half, so that an instrument heard in one section still counts) and is Platt-scaled to read as
P(the instrument plays); pooling, scaling and the per-instrument thresholds were chosen by
leave-one-SoundFont-out cross-validation on the tuning pieces. Precision and recall on held-out
pieces of SoundFonts the head's weights never heard are in benchmarks/RESULTS.md.

A head only applies to vectors of the encoder it was trained on (:meth:`InstrumentHead.accepts`):
the default musicnn encoder's, or those of the musicnn run a transformers encoder keeps beside it
for tags. Elsewhere the musicnn cues of ``configs/instruments.yaml`` decide.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from scipy.special import expit, logit

from songlens.content.heads import read_head
from songlens.errors import ConfigError

__all__ = ["HEAD_PATH", "InstrumentHead", "platt_scale"]

#: The shipped head.
HEAD_PATH = Path(__file__).with_name("instrument_head.npz")


@dataclass(frozen=True)
class InstrumentHead:
    """Logistic weights ``w`` (d × k) and biases ``b`` (k) for the instruments ``names``, each
    named at its ``thresholds`` entry (on its per-patch probabilities pooled as ``pool`` says);
    ``encoder``
    is the audio encoder configuration whose ``patch_vectors`` it reads (name and models)."""

    names: tuple[str, ...]
    w: np.ndarray
    b: np.ndarray
    thresholds: np.ndarray
    encoder: Mapping[str, Any]
    about: dict[str, Any] = field(default_factory=dict)
    #: how patch probabilities become the song's score: ``mean`` over all patches, or
    #: ``top:q``, the mean of the strongest fraction ``q`` of them (an instrument heard in one
    #: section of a song still scores)
    pool: str = "mean"
    #: Platt scaling ``(a, b)`` of the pooled score, ``σ(a·logit(s) + b)``, fitted on
    #: out-of-fold tuning scores so that the score reads as P(the instrument plays); None: the
    #: pooled probability as it is
    platt: tuple[float, float] | None = None
    #: the share of patches ``pool`` averages, parsed from it once
    _share: float = field(default=1.0, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        k = len(self.names)
        if self.w.ndim != 2 or self.w.shape[1] != k or self.b.shape != (k,) \
                or self.thresholds.shape != (k,):
            raise ConfigError(f"instrument head: weights {self.w.shape}, biases {self.b.shape} "
                              f"and thresholds {self.thresholds.shape} do not fit {k} names")
        if not k or len(set(self.names)) != k:
            raise ConfigError(f"instrument head: names must be distinct, got {self.names!r}")
        if not (np.all(np.isfinite(self.w)) and np.all(np.isfinite(self.b))):
            raise ConfigError("instrument head: weights are not all finite numbers")
        if not np.all((self.thresholds > 0) & (self.thresholds < 1)):
            raise ConfigError("instrument head: thresholds must lie in (0, 1)")
        if not self.encoder.get("name"):
            raise ConfigError("instrument head: it does not say which encoder it reads")
        object.__setattr__(self, "_share", self._top_share())  # the pooling, parsed once
        if self.platt is not None and not (len(self.platt) == 2 and self.platt[0] > 0
                                           and all(np.isfinite(self.platt))):
            raise ConfigError(f"instrument head: platt must be (a > 0, b), got {self.platt!r}")

    def _top_share(self) -> float:
        """The share of patches :attr:`pool` averages (1: all of them)."""
        if self.pool == "mean":
            return 1.0
        kind, _, q = self.pool.partition(":")
        try:
            share = float(q)
        except ValueError:
            share = -1.0
        if kind != "top" or not 0.0 < share <= 1.0:
            raise ConfigError(f"instrument head: pooling must be 'mean' or 'top:q' with q in "
                              f"(0, 1], got {self.pool!r}")
        return share

    def score(self, probs: np.ndarray) -> np.ndarray:
        """The song's score per instrument from its patch probabilities ``probs`` (``(n_patches,
        k)`` or ``(n_patches,)``), pooled as :attr:`pool` says, then scaled by :meth:`calibrate`."""
        p = np.asarray(probs, dtype=np.float64)
        if self._share >= 1.0:
            pooled = p.mean(axis=0)
        else:
            top = max(1, int(np.ceil(self._share * p.shape[0])))
            pooled = np.sort(p, axis=0)[-top:].mean(axis=0)
        return self.calibrate(pooled)

    def calibrate(self, probs: np.ndarray) -> np.ndarray:
        """:attr:`platt` applied elementwise (the scale of the song score and the thresholds;
        the timeline's per-patch values use it too)."""
        return platt_scale(probs, self.platt)

    @property
    def dim(self) -> int:
        return int(self.w.shape[0])

    @classmethod
    def load(cls, path: str | Path = HEAD_PATH) -> InstrumentHead | None:
        """The head at ``path``, or ``None`` when there is no file."""
        p = Path(path)
        if not p.is_file():
            return None
        about, arr = read_head(p, "instrument head", ("w", "b", "thresholds"))
        names, encoder = about.get("names"), about.get("encoder")
        if not isinstance(names, list) or not isinstance(encoder, dict):
            raise ConfigError(f"instrument head {p.name!r}: 'about' lacks its names or encoder")
        return cls(tuple(str(n) for n in names), arr["w"].astype(np.float32),
                   arr["b"].astype(np.float32), arr["thresholds"].astype(np.float64),
                   dict(encoder), about, str(about.get("pool", "mean")), _platt(about))

    def save(self, path: str | Path = HEAD_PATH) -> None:
        about = dict(self.about) | {"names": list(self.names), "encoder": dict(self.encoder),
                                    "pool": self.pool,
                                    "platt": list(self.platt) if self.platt else None}
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
        return expit(np.clip(v @ self.w + self.b, -30.0, 30.0).astype(np.float64))

    @classmethod
    def from_models(cls, names: Sequence[str], coef: np.ndarray, intercept: np.ndarray,
                    thresholds: Sequence[float], *, encoder: Mapping[str, Any],
                    about: Mapping[str, Any] | None = None, pool: str = "mean",
                    platt: tuple[float, float] | None = None) -> InstrumentHead:
        """A head from fitted coefficients ``coef`` (k × d, scikit-learn's layout)."""
        return cls(tuple(names), np.asarray(coef, dtype=np.float32).T.copy(),
                   np.asarray(intercept, dtype=np.float32).ravel(),
                   np.asarray(thresholds, dtype=np.float64), dict(encoder), dict(about or {}),
                   pool, platt)


def platt_scale(probs: np.ndarray, platt: tuple[float, float] | None) -> np.ndarray:
    """``σ(a·logit(p) + b)`` elementwise (``p`` clipped to [1e-6, 1 − 1e-6]); ``p`` itself when
    ``platt`` is None."""
    p = np.asarray(probs, dtype=np.float64)
    if platt is None:
        return p
    a, b = platt
    return expit(a * logit(np.clip(p, 1e-6, 1 - 1e-6)) + b)


def _platt(about: Mapping[str, Any]) -> tuple[float, float] | None:
    value = about.get("platt")
    if value is None:
        return None
    try:
        a, b = (float(v) for v in value)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"instrument head: bad platt {value!r}") from exc
    return a, b
