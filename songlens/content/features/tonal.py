"""Key and mode: a constant-Q chroma summary against key profiles; Camelot wheel codes."""

from __future__ import annotations

import math
import re

import librosa
import numpy as np

from songlens.content.features.common import clip01
from songlens.errors import InvalidInput

__all__ = ["DEFAULT_KEY_PROFILE", "KEY_NAMES", "KEY_PROFILES", "camelot_code", "camelot_step",
           "chroma_summary", "estimate_key", "parse_key"]

KEY_NAMES: tuple[str, ...] = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")

#: Key profiles (tonic first, then ascending semitones): weights of each scale degree in a key.
KEY_PROFILES: dict[str, tuple[tuple[float, ...], tuple[float, ...]]] = {
    # Krumhansl & Kessler (1982), probe-tone ratings.
    "krumhansl": (
        (6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88),
        (6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17),
    ),
    # Temperley (1999), "What's key for key?", revised profiles.
    "temperley": (
        (5.0, 2.0, 3.5, 2.0, 4.5, 4.0, 2.0, 4.5, 2.0, 3.5, 1.5, 4.0),
        (5.0, 2.0, 3.5, 4.5, 2.0, 4.0, 2.0, 4.5, 3.5, 2.0, 1.5, 4.0),
    ),
    # Albrecht & Shanahan (2013), pitch-class distributions of a 490-piece corpus.
    "albrecht": (
        (0.238, 0.006, 0.111, 0.006, 0.137, 0.094, 0.016, 0.214, 0.009, 0.080, 0.008, 0.081),
        (0.220, 0.006, 0.104, 0.123, 0.019, 0.103, 0.012, 0.214, 0.062, 0.022, 0.061, 0.052),
    ),
}
DEFAULT_KEY_PROFILE = "albrecht"


def camelot_code(*, key: str, mode: str) -> str:
    """Camelot wheel code of a key: ``camelot_code(key="C", mode="major") == "8B"``.

    Raises
    ------
    InvalidInput
        For a key outside :data:`KEY_NAMES` or a mode other than major/minor.
    """
    if key not in KEY_NAMES:
        raise InvalidInput(f"unknown key {key!r}; expected one of {list(KEY_NAMES)}")
    if mode not in ("major", "minor"):
        raise InvalidInput(f"unknown mode {mode!r}; expected 'major' or 'minor'")
    pc = KEY_NAMES.index(key)
    major_pc = pc if mode == "major" else (pc + 3) % 12  # a minor key sits on its relative major
    number = (7 * major_pc + 8) % 12 or 12  # each fifth up is one step round the wheel; C = 8
    return f"{number}{'B' if mode == 'major' else 'A'}"


_FLATS = {"Db": "C#", "Eb": "D#", "Gb": "F#", "Ab": "G#", "Bb": "A#", "Cb": "B", "Fb": "E",
          "E#": "F", "B#": "C"}
_KEY_TEXT = re.compile(r"\s*([A-Ga-g])\s*([#b♯♭]?)\s*(major|minor|maj|min|m|)\s*", re.I)
_CAMELOT_TEXT = re.compile(r"\s*(1[0-2]|[1-9])\s*([AB])\s*", re.I)


def parse_key(text: str) -> tuple[str, ...]:
    """Camelot codes of a key as people write it: ``"A minor"``, ``"Am"``, ``"C# major"``,
    ``"Db"``, a Camelot code (``"8A"``); a key without a mode means both
    (``parse_key("A") == ("11B", "8A")``).

    Raises
    ------
    InvalidInput
        For anything else.
    """
    if m := _CAMELOT_TEXT.fullmatch(text):
        return (f"{int(m.group(1))}{m.group(2).upper()}",)
    m = _KEY_TEXT.fullmatch(text)
    if m is None:
        raise InvalidInput(f"unknown key {text[:40]!r}; write it as 'A minor', 'C# major', 'Am', "
                           "'Db' or a Camelot code such as '8A'")
    name = m.group(1).upper() + m.group(2).replace("♯", "#").replace("♭", "b")
    name = _FLATS.get(name, name)
    mode = m.group(3)
    modes = ("major", "minor") if not mode else \
        ("major",) if mode == "M" or mode.lower() in ("major", "maj") else ("minor",)
    return tuple(camelot_code(key=name, mode=md) for md in modes)


def camelot_step(a: str | None, b: str | None) -> int:
    """0 for the same Camelot key, 1 for a harmonic neighbour (±1 same letter, or relative
    major/minor), 2 otherwise (or unknown)."""
    if not a or not b:
        return 2
    try:
        na, la, nb, lb = int(a[:-1]), a[-1], int(b[:-1]), b[-1]
    except (ValueError, IndexError):
        return 2
    if (na, la) == (nb, lb):
        return 0
    if (la == lb and (na - nb) % 12 in (1, 11)) or (na == nb and la != lb):
        return 1
    return 2


def chroma_summary(*, y: np.ndarray, sr: int) -> np.ndarray:
    """Whole-track chroma [shape=(12,), C first]: constant-Q magnitudes (36 bins/octave, from
    C2, up to six octaves) summed over frames."""
    fmin = float(librosa.note_to_hz("C2"))
    n_octaves = int(min(6, math.floor(math.log2(0.45 * sr / fmin))))
    bpo = 36
    hop = 2048 if sr <= 24000 else 4096
    if y.size < 2 * sr:  # the lowest octaves need ~1 s of signal; zeros add no chroma
        y = np.pad(y, (0, 2 * sr - y.size))
    cqt = np.abs(librosa.cqt(y, sr=sr, hop_length=hop, fmin=fmin, n_bins=bpo * n_octaves,
                             bins_per_octave=bpo, tuning=0.0))
    to_chroma = librosa.filters.cq_to_chroma(bpo * n_octaves, bins_per_octave=bpo, fmin=fmin)
    chroma = to_chroma @ cqt  # (12, frames), C first
    return np.asarray(chroma.sum(axis=1), dtype=np.float64)


def estimate_key(*, chroma: np.ndarray, profile: str) -> tuple[int, str, float, float] | None:
    """Return (pitch class, mode, confidence, best r), or None when there is no pitch content.

    ``chroma`` [shape=(12,)] from :func:`chroma_summary`; ``profile`` a :data:`KEY_PROFILES` key.
    """
    if float(chroma.sum()) <= 1e-9 or float(np.std(chroma)) <= 1e-9 * float(chroma.mean()):
        return None
    major, minor = (np.asarray(p, dtype=np.float64) for p in KEY_PROFILES[profile])
    scores = []
    for mode, prof in (("major", major), ("minor", minor)):
        for pc in range(12):
            r = float(np.corrcoef(chroma, np.roll(prof, pc))[0, 1])
            scores.append((r, pc, mode))
    scores.sort(reverse=True)
    (r1, pc, mode), (r2, _, _) = scores[0], scores[1]
    return pc, mode, clip01((r1 - r2) / 0.2), r1
