"""Tempo, pulse clarity and pulse regularity from an onset envelope."""

from __future__ import annotations

import logging
import math

import librosa
import numpy as np

from songlens.content.features.common import clip01

__all__ = ["estimate_tempo"]

log = logging.getLogger(__name__)

_TEMPO_MIN, _TEMPO_MAX = 30.0, 300.0  # candidate range, BPM
_PERCEPTUAL_LO, _PERCEPTUAL_HI = 70.0, 180.0  # preferred range, BPM
_PRIOR_CENTER, _PRIOR_SIGMA_OCT = 120.0, 1.0  # log-normal tempo prior (librosa's default)
_OCTAVE_EVIDENCE = 0.8  # a relative must reach this share of the winner's autocorrelation
_WIN_S, _WIN_HOP_S = 8.0, 4.0  # windows for the local pulse clarity (regularity)


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


def estimate_tempo(*, onset_env: np.ndarray, fps: float) -> tuple[float, float, float, float]:
    """Return (bpm, pulse clarity, regularity, lag in frames); bpm 0 when there is no pulse.

    ``onset_env`` [shape=(frames,)] is an onset strength envelope at ``fps`` frames per second.
    """
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
        regularity = clip01(1.0 - float(arr.std()) / max(float(arr.mean()), 1e-6))
    else:
        regularity = 0.0
    return float(bpm), clip01(height), regularity, float(lag)
