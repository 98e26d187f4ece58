"""Tempo, pulse clarity and pulse regularity from an onset envelope; the metrical level a
listener taps, a second candidate and a calibrated confidence.

The autocorrelation peak (with a log-normal prior) gives a period; the tapped level is then chosen
among it and its relatives (×2, ×½, ×3/2, ×2/3, ×3, ×⅓) by a conditional logit (a softmax across
the candidates) over each candidate's evidence (:func:`level_features`: autocorrelation of the
full-band and of the bass-band onset envelope at the period, at its multiples ×2, ×3, ×4 and at
its half and third, a tempo prior, how many onsets fall in one beat, and the onset strength that
a beat tracker locked to that tempo finds on its beats and between them). The confidence is
Platt-calibrated from the chosen level's softmax probability. The model's weights and the
calibration are small data in ``calibration.json``, fitted on rendered tuning pieces by
``benchmarks/tempo_key_fit.py`` (figures in benchmarks/results/tempo_level_v2.md)."""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import librosa
import numpy as np

from songlens.content.features.calibration import calibrated, tempo_level_model
from songlens.content.features.common import clip01

__all__ = ["LEVELS", "LEVEL_FEATURES", "TempoEstimate", "choose_tempo", "confidence_evidence",
           "estimate_tempo", "level_features", "onset_rate", "rank_levels", "tempo_levels"]

log = logging.getLogger(__name__)

_TEMPO_MIN, _TEMPO_MAX = 30.0, 300.0  # candidate range, BPM
_PERCEPTUAL_LO, _PERCEPTUAL_HI = 70.0, 180.0  # preferred range, BPM
_PRIOR_CENTER, _PRIOR_SIGMA_OCT = 120.0, 1.0  # log-normal tempo prior (librosa's default)
_OCTAVE_EVIDENCE = 0.8  # a relative must reach this share of the winner's autocorrelation
_CLEAR_PULSE = 0.3  # pulse clarity from which the calibrated tempo confidence applies in full
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


#: metrical relatives of the autocorrelation's winner that compete for the tapped beat
LEVELS = (1.0, 2.0, 0.5, 1.5, 2 / 3, 3.0, 1 / 3)
LEVEL_FEATURES = ("acf", "acf_x2", "acf_half", "acf_third", "log2_bpm_120", "log2_bpm_120_sq",
                  "log_on_beat", "mid_to_on_beat", "third_to_on_beat", "low_mid_to_on_beat",
                  "low_third_to_on_beat",
                  # added in v2 (ternary vs binary grouping and subdivision, the bass band,
                  # how many onsets fall in one beat)
                  "acf_x3", "acf_x4", "low_acf", "low_acf_x2", "low_acf_x3", "low_acf_half",
                  "low_acf_third", "log_low_on_beat", "log_onsets_per_beat",
                  "slow_and_dense", "autocorrelation_winner")


