"""Track-level audio features a music person can check: tempo, key, loudness and 0–1 descriptors.

Names and scales follow Spotify's retired ``audio-features`` API where it had the feature
(``energy``, ``danceability``, ``valence``, ``acousticness``, ``instrumentalness``,
``speechiness`` in 0–1; ``loudness`` in dB; ``tempo`` in BPM) so apps can switch. Every feature is
defined in :data:`FEATURE_DOCS` (definition, unit, range), which the README and /docs show.

One pass shares its work: one STFT (64 ms Hann window, 16 ms hop at 16 kHz) feeds the mel onset
envelope, the spectral descriptors and the band envelopes; one onset envelope feeds tempo, pulse
clarity and onset rate; one constant-Q transform (36 bins/octave, C2–C8) feeds the key; one
K-weighted meter (pyloudnorm, ITU-R BS.1770-4) gives loudness and loudness range. Nothing is
random, so the same samples always give the same features.

The 0–1 descriptors are transparent formulas over measured quantities, not trained models; where
whole-track musicnn tag probabilities are passed (``tag_probs``), the mood, vocal, acoustic and
speech descriptors lean on them, and a ``*_source`` field says which evidence was used.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

import librosa
import numpy as np
import pyloudnorm
import scipy.signal

from songlens.errors import AudioTooShort, EmptyAudio, InvalidInput

__all__ = [
    "AudioFeatures",
    "DEFAULT_KEY_PROFILE",
    "FEATURE_DOCS",
    "KEY_NAMES",
    "KEY_PROFILES",
    "audio_features",
    "camelot_code",
]

log = logging.getLogger(__name__)

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

# --- analysis constants (documented in FEATURE_DOCS) -------------------------------------------
_TEMPO_MIN, _TEMPO_MAX = 30.0, 300.0  # candidate range, BPM
_PERCEPTUAL_LO, _PERCEPTUAL_HI = 70.0, 180.0  # preferred range, BPM
_PRIOR_CENTER, _PRIOR_SIGMA_OCT = 120.0, 1.0  # log-normal tempo prior (librosa's default)
_OCTAVE_EVIDENCE = 0.8  # a relative must reach this share of the winner's autocorrelation
_WIN_S, _WIN_HOP_S = 8.0, 4.0  # windows for the local pulse clarity (regularity)
_BRIGHT_LO_HZ, _BRIGHT_HI_HZ = 300.0, 4000.0  # spectral centroid → brightness 0 and 1 (log scale)
_LOUDNESS_FLOOR = -70.0  # BS.1770 absolute gate, LUFS
_MIN_DURATION_S = 0.1

_TAGS_VALENCE_POS = {"happy": 1.0, "party": 0.6, "catchy": 0.4, "fun": 0.6, "upbeat": 0.8}
_TAGS_VALENCE_NEG = {"sad": 1.0, "melancholy": 0.9, "melancholic": 0.9, "dark": 0.6,
                     "depressing": 1.0}
_TAGS_VOCAL = {"vocal": 1.0, "vocals": 1.0, "singing": 1.0, "voice": 0.9, "female vocal": 1.0,
               "male vocal": 1.0, "female voice": 1.0, "male voice": 1.0, "female": 0.8,
               "male": 0.8, "woman": 0.8, "man": 0.8, "female vocalists": 0.9,
               "male vocalists": 0.9, "female vocalist": 0.9, "choir": 0.8, "choral": 0.8,
               "opera": 0.8, "rap": 1.0, "speech": 1.0}
_TAGS_NO_VOCAL = {"no vocals": 1.0, "no vocal": 1.0, "no voice": 1.0, "instrumental": 1.0}
_TAGS_ACOUSTIC = {"acoustic": 1.0, "classical": 0.9, "classic": 0.6, "strings": 0.8,
                  "violin": 0.8, "cello": 0.8, "harp": 0.8, "flute": 0.8, "harpsichord": 0.8,
                  "piano": 0.7, "guitar": 0.4, "folk": 0.7, "sitar": 0.8, "choral": 0.7,
                  "country": 0.4, "jazz": 0.5, "opera": 0.7}
_TAGS_ELECTRIC = {"electronic": 1.0, "electronica": 1.0, "electro": 1.0, "techno": 1.0,
                  "house": 1.0, "synth": 0.8, "dance": 0.6, "beats": 0.5, "metal": 0.7,
                  "heavy metal": 0.7, "hard rock": 0.5, "rock": 0.3, "industrial": 0.8}
_TAGS_SPEECH = {"speech": 1.0, "spoken word": 1.0, "rap": 0.7, "hip-hop": 0.5, "hip hop": 0.5}

FEATURE_DOCS: dict[str, str] = {
    "duration_s": "Length of the analysed audio. Seconds, ≥ 0.",
    "tempo_bpm": (
        "Beat rate in beats per minute (quarter notes for most pop). From one onset envelope "
        "(log-mel spectral flux, 16 ms frames): its autocorrelation (the global autocorrelation "
        "tempogram) has peaks at the beat period and at its multiples; each peak between 30 and "
        "300 BPM is refined to a fractional lag and scored by its height × a log-normal prior "
        "centred on 120 BPM with a one-octave spread (librosa's default prior), which settles "
        "most half/double-time ties. Octave check: if the winner lies outside the perceptual range "
        "70–180 BPM and an octave relative (×2, ×½, ×3, ×⅓) inside it has at least 80 % of its "
        "autocorrelation, the relative is taken. BPM, 0 when no periodic pulse is found, else "
        "30–300 (mostly 70–180)."
    ),
    "tempo_confidence": (
        "Pulse clarity: normalised autocorrelation of the onset envelope at the beat period "
        "(1 = perfectly periodic onsets, 0 = no pulse). 0–1."
    ),
    "key": (
        "Tonic pitch class, sharps spelling: C, C#, D, D#, E, F, F#, G, G#, A, A#, B; null when "
        "the audio has no pitched content. Found by correlating a whole-track chroma summary "
        "(constant-Q magnitudes, 36 bins/octave, C2–C8, summed over frames) with the 24 "
        "rotations of the Albrecht & Shanahan (2013) major and minor key profiles (Pearson r) "
        "and taking the best; Krumhansl–Kessler and Temperley profiles are selectable."
    ),
    "key_pitch_class": "The key as Spotify's integer pitch class (C=0 … B=11), -1 when unknown.",
    "mode": "'major' or 'minor', from the same key-profile correlation; null with the key.",
    "key_confidence": (
        "How clearly the best key beats the runner-up: (r_best − r_second) / 0.2, clipped to 0–1, "
        "where r are Pearson correlations with the key profiles (a margin of 0.2 or more is "
        "unambiguous; relative major/minor confusions give small margins). 0–1."
    ),
    "camelot": (
        "Camelot wheel code for harmonic mixing: 1–12 and A (minor) or B (major); C major = 8B, "
        "A minor = 8A; adjacent numbers and the same number are compatible."
    ),
    "loudness_db": (
        "Integrated loudness per ITU-R BS.1770-4 (K-weighting, 400 ms blocks, absolute −70 LUFS "
        "and relative −10 LU gates) via pyloudnorm; clips shorter than 400 ms are measured as one "
        "block. LUFS (dB), −70 (floor) to about 0; streaming masters sit near −14 to −6."
    ),
    "dynamic_range_db": (
        "Loudness range (LRA) per EBU Tech 3342: spread between the 10th and 95th percentiles of "
        "the 3 s short-term loudness (every 0.1 s, K-weighted), after an absolute −70 LUFS and a "
        "relative −20 LU gate. LU (= dB), ≥ 0 (0 for a steady tone; pop ≈ 4–8, classical more); "
        "null for clips under 3 s or silence."
    ),
    "energy": (
        "Perceived intensity: 0.55 × loudness term (LUFS mapped linearly from −40 → 0 to −6 → 1) "
        "+ 0.25 × onset density (onset_rate / 8 per second, capped at 1) + 0.20 × brightness. "
        "0–1; louder, busier, brighter audio scores higher."
    ),
    "danceability": (
        "How suitable for dancing: 0.5 × beat strength (tempo_confidence) + 0.2 × pulse "
        "regularity (1 − coefficient of variation of the 8 s windowed pulse clarity) + 0.3 × "
        "tempo preference (Gaussian in log-tempo around 118 BPM, σ = 0.6 octave). 0–1."
    ),
    "valence": (
        "Musical positiveness (high: happy, cheerful; low: sad, tense). With mood tags: "
        "0.75 × tag valence + 0.25 × audio valence, where tag valence = (pos + 0.02) / (pos + neg "
        "+ 0.04) over weighted happy/party/catchy vs sad tag probabilities. Audio valence = 0.2 "
        "+ 0.3 × major-ness (0.5 ± key_confidence, + for major) + 0.2 × tempo term ((bpm − 60) / "
        "120) + 0.15 × brightness + 0.15 × energy. 0–1; see valence_source."
    ),
    "valence_source": "'tags+audio' when mood tags were given, else 'audio'.",
    "acousticness": (
        "Confidence the track is acoustic (not electronic/amplified). With instrument/genre tags: "
        "(a + 0.02) / (a + e + 0.04) over weighted acoustic (acoustic, classical, strings, piano, "
        "folk, …) vs electronic (electronic, techno, synth, house, metal, …) tag probabilities. "
        "Audio only: 0.4 × tonality (1 − spectral flatness term, log10 flatness −4 → 1, 0 → 0) + "
        "0.3 × dynamics (loudness range / 12 LU) + 0.3 × (1 − loudness term) — a weak heuristic. "
        "0–1; see acousticness_source."
    ),
    "acousticness_source": "'tags' when acoustic/electronic tags were given, else 'audio'.",
    "vocal_presence": (
        "Probability the track has vocals (sung or spoken). With tags: (v + 0.02) / (v + n + "
        "0.04), v = strongest vocal tag (vocal, vocals, singing, male/female vocal, …), n = "
        "strongest no-vocal tag (no vocals, no vocal, no voice, instrumental). Audio only: "
        "0.1 + 0.8 × syllabic modulation (share of the 300–3400 Hz band envelope's 0.5–16 Hz "
        "modulation power at 2–8 Hz) × tonality (1 − spectral flatness term) — a weak heuristic "
        "kept inside 0.1–0.9 (rhythmic pitched parts at 2–8 notes/s also score); prefer tags. "
        "0–1; see vocal_source."
    ),
    "instrumentalness": "1 − vocal_presence (Spotify: near 1 means no vocal content). 0–1.",
    "vocal_source": "'tags' or 'audio' (for vocal_presence and instrumentalness).",
    "speechiness": (
        "Presence of spoken words (Spotify: > 0.66 mostly speech, 0.33–0.66 rap-like, < 0.33 "
        "music). With tags: max(speech, 0.7 × rap, 0.5 × Hip-Hop). Audio only: (0.5 × pause "
        "ratio (share of 16 ms frames 20 dB under the 90th-percentile frame) + 0.5 × syllabic "
        "modulation) × tonality × (1 − best key-profile correlation): speech pauses, modulates at "
        "the syllable rate, is harmonic but follows no key. A weak heuristic. 0–1; see "
        "speechiness_source."
    ),
    "speechiness_source": "'tags' when speech/rap/Hip-Hop tags were given, else 'audio'.",
    "brightness": (
        "Spectral centroid (energy-weighted mean over frames) on a log scale: 300 Hz → 0, "
        "4 kHz → 1, clipped. 0–1 (white noise ≈ 1 at 16 kHz, a bass note 0)."
    ),
    "spectral_centroid_hz": "Energy-weighted mean spectral centroid. Hz, 0–sr/2.",
    "onset_rate": "Detected note/drum onsets per second (librosa peak picking). 1/s, ≥ 0.",
}


@dataclass(frozen=True)
class AudioFeatures:
    """Track-level features; see :data:`FEATURE_DOCS` for each field's definition and range."""

    duration_s: float
    tempo_bpm: float
    tempo_confidence: float
    key: str | None
    key_pitch_class: int
    mode: str | None
    key_confidence: float
    camelot: str | None
    loudness_db: float
    dynamic_range_db: float | None
    energy: float
    danceability: float
    valence: float
    valence_source: str
    acousticness: float
    acousticness_source: str
    vocal_presence: float
    instrumentalness: float
    vocal_source: str
    speechiness: float
    speechiness_source: str
    brightness: float
    spectral_centroid_hz: float
    onset_rate: float

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict: 0–1 scores to 3 decimals, dB and BPM to 2, Hz to 1."""
        out: dict[str, Any] = {}
        for name, value in asdict(self).items():
            if isinstance(value, float):
                digits = 1 if name.endswith("_hz") else 2 if name in _TWO_DIGITS else 3
                value = round(value, digits)
            out[name] = value
        return out


_TWO_DIGITS = {"duration_s", "tempo_bpm", "loudness_db", "dynamic_range_db", "onset_rate"}


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


# ---------------------------------------------------------------------------------------------
def _clip01(x: float) -> float:
    return float(min(1.0, max(0.0, x))) if math.isfinite(x) else 0.0


def _validate(y: Any, sr: Any) -> np.ndarray:
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
    if y.size < _MIN_DURATION_S * sr:
        raise AudioTooShort(f"audio is {y.size / sr:.3f} s long; at least {_MIN_DURATION_S} s "
                            "is needed", duration_s=y.size / sr)
    return y.astype(np.float32, copy=False)


def _validate_tags(tag_probs: Mapping[str, float] | None) -> dict[str, float]:
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


def _weighted_max(tags: dict[str, float], weights: Mapping[str, float]) -> float | None:
    """Strongest weighted probability among ``weights``' tags; None if none of them is given."""
    vals = [w * tags[t] for t, w in weights.items() if t in tags]
    return max(vals) if vals else None


