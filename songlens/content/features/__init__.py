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

from songlens.content.features.extract import Measured, audio_features, describe, measure_signal
from songlens.content.features.record import FEATURE_DOCS, AudioFeatures
from songlens.content.features.tonal import (
    DEFAULT_KEY_PROFILE,
    KEY_NAMES,
    KEY_PROFILES,
    camelot_code,
    camelot_step,
)

__all__ = [
    "AudioFeatures",
    "DEFAULT_KEY_PROFILE",
    "FEATURE_DOCS",
    "KEY_NAMES",
    "KEY_PROFILES",
    "Measured",
    "audio_features",
    "camelot_code",
    "camelot_step",
    "describe",
    "measure_signal",
]
