"""The one pass over a track: :func:`measure_signal` (what the samples alone say: it needs no
model, so it can run beside the audio model) and :func:`describe` (the 0–1 descriptors derived
from those measurements and, where given, musicnn tag probabilities); :func:`audio_features` is
the two in one call."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import librosa
import numpy as np
import scipy.signal

from songlens.content.features.calibration import calibrated
from songlens.content.features.common import (
    clip01,
    magnitude_blocks,
    validate_audio,
    validate_tag_probs,
)
from songlens.content.features.loudness import loudness
from songlens.content.features.record import AudioFeatures
from songlens.content.features.tempo import TempoEstimate, choose_tempo
from songlens.content.features.tonal import (
    DEFAULT_KEY_PROFILE,
    KEY_NAMES,
    KEY_PROFILES,
    camelot_code,
    chroma_summary,
    estimate_key,
)
from songlens.errors import InvalidInput

__all__ = ["Measured", "audio_features", "describe", "measure_signal", "syllabic_modulation"]

_BASS_HZ = 200.0  # the band whose onsets (kick, bass) mark the tapped beat
_BRIGHT_LO_HZ, _BRIGHT_HI_HZ = 300.0, 4000.0  # spectral centroid → brightness 0 and 1 (log scale)

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


def _weighted_max(tags: dict[str, float], weights: Mapping[str, float]) -> float | None:
    """Strongest weighted probability among ``weights``' tags; None if none of them is given."""
    vals = [w * tags[t] for t, w in weights.items() if t in tags]
    return max(vals) if vals else None


def _ratio(pos: float, neg: float, eps: float = 0.02) -> float:
    return (pos + eps) / (pos + neg + 2 * eps)


@dataclass(frozen=True)
class Measured:
    """What :func:`measure_signal` measured, before any tag probabilities are used."""

    duration_s: float
    tempo: TempoEstimate
    key: str | None
    key_pitch_class: int
    mode: str | None
    key_confidence: float
    camelot: str | None
    key_r: float  # the best key profile's correlation
    loudness_db: float
    dynamic_range_db: float | None
    loud_term: float  # loudness mapped to 0–1
    energy: float
    danceability: float
    brightness: float
    spectral_centroid_hz: float
    onset_rate: float
    tonal: float  # 1 harmonic … 0 noise-like (spectral flatness)
    syllabic: float  # syllabic-rate modulation, 0–1
    pause_ratio: float


