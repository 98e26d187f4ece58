"""Encoder interfaces: small ABCs with ``encode``, ``dim`` and a config dict.

Concrete encoders are chosen by name from the settings (:func:`build_audio_encoder`,
:func:`build_text_encoder`); heavy imports happen inside the concrete classes, lazily.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = ["AudioAnalysis", "AudioEncoder", "TextEncoder", "l2_normalise", "segment_vectors"]


def l2_normalise(v: np.ndarray, eps: float = 1e-12) -> np.ndarray:
    """Unit-length copy of ``v`` along the last axis (zeros stay zeros)."""
    v = np.asarray(v, dtype=np.float32)
    n = np.linalg.norm(v, axis=-1, keepdims=True)
    return (v / np.maximum(n, eps)).astype(np.float32)


def segment_vectors(patches: np.ndarray, *, window: int = 2, hop: int | None = None,
                    max_rows: int = 128) -> np.ndarray:
    """Unit vectors of consecutive ``window``-patch segments of a track (rows of ``patches``).

    Songs and query clips both use overlapping windows (``hop=1``: one 3 s patch) so that a
    stored segment lines up with a query segment whatever the excerpt's offset; non-overlapping
    stored windows (``hop == window``) halve the storage but found 95.8 % instead of 97.5 % of
    excerpts first (benchmarks/RESULTS.md). Long tracks get longer windows and hops so that at
    most ``max_rows`` rows come back and nothing is skipped.
    """
    patches = np.asarray(patches, dtype=np.float32)
    n = patches.shape[0]
    if n == 0:
        return np.zeros((0, patches.shape[-1]), dtype=np.float32)
    hop = hop or window
    while (n - window) // hop + 1 > max_rows:
        window, hop = window * 2, hop * 2
    if n <= window:
        return l2_normalise(patches.mean(axis=0, keepdims=True))
    starts = range(0, n - window + 1, hop)
    return l2_normalise(np.stack([patches[s: s + window].mean(axis=0) for s in starts]))


@dataclass
class AudioAnalysis:
    """What an audio encoder learned about one track.

    ``vector`` is the track embedding (unit length, shape ``(dim,)``); ``tag_probs`` maps a model's
    own tag vocabulary (e.g. musicnn's ``"sad"``, ``"rock"``) to whole-track probabilities, keyed by
    model name (``{"MSD_musicnn": {"rock": 0.8, ...}}``); ``extra`` holds anything else worth
    keeping (per-patch outputs, zero-shot scores). ``patch_vectors`` (encoders with a
    ``segment_dim``) are unit embeddings of consecutive short patches, shape ``(n, segment_dim)``,
    from which :func:`segment_vectors` builds the ``segments`` multivector that finds a song from
    an excerpt of it.
    """

    vector: np.ndarray
    tag_probs: dict[str, dict[str, float]] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)
    patch_vectors: np.ndarray | None = None


class AudioEncoder(ABC):
    """Turns 16 kHz mono audio into a track embedding (and, if it can, tag probabilities)."""

    name: str = "audio"
    sample_rate: int = 16000

    @property
    @abstractmethod
    def dim(self) -> int:
        """Length of the vector :meth:`analyse` returns."""

    @abstractmethod
    def analyse(self, y: np.ndarray) -> AudioAnalysis:
        """Embed one track. ``y``: float32 mono at :attr:`sample_rate`, shape ``(n,)``."""

    #: Length of :attr:`AudioAnalysis.patch_vectors` rows (None: the encoder gives none).
    segment_dim: int | None = None

    def config(self) -> dict[str, Any]:
        return {"name": self.name, "dim": self.dim}

    def encode_text(self, texts: list[str]) -> np.ndarray | None:
        """Text vectors in the audio space (only joint audio-text models such as CLAP)."""
        return None


class TextEncoder(ABC):
    """Turns texts into unit-length dense vectors.

    Two roles, because asymmetric models (e5) embed them differently: :meth:`encode` for the
    texts that are stored and searched (a song's lyrics and comments: *passages*), and
    :meth:`encode_queries` for what searches them (a prompt), and for short texts compared with
    each other (a comment against a tag description: e5 asks for the query role on both sides
    of a symmetric comparison). Symmetric models use one for both.
    """

    name: str = "text"
    #: True when the model reads Chinese, Japanese, Korean and English alike (no fallback to an
    #: English tag description for CJK text).
    multilingual: bool = False

    @property
    @abstractmethod
    def dim(self) -> int: ...

    @abstractmethod
    def encode(self, texts: list[str]) -> np.ndarray:
        """Passages (stored text). Shape ``(len(texts), dim)``, float32, unit rows."""

    def encode_queries(self, texts: list[str]) -> np.ndarray:
        """Queries and symmetric comparisons. Same shape as :meth:`encode`."""
        return self.encode(texts)

    def can_read(self, text: str) -> float:
        """Share of ``text`` the model's vocabulary covers, in [0, 1] (1.0 if unknown)."""
        return 1.0

    def config(self) -> dict[str, Any]:
        return {"name": self.name, "dim": self.dim}