def _ratio(pos: float, neg: float, eps: float = 0.02) -> float:
    return (pos + eps) / (pos + neg + 2 * eps)


# --- loudness -----------------------------------------------------------------------------------
def _loudness(y: np.ndarray, sr: int) -> tuple[float, float | None]:
    """Integrated loudness (LUFS) and loudness range (LU, None when undefined)."""
    x = y.astype(np.float64)
    block = min(0.4, x.size / sr)  # one block for clips shorter than a 400 ms gating block
    lufs = float(pyloudnorm.Meter(sr, block_size=block).integrated_loudness(x))
    lufs = max(lufs, _LOUDNESS_FLOOR) if math.isfinite(lufs) else _LOUDNESS_FLOOR
    if x.size < 3.0 * sr or lufs <= _LOUDNESS_FLOOR:
        return lufs, None
    # EBU Tech 3342: 3 s short-term loudness every 0.1 s, gated at -70 LUFS absolute and 20 LU
    # below the mean of what passes; LRA is the 10th-95th percentile spread. pyloudnorm's own
    # loudness_range appends 1.5 s of silence, which inflates LRA on short clips.
    meter = pyloudnorm.Meter(sr, block_size=3.0, overlap=1.0 - 0.1 / 3.0)
    meter.integrated_loudness(x)
    st = np.asarray(meter.blockwise_loudness, dtype=np.float64)
    st = st[np.isfinite(st) & (st >= _LOUDNESS_FLOOR)]
    if st.size == 0:
        return lufs, None
    st = st[st >= 10 * np.log10(np.mean(10 ** (st / 10))) - 20.0]
    return lufs, float(np.percentile(st, 95) - np.percentile(st, 10))


