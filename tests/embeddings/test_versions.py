"""The versions (covers) embedding on synthesised scores whose versions are known by
construction: the same score played with other timbres, transposed and faster finds itself."""

from __future__ import annotations

import numpy as np
import pytest

from songlens.embeddings.versions import VERSIONS_DIM, tuning, versions_vector

SR = 16000
ONE, FOUR, FIVE, SIX = (0, 4, 7), (5, 9, 12), (7, 11, 14), (9, 12, 16)  # C: I IV V vi
PROGRESSIONS = ((ONE, FIVE, SIX, FOUR), (ONE, FOUR, FIVE, ONE), (ONE, SIX, FOUR, FIVE))


def score(seed: int) -> list[tuple[float, float, int]]:
    """(start beat, beats, MIDI note): 8 bars of 4/4 in C major, a progression and a melody of
    its own (a seeded walk on the scale)."""
    rng = np.random.default_rng(seed)
    scale = (0, 2, 4, 5, 7, 9, 11)
    notes, pos = [], 7
    for bar in range(8):
        for n in PROGRESSIONS[seed][bar % 4]:
            notes.append((4.0 * bar, 4.0, 60 + n))
        notes.append((4.0 * bar, 1.0, 48 + PROGRESSIONS[seed][bar % 4][0]))
        notes.append((4.0 * bar + 2, 1.0, 48 + PROGRESSIONS[seed][bar % 4][0]))
        for half in range(8):
            pos = int(np.clip(pos + rng.choice([-2, -1, 1, 2]), 0, 13))
            notes.append((4.0 * bar + 0.5 * half, 0.5, 72 + scale[pos % 7] + 12 * (pos // 7)))
    return notes


def play(notes, *, bpm: float, shift: int, harmonics: tuple[float, ...], decay: float,
         drums: bool) -> np.ndarray:
    """Additive synthesis: each note a sum of ``harmonics`` with an exponential ``decay``."""
    beat = 60.0 / bpm
    y = np.zeros(int((32 * beat + 1) * SR))
    for start, dur, note in notes:
        t = np.arange(int(dur * beat * SR)) / SR
        f0 = 440.0 * 2 ** ((note + shift - 69) / 12)
        tone = sum(a * np.sin(2 * np.pi * f0 * (k + 1) * t) for k, a in enumerate(harmonics)
                   if f0 * (k + 1) < SR / 2)
        i = int(start * beat * SR)
        y[i:i + t.size] += 0.1 * tone * np.exp(-t / decay)
    if drums:
        rng = np.random.default_rng(0)
        hit = rng.normal(size=int(0.05 * SR)) * np.exp(-np.arange(int(0.05 * SR)) / 200.0)
        for b in range(32):
            i = int(b * beat * SR)
            y[i:i + hit.size] += 0.3 * hit
    return (y / np.max(np.abs(y)) * 0.8).astype(np.float32)


@pytest.fixture(scope="module")
def renderings() -> dict[str, np.ndarray]:
    """Scores 0–2 as written (sine-like, 100 BPM, drums) and scores 0–1 as another version
    (brighter and sustained, +3 semitones, 12 % faster, no drums)."""
    out = {}
    for s in range(3):
        out[f"{s}a"] = versions_vector(y=play(score(s), bpm=100, shift=0, harmonics=(1, 0.3),
                                              decay=0.8, drums=True), sr=SR)
    for s in range(2):
        out[f"{s}b"] = versions_vector(y=play(score(s), bpm=112, shift=3,
                                              harmonics=(1, 0.5, 0.25, 0.1), decay=2.0,
                                              drums=False), sr=SR)
    return out


def test_vectors_are_unit_length(renderings):
    for v in renderings.values():
        assert v.shape == (VERSIONS_DIM,)
        assert np.isfinite(v).all()
        assert abs(float(np.linalg.norm(v)) - 1.0) < 1e-4


def test_other_version_is_nearest(renderings):
    for s in range(2):
        a, b = renderings[f"{s}a"], renderings[f"{s}b"]
        others = [k for k in renderings if not k.startswith(str(s))]
        assert all(float(a @ b) > float(a @ renderings[k]) for k in others), s
        assert all(float(b @ a) > float(b @ renderings[k]) for k in others), s


def test_silence_has_no_direction():
    v = versions_vector(y=np.zeros(SR * 3, dtype=np.float32), sr=SR)
    assert v.shape == (VERSIONS_DIM,) and not np.any(v)


def test_tuning_in_blocks_is_librosas_estimate_over_the_whole_track():
    import librosa

    sr = 16000
    rng = np.random.default_rng(4)
    t = np.arange(int(sr * 150)) / sr  # 150 s: three blocks, the last one short
    notes = 440 * 2 ** ((rng.integers(-12, 12, size=60) + 0.3) / 12)  # 30 cents sharp
    y = np.concatenate([np.sin(2 * np.pi * f * t[: t.size // 60]) for f in notes])
    y = (0.5 * y + 0.01 * rng.normal(size=y.size)).astype(np.float32)
    whole = librosa.estimate_tuning(y=y, sr=sr, bins_per_octave=36)
    assert tuning(y, sr) == pytest.approx(whole, abs=1e-9)
    assert whole == pytest.approx(-0.1, abs=0.05)  # 0.3 semitone = 0.9 of a 36-per-octave bin


def test_chroma_in_blocks_is_librosas_chroma_over_the_whole_track(monkeypatch, renderings):
    import librosa

    import songlens.embeddings.versions as versions

    y = play(score(1), bpm=90, shift=2, harmonics=(1, 0.5, 0.25), decay=2.0, drums=True)
    y = np.concatenate([y, y[::-1]])  # ~45 s: five blocks of 256 frames
    # a little noise: a silent frame's chroma is its rounding errors, scaled to a maximum of 1
    y = (y + 0.01 * np.random.default_rng(2).normal(size=y.size)).astype(np.float32)
    whole = librosa.feature.chroma_cqt(y=y, sr=SR, hop_length=512, n_octaves=6,
                                       fmin=float(librosa.note_to_hz("C2")), tuning=tuning(y, SR))
    monkeypatch.setattr(versions, "_CHROMA_BLOCK", 256)
    got = versions.chroma(y, SR)
    assert got.shape == whole.shape
    assert np.abs(got - whole).max() < 1e-3


def test_beat_tempo_in_blocks_is_librosas_tempo_over_the_whole_track(monkeypatch):
    import librosa

    import songlens.embeddings.versions as versions

    rng = np.random.default_rng(9)
    env = 0.2 * rng.gamma(1.0, size=3000)
    env[::16] += 5.0  # a pulse: 16 frames at 16 kHz and hop 512 is 117.2 BPM
    monkeypatch.setattr(versions, "_BLOCK", 700)  # five blocks, the last one short
    whole = librosa.feature.tempo(onset_envelope=env, sr=SR, hop_length=512)[0]
    assert versions.beat_tempo(env, SR) == pytest.approx(whole, rel=1e-9)
    assert whole == pytest.approx(117.2, rel=0.03)
