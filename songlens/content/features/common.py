"""Input checks, the clipping every 0–1 feature shares, and short-time spectra a block of frames
at a time."""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from typing import Any

import librosa
import numpy as np

from songlens.errors import AudioTooShort, EmptyAudio, InvalidInput

__all__ = ["MIN_DURATION_S", "clip01", "magnitude_blocks", "validate_audio", "validate_tag_probs"]

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


def magnitude_blocks(y: np.ndarray, *, n_fft: int, hop: int, block: int = 4096
                     ) -> Iterator[tuple[int, np.ndarray]]:
    """``(first frame, |STFT|)`` of ``y``, ``block`` frames at a time: the frames (Hann window,
    centred and zero-padded) and values of ``np.abs(librosa.stft(y, n_fft=n_fft,
    hop_length=hop))``, without the whole complex spectrogram in memory (for a 20-minute track
    at 16 kHz it is 300 MB, and the magnitude beside it another 150 MB)."""
    yp = np.pad(y, n_fft // 2)  # as stft(center=True, pad_mode="constant") pads
    frames = 1 + (yp.size - n_fft) // hop
    for f0 in range(0, frames, block):
        f1 = min(frames, f0 + block)
        yield f0, np.abs(librosa.stft(yp[f0 * hop:(f1 - 1) * hop + n_fft], n_fft=n_fft,
                                      hop_length=hop, center=False))
