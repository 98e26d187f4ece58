"""The ``versions`` embedding: what a song's other versions (covers, re-recordings, the same
score played on other instruments, in another key or at another tempo) share with it.

Timbre-blind, key-invariant and tempo-invariant by construction, after Bertin-Mahieux & Ellis
(2012), "Large-scale cover song recognition using the 2D Fourier transform magnitude":

1. constant-Q chroma (``librosa.feature.chroma_cqt``), so the instruments barely matter;
2. beat-synchronous (``librosa.beat.beat_track`` + ``librosa.util.sync``, median per beat), so a
   faster or slower performance gives the same sequence of beats;
   at a canonical metrical level: every other beat while the beat rate is 140 BPM or more,
   half beats while it is under 70 BPM, so a version the beat tracker follows at double time
   still lines up;
3. patches of :data:`PATCH_BEATS` beats, each column scaled to a maximum of 1 and raised to a
   power (sharpens the dominant pitch classes);
4. the 2D Fourier transform magnitude of each patch: a transposition is a circular shift along
   the chroma axis and an offset in the song a shift along the beat axis, and a shift only
   changes the phase; the median over patches, L2-normalised;
5. beside it, a part that keeps pitch identity: the chroma rotated to its best-fitting major key
   (any key: a transposed version rotates back to the same place), the 1D Fourier magnitude of
   each pitch class over each patch, median over patches, L2-normalised.

The two parts are concatenated with weights √0.7 and √0.3 (cosine = 0.7·cos(2D) + 0.3·cos(1D));
the choices (canonical level, patch length, no log, the weights) were measured on the tuning
scores of ``benchmarks/covers.py`` (seed 1). Nothing is trained; the same samples always give the
same vector.

Cosine between two such vectors is the versions-space similarity. Nothing is trained; the same
samples always give the same vector.
"""

from __future__ import annotations

import librosa
import numpy as np

from songlens.content.features.common import magnitude_blocks
from songlens.content.features.tonal import KEY_PROFILES

__all__ = ["PATCH_BEATS", "VERSIONS_DIM", "beat_chroma", "beat_tempo", "chroma", "onset_envelope",
           "tuning", "versions_vector"]

#: beats per patch (Bertin-Mahieux & Ellis use 75 on whole songs; 24 suits 30 s clips too)
PATCH_BEATS = 24
#: chroma power after per-beat max-normalisation
POWER = 1.96
#: canonical beat rate range, BPM: [LEVEL_LO, 2 × LEVEL_LO)
LEVEL_LO = 70.0
#: weight of the 2D (key-free) part; the key-rotated 1D part gets the rest
WEIGHT_2D = 0.7
_BINS = PATCH_BEATS // 2 + 1
#: the vector's length: two parts of 12 pitch classes × the non-negative beat frequencies
VERSIONS_DIM = 2 * 12 * _BINS
_HOP = 512
#: frames per block of the tuning estimate, the onset envelope (STFT frames, ~65 s at 16 kHz)
#: and the beat tracker's tempogram (onset frames)
_BLOCK = 2048
#: chroma frames per block, and the frames on each side a block reads but does not keep: more
#: than half the longest constant-Q filter (C2 at 36 bins per octave: ~25 frames at 16 kHz)
_CHROMA_BLOCK, _CHROMA_MARGIN = 4096, 96
_MAJOR = np.asarray(KEY_PROFILES["albrecht"][0])


def _canonical_beats(beats: np.ndarray, bpm: float) -> np.ndarray:
    """Beat frames at a rate in [LEVEL_LO, 2 × LEVEL_LO) BPM (every other beat / half beats)."""
    beats = np.asarray(beats, dtype=int)
    while bpm >= 2 * LEVEL_LO and beats.size > 8:
        beats, bpm = beats[::2], bpm / 2
    while 0 < bpm < LEVEL_LO and beats.size > 1:
        mids = (beats[:-1] + beats[1:]) // 2
        beats, bpm = np.sort(np.concatenate([beats, mids])), bpm * 2
    return beats