def audio_features(
    *,
    y: np.ndarray,
    sr: int = 16000,
    tag_probs: Mapping[str, float] | None = None,
    key_profile: str = DEFAULT_KEY_PROFILE,
) -> AudioFeatures:
    """Compute track-level features of mono audio: :func:`describe` of :func:`measure_signal`.

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
    validate_tag_probs(tag_probs)  # before the long pass: a bad argument fails at once
    return describe(measure_signal(y=y, sr=sr, key_profile=key_profile), tag_probs)


def measure_signal(*, y: np.ndarray, sr: int = 16000,
                   key_profile: str = DEFAULT_KEY_PROFILE) -> Measured:
    """Everything :func:`audio_features` measures from the samples alone (arguments and errors
    as there)."""
    y = validate_audio(y, sr)
    if key_profile not in KEY_PROFILES:
        raise InvalidInput(f"unknown key_profile {key_profile!r}; expected one of "
                           f"{sorted(KEY_PROFILES)}")
    duration = y.size / float(sr)
    # Loudness first: its meter's filtered copies of the track and the spectrogram below are
    # then never in memory together.
    lufs, lra = loudness(y=y, sr=sr)
    loud_term = clip01((lufs + 40.0) / 34.0)

    # One STFT for everything spectral, a block of frames at a time: only per-frame values
    # (the mel bands, frame and band energies, centroid, flatness) outlive a block.
    n_fft = 1 << int(round(math.log2(0.064 * sr)))
    hop = n_fft // 4
    fps = sr / hop
    freqs = librosa.fft_frequencies(sr=sr, n_fft=n_fft)
    mid = (freqs >= 300) & (freqs <= 3400)  # the band of the vocal/speech heuristics
    basis = librosa.filters.mel(sr=sr, n_fft=n_fft, n_mels=96, fmax=sr / 2)
    frames = 1 + y.size // hop
    mel = np.empty((96, frames), dtype=np.float32)
    frame_energy = np.empty(frames, dtype=np.float32)
    band_energy = np.empty(frames, dtype=np.float32)
    cent_frames, flat_frames = np.empty(frames), np.empty(frames)
    for f0, block in magnitude_blocks(y, n_fft=n_fft, hop=hop):
        at = slice(f0, f0 + block.shape[1])
        power = np.square(block, out=block)
        mel[:, at] = np.einsum("ft,mf->mt", power, basis, optimize=True)
        frame_energy[at] = power.sum(axis=0)
        band_energy[at] = power[mid].sum(axis=0)
        mag = np.sqrt(power)
        cent_frames[at] = (freqs[:, None] * mag).sum(axis=0) / np.maximum(mag.sum(axis=0), 1e-12)
        flat_frames[at] = librosa.feature.spectral_flatness(S=mag + 1e-10)[0]

    # One onset envelope (log-mel spectral flux) for tempo, pulse and onset rate.
    onset_env = librosa.onset.onset_strength(S=librosa.power_to_db(mel), sr=sr, hop_length=hop)
    low = librosa.mel_frequencies(n_mels=96, fmax=sr / 2) < _BASS_HZ
    low_env = librosa.onset.onset_strength(S=librosa.power_to_db(mel[low]), sr=sr,
                                           hop_length=hop)
    del mel
    onsets = librosa.onset.onset_detect(onset_envelope=onset_env, sr=sr, hop_length=hop,
                                        units="frames") if onset_env.max() > 0 else np.array([])
    onset_rate = float(len(onsets)) / duration
    # the level model's onsets per beat count the same onsets (tempo.onset_rate: per frame time)
    tempo = choose_tempo(onset_env=onset_env, low_env=low_env, fps=fps,
                         rate=float(len(onsets)) / (onset_env.size / fps))
    tempo_bpm, pulse, regularity = tempo.bpm, tempo.pulse, tempo.regularity

    # Spectral shape, weighted by frame energy so silence does not count.
    total = float(frame_energy.sum())
    if total > 0:
        centroid = float(np.sum(cent_frames * frame_energy) / total)
        flatness = float(np.sum(flat_frames * frame_energy) / total)
    else:
        centroid, flatness = 0.0, 0.0
    brightness = clip01(math.log(max(centroid, 1e-6) / _BRIGHT_LO_HZ)
                         / math.log(_BRIGHT_HI_HZ / _BRIGHT_LO_HZ))

    # Band envelopes for the vocal/speech heuristics: syllabic-rate modulation.
    syllabic = syllabic_modulation(band_energy=band_energy, fps=fps)
    loud_frames = frame_energy[frame_energy > 0]
    if loud_frames.size:
        ref = np.percentile(loud_frames, 90)
        pause_ratio = float(np.mean(frame_energy < ref * 10 ** (-20 / 10)))
    else:
        pause_ratio = 1.0

    # Key from one constant-Q chroma summary.
    chroma = chroma_summary(y=y, sr=sr)
    key_est = estimate_key(chroma=chroma, profile=key_profile)
    if key_est is None:
        key_name, key_pc, mode, key_conf, camelot, key_r = None, -1, None, 0.0, None, 0.0
    else:
        key_pc, mode, key_margin, key_r = key_est
        key_conf = calibrated("key_confidence", key_margin)
        key_name = KEY_NAMES[key_pc]
        camelot = camelot_code(key=key_name, mode=mode)
    # harmonic (low flatness) vs noise-like (high flatness) spectrum
    tonal = 1.0 - clip01((math.log10(max(flatness, 1e-6)) + 4.0) / 4.0)  # 1e-4 → 1, 1 → 0

    energy = clip01(0.55 * loud_term + 0.25 * min(onset_rate / 8.0, 1.0) + 0.20 * brightness)
    tempo_pref = (math.exp(-0.5 * (math.log2(tempo_bpm / 118.0) / 0.6) ** 2)
                  if tempo_bpm > 0 else 0.0)
    danceability = clip01(0.5 * pulse + 0.2 * regularity + 0.3 * tempo_pref)

    return Measured(
        duration_s=duration, tempo=tempo, key=key_name, key_pitch_class=key_pc, mode=mode,
        key_confidence=key_conf, camelot=camelot, key_r=key_r, loudness_db=lufs,
        dynamic_range_db=lra, loud_term=loud_term, energy=energy, danceability=danceability,
        brightness=brightness, spectral_centroid_hz=centroid, onset_rate=onset_rate, tonal=tonal,
        syllabic=syllabic, pause_ratio=pause_ratio)


def describe(m: Measured, tag_probs: Mapping[str, float] | None = None) -> AudioFeatures:
    """The features of a measured track: the measurements, and the 0–1 descriptors that lean
    on ``tag_probs`` where given (see :func:`audio_features`)."""
    tags = validate_tag_probs(tag_probs)
    tempo_bpm, key_conf, mode, brightness, energy = (m.tempo.bpm, m.key_confidence, m.mode,
                                                     m.brightness, m.energy)
    tonal, syllabic, lra, loud_term, key_r = m.tonal, m.syllabic, m.dynamic_range_db, \
        m.loud_term, m.key_r
    pause_ratio = m.pause_ratio

    # Valence.
    major_ness = 0.5 if mode is None else 0.5 + (0.5 if mode == "major" else -0.5) * key_conf
    tempo_term = clip01((tempo_bpm - 60.0) / 120.0)
    valence_audio = clip01(0.2 + 0.3 * major_ness + 0.2 * tempo_term + 0.15 * brightness
                            + 0.15 * energy)
    pos, neg = _weighted_max(tags, _TAGS_VALENCE_POS), _weighted_max(tags, _TAGS_VALENCE_NEG)
    if pos is not None or neg is not None:
        valence = clip01(0.75 * _ratio(pos or 0.0, neg or 0.0) + 0.25 * valence_audio)
        valence_source = "tags+audio"
    else:
        valence, valence_source = valence_audio, "audio"

    # Vocals.
    voc, novoc = _weighted_max(tags, _TAGS_VOCAL), _weighted_max(tags, _TAGS_NO_VOCAL)
    if voc is not None or novoc is not None:
        vocal_presence, vocal_source = clip01(_ratio(voc or 0.0, novoc or 0.0)), "tags"
    else:
        vocal_presence, vocal_source = 0.1 + 0.8 * syllabic * tonal, "audio"

    # Acousticness.
    aco, ele = _weighted_max(tags, _TAGS_ACOUSTIC), _weighted_max(tags, _TAGS_ELECTRIC)
    if aco is not None or ele is not None:
        acousticness, acousticness_source = clip01(_ratio(aco or 0.0, ele or 0.0)), "tags"
    else:
        dyn_term = clip01((lra or 0.0) / 12.0)
        acousticness = clip01(0.4 * tonal + 0.3 * dyn_term + 0.3 * (1 - loud_term))
        acousticness_source = "audio"

    # Speechiness.
    sp = _weighted_max(tags, _TAGS_SPEECH)
    if sp is not None:
        speechiness, speechiness_source = clip01(sp), "tags"
    else:
        speechiness = clip01((0.5 * pause_ratio + 0.5 * syllabic) * tonal
                              * (1.0 - clip01(key_r)))
        speechiness_source = "audio"

    return AudioFeatures(
        duration_s=m.duration_s,
        tempo_bpm=tempo_bpm,
        tempo_confidence=m.tempo.confidence,
        tempo_alt_bpm=m.tempo.alt_bpm,
        key=m.key,
        key_pitch_class=m.key_pitch_class,
        mode=mode,
        key_confidence=key_conf,
        camelot=m.camelot,
        loudness_db=m.loudness_db,
        dynamic_range_db=lra,
        energy=energy,
        danceability=m.danceability,
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
        spectral_centroid_hz=m.spectral_centroid_hz,
        onset_rate=m.onset_rate,
    )


def syllabic_modulation(*, band_energy: np.ndarray, fps: float) -> float:
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
    return clip01((share - 0.3) / 0.5)