# --- tempo --------------------------------------------------------------------------------------
def _parabolic(values: np.ndarray, i: int) -> tuple[float, float]:
    """Sub-sample peak position and height around index ``i``."""
    if i <= 0 or i >= values.size - 1:
        return float(i), float(values[i])
    a, b, c = values[i - 1], values[i], values[i + 1]
    den = a - 2 * b + c
    if den >= 0:
        return float(i), float(b)
    d = 0.5 * (a - c) / den
    return i + d, float(b - 0.25 * (a - c) * d)


def _tempo_prior(bpm: float) -> float:
    return math.exp(-0.5 * (math.log2(bpm / _PRIOR_CENTER) / _PRIOR_SIGMA_OCT) ** 2)


def _windows(n: int, fps: float) -> list[slice]:
    win, hop = int(round(_WIN_S * fps)), int(round(_WIN_HOP_S * fps))
    if n <= win:
        return [slice(0, n)]
    starts = list(range(0, n - win + 1, hop))
    return [slice(s, s + win) for s in starts]


def _tempo(onset_env: np.ndarray, fps: float) -> tuple[float, float, float, float]:
    """Return (bpm, pulse clarity, regularity, lag in frames); bpm 0 when there is no pulse."""
    o = onset_env.astype(np.float64) - float(np.mean(onset_env))
    max_lag = int(math.ceil(60.0 * fps / _TEMPO_MIN)) + 2
    min_lag = max(1, int(math.floor(60.0 * fps / _TEMPO_MAX)))
    if o.size < 2 * min_lag + 2 or float(np.dot(o, o)) <= 1e-12:
        return 0.0, 0.0, 0.0, 0.0
    acf = librosa.autocorrelate(o, max_size=min(max_lag + 1, o.size // 2))
    # unbiased normalisation: a lag-L product has n-L terms
    acf = acf / (acf[0] * (1.0 - np.arange(acf.size) / o.size))
    cands = []  # (score, height, bpm, lag)
    for i in range(min_lag, acf.size - 1):
        if acf[i] > acf[i - 1] and acf[i] >= acf[i + 1] and acf[i] > 0:
            lag, height = _parabolic(acf, i)
            bpm = 60.0 * fps / lag
            if _TEMPO_MIN <= bpm <= _TEMPO_MAX:
                cands.append((height * _tempo_prior(bpm), height, bpm, lag))
    if not cands:
        return 0.0, 0.0, 0.0, 0.0
    _, height, bpm, lag = max(cands)
    if log.isEnabledFor(logging.DEBUG):
        log.debug("tempo candidates (score, acf, bpm): %s",
                  [(round(c[0], 3), round(c[1], 3), round(c[2], 1))
                   for c in sorted(cands, reverse=True)[:6]])
    # Octave check: outside the perceptual range, take an octave relative inside it when the
    # onset envelope is nearly as periodic there.
    if not _PERCEPTUAL_LO <= bpm <= _PERCEPTUAL_HI:
        relatives = [c for c in cands
                     if _PERCEPTUAL_LO <= c[2] <= _PERCEPTUAL_HI
                     and c[1] >= _OCTAVE_EVIDENCE * height
                     and any(abs(c[2] / (bpm * f) - 1.0) < 0.03 for f in (2.0, 0.5, 3.0, 1 / 3))]
        if relatives:
            _, height, bpm, lag = max(relatives, key=lambda c: c[1])
    wins = _windows(o.size, fps)
    # local pulse clarity at the beat lag, per window
    local = []
    for w in wins:
        seg = o[w] - np.mean(o[w])
        energy = float(np.dot(seg, seg))
        if energy <= 1e-12 or seg.size <= lag + 1:
            continue
        a = librosa.autocorrelate(seg, max_size=int(lag) + 2)
        a = a / (a[0] * (1.0 - np.arange(a.size) / seg.size))
        local.append(max(0.0, float(np.interp(lag, np.arange(a.size), a))))
    if local:
        arr = np.asarray(local)
        regularity = _clip01(1.0 - float(arr.std()) / max(float(arr.mean()), 1e-6))
    else:
        regularity = 0.0
    return float(bpm), _clip01(height), regularity, float(lag)


# --- key ----------------------------------------------------------------------------------------
def _chroma_summary(y: np.ndarray, sr: int) -> np.ndarray:
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


def _key(chroma: np.ndarray, profile: str) -> tuple[int, str, float, float] | None:
    """Return (pitch class, mode, confidence, best r), or None when there is no pitch content."""
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
    return pc, mode, _clip01((r1 - r2) / 0.2), r1


# --- public entry point -------------------------------------------------------------------------
def audio_features(
    *,
    y: np.ndarray,
    sr: int = 16000,
    tag_probs: Mapping[str, float] | None = None,
    key_profile: str = DEFAULT_KEY_PROFILE,
) -> AudioFeatures:
    """Compute track-level features of mono audio.

    Parameters
    ----------
    y : np.ndarray [shape=(n,)], float
        Mono samples in [-1, 1] (16 kHz from :func:`songlens.content.audio_io.decode_audio`).
    sr : int
        Sample rate of ``y`` in Hz.
    tag_probs : dict[str, float], optional
        Whole-track tag probabilities (musicnn MSD + MTT vocabulary; case-insensitive), used for
        valence, vocal presence, acousticness and speechiness when the relevant tags are present.
    key_profile : str
        One of :data:`KEY_PROFILES` (``albrecht`` by default).

    Returns
    -------
    AudioFeatures

    Raises
    ------
    InvalidInput
        ``y`` not a 1-D float array, non-finite samples, a bad ``sr``, a bad tag probability or an
        unknown ``key_profile``.
    EmptyAudio, AudioTooShort
        No samples, or under 0.1 s.
    """
    y = _validate(y, sr)
    tags = _validate_tags(tag_probs)
    if key_profile not in KEY_PROFILES:
        raise InvalidInput(f"unknown key_profile {key_profile!r}; expected one of "
                           f"{sorted(KEY_PROFILES)}")
    duration = y.size / float(sr)

    # One STFT for everything spectral.
    n_fft = 1 << int(round(math.log2(0.064 * sr)))
    hop = n_fft // 4
    fps = sr / hop
    power = np.abs(librosa.stft(y, n_fft=n_fft, hop_length=hop, window="hann")) ** 2
    freqs = librosa.fft_frequencies(sr=sr, n_fft=n_fft)
    frame_energy = power.sum(axis=0)

    # One onset envelope (log-mel spectral flux) for tempo, pulse and onset rate.
    mel = librosa.feature.melspectrogram(S=power, sr=sr, n_mels=96, fmax=sr / 2)
    onset_env = librosa.onset.onset_strength(S=librosa.power_to_db(mel), sr=sr, hop_length=hop)
    tempo_bpm, pulse, regularity, _ = _tempo(onset_env, fps)
    onsets = librosa.onset.onset_detect(onset_envelope=onset_env, sr=sr, hop_length=hop,
                                        units="frames") if onset_env.max() > 0 else np.array([])
    onset_rate = float(len(onsets)) / duration

    # Spectral shape, weighted by frame energy so silence does not count.
    total = float(frame_energy.sum())
    if total > 0:
        mag = np.sqrt(power)
        cent_frames = (freqs[:, None] * mag).sum(axis=0) / np.maximum(mag.sum(axis=0), 1e-12)
        centroid = float(np.sum(cent_frames * frame_energy) / total)
        flat_frames = librosa.feature.spectral_flatness(S=mag + 1e-10)[0]
        flatness = float(np.sum(flat_frames * frame_energy) / total)
    else:
        centroid, flatness = 0.0, 0.0
    brightness = _clip01(math.log(max(centroid, 1e-6) / _BRIGHT_LO_HZ)
                         / math.log(_BRIGHT_HI_HZ / _BRIGHT_LO_HZ))

    # Key from one constant-Q chroma summary.
    chroma = _chroma_summary(y, sr)
    key_est = _key(chroma, key_profile)
    if key_est is None:
        key_name, key_pc, mode, key_conf, camelot, key_r = None, -1, None, 0.0, None, 0.0
    else:
        key_pc, mode, key_conf, key_r = key_est
        key_name = KEY_NAMES[key_pc]
        camelot = camelot_code(key=key_name, mode=mode)
    # harmonic (low flatness) vs noise-like (high flatness) spectrum
    tonal = 1.0 - _clip01((math.log10(max(flatness, 1e-6)) + 4.0) / 4.0)  # 1e-4 → 1, 1 → 0

    lufs, lra = _loudness(y, sr)
    loud_term = _clip01((lufs + 40.0) / 34.0)

    energy = _clip01(0.55 * loud_term + 0.25 * min(onset_rate / 8.0, 1.0) + 0.20 * brightness)
    tempo_pref = (math.exp(-0.5 * (math.log2(tempo_bpm / 118.0) / 0.6) ** 2)
                  if tempo_bpm > 0 else 0.0)
    danceability = _clip01(0.5 * pulse + 0.2 * regularity + 0.3 * tempo_pref)

    # Band envelopes for the vocal/speech heuristics: syllabic-rate modulation.
    mid = (freqs >= 300) & (freqs <= 3400)
    syllabic = _syllabic_modulation(power[mid].sum(axis=0), fps)
    loud_frames = frame_energy[frame_energy > 0]
    if loud_frames.size:
        ref = np.percentile(loud_frames, 90)
        pause_ratio = float(np.mean(frame_energy < ref * 10 ** (-20 / 10)))
    else:
        pause_ratio = 1.0

    # Valence.
    major_ness = 0.5 if mode is None else 0.5 + (0.5 if mode == "major" else -0.5) * key_conf
    tempo_term = _clip01((tempo_bpm - 60.0) / 120.0)
    valence_audio = _clip01(0.2 + 0.3 * major_ness + 0.2 * tempo_term + 0.15 * brightness
                            + 0.15 * energy)
    pos, neg = _weighted_max(tags, _TAGS_VALENCE_POS), _weighted_max(tags, _TAGS_VALENCE_NEG)
    if pos is not None or neg is not None:
        valence = _clip01(0.75 * _ratio(pos or 0.0, neg or 0.0) + 0.25 * valence_audio)
        valence_source = "tags+audio"
    else:
        valence, valence_source = valence_audio, "audio"

    # Vocals.
    voc, novoc = _weighted_max(tags, _TAGS_VOCAL), _weighted_max(tags, _TAGS_NO_VOCAL)
    if voc is not None or novoc is not None:
        vocal_presence, vocal_source = _clip01(_ratio(voc or 0.0, novoc or 0.0)), "tags"
    else:
        vocal_presence, vocal_source = 0.1 + 0.8 * syllabic * tonal, "audio"

    # Acousticness.
    aco, ele = _weighted_max(tags, _TAGS_ACOUSTIC), _weighted_max(tags, _TAGS_ELECTRIC)
    if aco is not None or ele is not None:
        acousticness, acousticness_source = _clip01(_ratio(aco or 0.0, ele or 0.0)), "tags"
    else:
        dyn_term = _clip01((lra or 0.0) / 12.0)
        acousticness = _clip01(0.4 * tonal + 0.3 * dyn_term + 0.3 * (1 - loud_term))
        acousticness_source = "audio"

    # Speechiness.
    sp = _weighted_max(tags, _TAGS_SPEECH)
    if sp is not None:
        speechiness, speechiness_source = _clip01(sp), "tags"
    else:
        speechiness = _clip01((0.5 * pause_ratio + 0.5 * syllabic) * tonal
                              * (1.0 - _clip01(key_r)))
        speechiness_source = "audio"

    return AudioFeatures(
        duration_s=duration,
        tempo_bpm=tempo_bpm,
        tempo_confidence=pulse,
        key=key_name,
        key_pitch_class=key_pc,
        mode=mode,
        key_confidence=key_conf,
        camelot=camelot,
        loudness_db=lufs,
        dynamic_range_db=lra,
        energy=energy,
        danceability=danceability,
        valence=valence,
        valence_source=valence_source,
        acousticness=acousticness,
        acousticness_source=acousticness_source,
        vocal_presence=vocal_presence,
        instrumentalness=1.0 - vocal_presence,
        vocal_source=vocal_source,
        speechiness=speechiness,
        speechiness_source=speechiness_source,
        brightness=brightness,
        spectral_centroid_hz=centroid,
        onset_rate=onset_rate,
    )


def _syllabic_modulation(band_energy: np.ndarray, fps: float) -> float:
    """Share of the band envelope's 0.5–16 Hz modulation power that lies at 2–8 Hz, mapped to 0–1.

    Speech and singing modulate at the syllable rate (about 4 Hz); steady tones do not modulate
    and drum grooves spread their modulation over beat and sub-beat rates.
    """
    env = np.log10(band_energy + 1e-10)
    if env.size < int(2 * fps) or float(np.std(env)) < 1e-6:
        return 0.0
    f, pxx = scipy.signal.welch(env - env.mean(), fs=fps, nperseg=min(env.size, int(4 * fps)),
                                detrend="linear")
    total = float(pxx[(f >= 0.5) & (f <= 16)].sum())
    if total <= 0:
        return 0.0
    share = float(pxx[(f >= 2) & (f <= 8)].sum()) / total
    return _clip01((share - 0.3) / 0.5)