def tuning(y: np.ndarray, sr: int) -> float:
    """The recording's deviation from A440 in fractions of a chroma_cqt bin: librosa's
    ``estimate_tuning`` as ``chroma_cqt`` calls it, over the same STFT frames, but a block of
    frames at a time (its pitch tracking is frame by frame; only the magnitude threshold, a
    median, is over the whole track). In one call it peaked at 1.2 GB on a 20-minute track."""
    n_fft = 2048  # estimate_tuning's
    pitches, mags = [], []
    for _, S in magnitude_blocks(y, n_fft=n_fft, hop=n_fft // 4, block=_BLOCK):
        pitch, mag = librosa.piptrack(S=S, sr=sr, n_fft=n_fft)
        keep = pitch > 0
        pitches.append(pitch[keep])
        mags.append(mag[keep])
    pitch, mag = np.concatenate(pitches), np.concatenate(mags)
    threshold = np.median(mag) if mag.size else 0.0
    return float(librosa.pitch_tuning(pitch[mag >= threshold], resolution=0.01,
                                      bins_per_octave=36))


def onset_envelope(y: np.ndarray, sr: int) -> np.ndarray:
    """librosa's onset strength as ``beat_track(y=...)`` computes it (log-mel spectral flux,
    median over bands, at :data:`_HOP`), from a mel spectrogram built a block of frames at a
    time."""
    n_fft = 2048
    basis = librosa.filters.mel(sr=sr, n_fft=n_fft)
    mel = np.concatenate([np.einsum("ft,mf->mt", np.square(S), basis, optimize=True)
                          for _, S in magnitude_blocks(y, n_fft=n_fft, hop=_HOP, block=_BLOCK)],
                         axis=1)
    return librosa.onset.onset_strength(S=librosa.power_to_db(mel), sr=sr, hop_length=_HOP,
                                        aggregate=np.median)


def chroma(y: np.ndarray, sr: int) -> np.ndarray:
    """``librosa.feature.chroma_cqt`` at :data:`_HOP` from C2 over six octaves, computed a block
    of frames at a time with a margin on each side (each frame is normalised alone, and each
    constant-Q filter is shorter than the margin). In one call its top octave's STFT alone took
    about 300 MB for a 20-minute track."""
    t = tuning(y, sr)
    frames = 1 + len(y) // _HOP
    out = []
    for start in range(0, frames, _CHROMA_BLOCK):
        lo = max(0, start - _CHROMA_MARGIN)
        hi = min(frames, start + _CHROMA_BLOCK + _CHROMA_MARGIN)
        seg = y[lo * _HOP:] if hi == frames else y[lo * _HOP:hi * _HOP]
        c = librosa.feature.chroma_cqt(y=seg, sr=sr, hop_length=_HOP, n_octaves=6,
                                       fmin=float(librosa.note_to_hz("C2")), tuning=t)
        out.append(c[:, start - lo:start - lo + min(_CHROMA_BLOCK, frames - start)])
    return np.concatenate(out, axis=1)


def beat_tempo(env: np.ndarray, sr: int) -> float:
    """The tempo ``beat_track`` estimates when given none (``librosa.feature.tempo``: the mean
    of the autocorrelation tempogram over 8 s windows, under its prior), with the tempogram
    summed a block of frames at a time. In one call the tempogram of a 20-minute track took
    about 300 MB."""
    win = int(librosa.time_to_frames(8.0, sr=sr, hop_length=_HOP))  # tempo()'s ac_size
    n = env.shape[-1]
    padded = np.pad(env, win // 2, mode="linear_ramp", end_values=[0, 0])  # center=True's
    total = np.zeros(win)
    for s in range(0, n, _BLOCK):
        e = min(n, s + _BLOCK)
        total += librosa.feature.tempogram(onset_envelope=padded[s:e + win - 1], sr=sr,
                                           hop_length=_HOP, win_length=win,
                                           center=False).sum(axis=-1)
    return float(librosa.feature.tempo(tg=(total / max(n, 1))[:, None], sr=sr,
                                       hop_length=_HOP)[0])


def beat_chroma(*, y: np.ndarray, sr: int) -> np.ndarray:
    """Beat-synchronous constant-Q chroma at the canonical metrical level [shape=(12, beats)],
    C first."""
    chroma_ = chroma(y, sr)
    env = onset_envelope(y, sr)
    tempo, beats = librosa.beat.beat_track(onset_envelope=env, sr=sr, hop_length=_HOP,
                                           bpm=beat_tempo(env, sr), units="frames")
    bpm = float(np.atleast_1d(tempo)[0])
    if len(beats) < 4 or bpm <= 0:  # no pulse: half-second frames
        beats = np.arange(0, chroma_.shape[1], max(1, int(0.5 * sr / _HOP)))
    else:
        beats = _canonical_beats(beats, bpm)
    return librosa.util.sync(chroma_, beats, aggregate=np.median)


def _patches(bc: np.ndarray) -> np.ndarray:
    """Overlapping patches [shape=(patches, 12, PATCH_BEATS)] (short audio repeated to fill
    one)."""
    n = bc.shape[1]
    if n < PATCH_BEATS:
        bc = np.tile(bc, (1, int(np.ceil(PATCH_BEATS / max(n, 1)))))[:, :PATCH_BEATS]
        n = PATCH_BEATS
    return np.stack([bc[:, s:s + PATCH_BEATS] for s in range(n - PATCH_BEATS + 1)])


def _unit(v: np.ndarray) -> np.ndarray:
    norm = float(np.linalg.norm(v))
    return v / norm if norm > 0 else v


def versions_vector(*, y: np.ndarray, sr: int) -> np.ndarray:
    """The versions-space vector of mono audio [shape=(VERSIONS_DIM,)], unit length (all zeros
    for silence)."""
    if not np.any(y):
        return np.zeros(VERSIONS_DIM, dtype=np.float32)
    bc = beat_chroma(y=y, sr=sr)
    peak = bc.max(axis=0, keepdims=True)
    bc = np.where(peak > 1e-9, bc / np.maximum(peak, 1e-9), 0.0) ** POWER
    if not np.any(bc):
        return np.zeros(VERSIONS_DIM, dtype=np.float32)
    patches = _patches(bc)
    two_d = np.median(np.abs(np.fft.rfft2(patches, axes=(1, 2))), axis=0).ravel()
    profile = bc.sum(axis=1)
    fit = [float(np.dot(profile - profile.mean(), np.roll(_MAJOR, k) - _MAJOR.mean()))
           for k in range(12)]
    rotated = np.roll(patches, -int(np.argmax(fit)), axis=1)
    one_d = np.median(np.abs(np.fft.rfft(rotated, axis=2)), axis=0).ravel()
    v = np.concatenate([np.sqrt(WEIGHT_2D) * _unit(two_d), np.sqrt(1 - WEIGHT_2D) * _unit(one_d)])
    return _unit(v).astype(np.float32)
