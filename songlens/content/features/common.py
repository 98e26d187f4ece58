"""Input checks and the clipping every 0–1 feature shares."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from songlens.errors import AudioTooShort, EmptyAudio, InvalidInput

__all__ = ["MIN_DURATION_S", "clip01", "validate_audio", "validate_tag_probs"]

#: Shortest audio analysed, seconds.
MIN_DURATION_S = 0.1


def clip01(x: float) -> float:
    """``x`` clipped to [0, 1]; 0 for NaN or infinity."""
    return float(min(1.0, max(0.0, x))) if math.isfinite(x) else 0.0


def validate_audio(y: Any, sr: Any) -> np.ndarray:
    """``y`` as float32 after checking it is finite mono audio of at least
    :data:`MIN_DURATION_S` at a plausible ``sr`` (raises InvalidInput, EmptyAudio, AudioTooShort).
    """
    if not isinstance(sr, int | np.integer) or isinstance(sr, bool) or not 4000 <= sr <= 192000:
        raise InvalidInput(f"sr must be an integer sample rate in 4000–192000 Hz, got {sr!r}")
    if not isinstance(y, np.ndarray):
        raise InvalidInput(f"y must be a numpy array of samples, got {type(y).__name__}")
    if y.ndim != 1:
        raise InvalidInput(f"y must be mono (1-D), got shape {y.shape}")
    if y.size == 0:
        raise EmptyAudio("the audio has no samples")
    if not np.issubdtype(y.dtype, np.floating):
        raise InvalidInput(f"y must hold floating-point samples in [-1, 1], got dtype {y.dtype}")
    if not np.all(np.isfinite(y)):
        raise InvalidInput("y contains NaN or infinite samples")
    if y.size < MIN_DURATION_S * sr:
        raise AudioTooShort(f"audio is {y.size / sr:.3f} s long; at least {MIN_DURATION_S} s "
                            "is needed", duration_s=y.size / sr)
    return y.astype(np.float32, copy=False)


def validate_tag_probs(tag_probs: Mapping[str, float] | None) -> dict[str, float]:
    """``{lowercased tag: probability}`` (the larger of duplicates); raises InvalidInput for a
    value that is not a probability."""
    if tag_probs is None:
        return {}
    if not isinstance(tag_probs, Mapping):
        raise InvalidInput(f"tag_probs must be a mapping tag -> probability, got "
                           f"{type(tag_probs).__name__}")
    out: dict[str, float] = {}
    for tag, p in tag_probs.items():
        try:
            value = float(p)
        except (TypeError, ValueError) as exc:
            raise InvalidInput(f"tag_probs[{tag!r}] = {p!r} is not a number") from exc
        if not (math.isfinite(value) and -1e-6 <= value <= 1.0 + 1e-6):
            raise InvalidInput(f"tag_probs[{tag!r}] = {p!r} is not a probability in [0, 1]")
        key = str(tag).strip().lower()
        out[key] = max(out.get(key, 0.0), min(1.0, max(0.0, value)))
    return out
