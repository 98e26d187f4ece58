"""Encoder interfaces: small ABCs with ``encode``, ``dim`` and a config dict.

Concrete encoders are chosen by name from the settings (:func:`build_audio_encoder`,
:func:`build_text_encoder`); heavy imports happen inside the concrete classes, lazily.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = ["AudioAnalysis", "AudioEncoder", "TextEncoder", "l2_normalise"]


def l2_normalise(v: np.ndarray, eps: float = 1e-12) -> np.ndarray:
    """Unit-length copy of ``v`` along the last axis (zeros stay zeros)."""
    v = np.asarray(v, dtype=np.float32)
    n = np.linalg.norm(v, axis=-1, keepdims=True)
    return (v / np.maximum(n, eps)).astype(np.float32)


@dataclass
class AudioAnalysis:
    """What an audio encoder learned about one track.

    ``vector`` is the track embedding (unit length, shape ``(dim,)``); ``tag_probs`` maps a model's
    own tag vocabulary (e.g. musicnn's ``"sad"``, ``"rock"``) to whole-track probabilities, keyed by
    model name (``{"MSD_musicnn": {"rock": 0.8, ...}}``); ``extra`` holds anything else worth
    keeping (per-patch outputs, zero-shot scores).
    """

    vector: np.ndarray
    tag_probs: dict[str, dict[str, float]] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)


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

    def config(self) -> dict[str, Any]:
        return {"name": self.name, "dim": self.dim}

    def encode_text(self, texts: list[str]) -> np.ndarray | None:
        """Text vectors in the audio space (only joint audio-text models such as CLAP)."""
        return None


class TextEncoder(ABC):
    """Turns texts into unit-length dense vectors."""

    name: str = "text"

    @property
    @abstractmethod
    def dim(self) -> int: ...

    @abstractmethod
    def encode(self, texts: list[str]) -> np.ndarray:
        """Shape ``(len(texts), dim)``, float32, unit rows."""

    def can_read(self, text: str) -> float:
        """Share of ``text`` the model's vocabulary covers, in [0, 1] (1.0 if unknown)."""
        return 1.0

    def config(self) -> dict[str, Any]:
        return {"name": self.name, "dim": self.dim}