def _acf(o: np.ndarray, fps: float) -> np.ndarray:
    max_lag = int(math.ceil(60.0 * fps / _TEMPO_MIN)) * 4 + 2
    acf = librosa.autocorrelate(o, max_size=min(max_lag + 1, o.size // 2))
    den = acf[0] * (1.0 - np.arange(acf.size) / o.size)
    return acf / den if acf[0] > 1e-12 else np.zeros_like(acf)


def onset_rate(onset_env: np.ndarray, fps: float) -> float:
    """Detected onsets per second (the count :func:`audio_features` reports as onset_rate)."""
    env = onset_env.astype(np.float64)
    if env.size == 0 or env.max() <= 0:
        return 0.0
    onsets = librosa.onset.onset_detect(onset_envelope=env, sr=fps, hop_length=1,
                                        units="frames")
    return float(len(onsets)) / (env.size / fps)


def level_features(*, onset_env: np.ndarray, low_env: np.ndarray, fps: float, bpm: float,
                   acf: np.ndarray | None = None, low_acf: np.ndarray | None = None,
                   rate: float | None = None) -> np.ndarray:
    """Evidence that ``bpm`` is the tapped beat: the first ``len(LEVEL_FEATURES) - 1`` of
    :data:`LEVEL_FEATURES`. ``low_env`` is the onset envelope of the bass band alone (kick and
    bass mark the beat a listener taps; hats and strummed subdivisions do not). ``acf``,
    ``low_acf`` (their autocorrelations) and ``rate`` (:func:`onset_rate`) are computed when
    not given."""
    o = onset_env.astype(np.float64) - float(np.mean(onset_env))
    acf = _acf(o, fps) if acf is None else acf
    lo = low_env.astype(np.float64) - float(np.mean(low_env))
    low_acf = _acf(lo, fps) if low_acf is None else low_acf
    rate = onset_rate(onset_env, fps) if rate is None else rate
    lag = 60.0 * fps / bpm

    def at(a: np.ndarray, x: float) -> float:
        return float(np.interp(x, np.arange(a.size), a)) if 1 <= x < a.size - 1 else 0.0

    env = onset_env.astype(np.float64)
    _, beats = librosa.beat.beat_track(onset_envelope=env, sr=fps, hop_length=1, bpm=bpm,
                                       trim=False)
    beats = np.asarray(beats, dtype=float)
    low = low_env.astype(np.float64)
    if beats.size >= 3:
        def strength(e: np.ndarray, frac: float) -> float:
            pos = np.round(beats[:-1] + frac * np.diff(beats)).astype(int)
            return float(e[np.clip(pos, 0, e.size - 1)].mean()) / max(float(e.mean()), 1e-9)
        on, mid = strength(env, 0.0), strength(env, 0.5)
        third = max(strength(env, 1 / 3), strength(env, 2 / 3))
        low_on = max(strength(low, 0.0), 1e-3)
        low_mid = strength(low, 0.5) / low_on
        low_third = max(strength(low, 1 / 3), strength(low, 2 / 3)) / low_on
    else:
        on = mid = third = low_mid = low_third = 0.0
        low_on = 1e-3
    # scale-free: sparse drum tracks and dense mixes give very different onset-strength ratios
    on_ = max(on, 1e-3)
    pr = math.log2(bpm / _PRIOR_CENTER)
    per_beat = math.log(max(rate * 60.0 / bpm, 0.25))
    # a beat slower than 60 BPM holding many onsets: dense music is not tapped that slowly
    slow_dense = max(0.0, math.log2(60.0 / bpm)) * max(0.0, per_beat)
    return np.array([at(acf, lag), at(acf, 2 * lag), at(acf, lag / 2), at(acf, lag / 3), pr,
                     pr * pr, math.log(on_), mid / on_, third / on_, low_mid, low_third,
                     at(acf, 3 * lag), at(acf, 4 * lag), at(low_acf, lag), at(low_acf, 2 * lag),
                     at(low_acf, 3 * lag), at(low_acf, lag / 2), at(low_acf, lag / 3),
                     math.log(low_on), per_beat, slow_dense])


def tempo_levels(*, onset_env: np.ndarray, low_env: np.ndarray, fps: float, bpm: float,
                 rate: float | None = None) -> list[tuple[float, np.ndarray]]:
    """(bpm, features) of ``bpm`` (the autocorrelation's winner) and each relative in
    :data:`LEVELS` within the candidate range: :func:`level_features` and whether it is the
    winner (the model moves away from it only on evidence)."""
    o = onset_env.astype(np.float64) - float(np.mean(onset_env))
    acf = _acf(o, fps)
    lo = low_env.astype(np.float64) - float(np.mean(low_env))
    low_acf = _acf(lo, fps)
    rate = onset_rate(onset_env, fps) if rate is None else rate
    return [(bpm * f, np.append(level_features(onset_env=onset_env, low_env=low_env, fps=fps,
                                               bpm=bpm * f, acf=acf, low_acf=low_acf,
                                               rate=rate), float(f == 1.0)))
            for f in LEVELS if _TEMPO_MIN <= bpm * f <= _TEMPO_MAX]


@dataclass(frozen=True)
class TempoEstimate:
    """``bpm`` the tapped beat (0: no pulse); ``alt_bpm`` the runner-up level (None: none);
    ``confidence`` the calibrated probability that ``bpm`` is within 4 % of the tapped tempo;
    ``pulse`` pulse clarity, ``regularity`` its steadiness, ``lag`` the beat period in frames."""

    bpm: float
    alt_bpm: float | None
    confidence: float
    pulse: float
    regularity: float
    lag: float


def choose_tempo(*, onset_env: np.ndarray, low_env: np.ndarray, fps: float,
                 rate: float | None = None) -> TempoEstimate:
    """:func:`estimate_tempo`, then the tapped level among its relatives (when the level model
    is there) and a calibrated confidence. ``rate``: :func:`onset_rate` of ``onset_env`` when
    the caller has detected the onsets already (computed here otherwise)."""
    bpm, pulse, regularity, lag = estimate_tempo(onset_env=onset_env, fps=fps)
    if bpm <= 0:
        return TempoEstimate(0.0, None, 0.0, pulse, regularity, lag)
    model = tempo_level_model()
    if model is None or model[2] != LEVEL_FEATURES or model[0].size != len(LEVEL_FEATURES):
        if model is not None:
            log.warning("the tempo level model was fitted on other features (%d weights, "
                        "%d features): not used", model[0].size, len(LEVEL_FEATURES))
        return TempoEstimate(bpm, None, pulse, pulse, regularity, lag)
    coef, intercept, _ = model
    levels = tempo_levels(onset_env=onset_env, low_env=low_env, fps=fps, bpm=bpm, rate=rate)
    b1, alt, p1 = rank_levels([b for b, _ in levels], np.array([x for _, x in levels]), coef,
                              intercept)
    # calibrated on rendered music, which always has a pulse: scaled down where the pulse is
    # unclear (noise, drones), whose "tempo" nobody would tap
    confidence = calibrated("tempo_confidence", confidence_evidence(p1), default=p1) \
        * clip01(pulse / _CLEAR_PULSE)
    return TempoEstimate(float(b1), alt, confidence, pulse, regularity, 60.0 * fps / b1)


def rank_levels(bpms: list[float], features: np.ndarray, coef: np.ndarray, intercept: float
                ) -> tuple[float, float | None, float]:
    """(chosen bpm, runner-up or None, the chosen level's probability): a softmax over the
    candidates' linear scores ``features @ coef + intercept`` (the level model is a conditional
    logit: exactly one candidate is the tapped beat)."""
    z = features @ coef + intercept
    p = np.exp(z - z.max())
    p /= p.sum()
    order = np.argsort(-p, kind="stable")
    alt = float(bpms[order[1]]) if len(bpms) > 1 else None
    return float(bpms[order[0]]), alt, float(p[order[0]])


def confidence_evidence(p1: float) -> float:
    """The raw evidence the tempo confidence is calibrated from: the log-odds of the chosen
    level's softmax probability."""
    p = min(max(p1, 1e-6), 1.0 - 1e-6)
    return math.log(p / (1.0 - p))
