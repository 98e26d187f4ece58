"""Audio features on synthetic signals whose answers are known by construction."""

from __future__ import annotations

import json
from dataclasses import fields

import numpy as np
import pytest

from songlens.content.features import (
    FEATURE_DOCS,
    KEY_NAMES,
    AudioFeatures,
    audio_features,
    camelot_code,
    camelot_step,
)
from songlens.content.features.tonal import parse_key
from songlens.errors import AudioTooShort, EmptyAudio, InvalidInput

SR = 16000


@pytest.fixture()
def rng() -> np.random.Generator:
    return np.random.default_rng(1234)


def _drums(bpm: float, seconds: float = 16.0, seed: int = 0) -> np.ndarray:
    """A rock groove: kick on 1 and 3, snare on 2 and 4, closed hi-hat on every eighth note."""
    rng = np.random.default_rng(seed)
    y = np.zeros(int(seconds * SR), dtype=np.float64)
    t = np.arange(int(0.2 * SR)) / SR
    kick = np.sin(2 * np.pi * (50 + 100 * np.exp(-t * 30)) * t) * np.exp(-t * 18)
    snare = rng.standard_normal(t.size) * np.exp(-t * 25) * 0.6
    hat = rng.standard_normal(t.size) * np.exp(-t * 120) * 0.25
    hat = np.diff(hat, prepend=0.0)  # high-passed noise
    beat = 60.0 / bpm
    n_beats = int(seconds / beat)
    for b in range(n_beats):
        for sub, sound in ((0.0, kick if b % 2 == 0 else snare), (0.0, hat), (0.5, hat)):
            i = int(round((b + sub) * beat * SR))
            j = min(y.size, i + t.size)
            y[i:j] += sound[: j - i]
    return (0.5 * y / np.abs(y).max()).astype(np.float32)


def _clicks(bpm: float, seconds: float = 16.0) -> np.ndarray:
    y = np.zeros(int(seconds * SR), dtype=np.float32)
    t = np.arange(int(0.03 * SR)) / SR
    click = (np.sin(2 * np.pi * 1500 * t) * np.exp(-t * 200)).astype(np.float32)
    k = 0
    while (i := int(round(k * 60.0 / bpm * SR))) + click.size < y.size:
        y[i : i + click.size] += 0.5 * click
        k += 1
    return y


def _tone(midi: int, seconds: float, amp: float = 0.1) -> np.ndarray:
    """A harmonic tone (6 partials, 1/k amplitudes) with a piano-like decay."""
    t = np.arange(int(seconds * SR)) / SR
    f0 = 440.0 * 2 ** ((midi - 69) / 12)
    x = sum(np.sin(2 * np.pi * k * f0 * t) / k for k in range(1, 7) if k * f0 < SR / 2)
    return amp * x * np.exp(-t * 1.5)


def _progression(tonic: int, mode: str, *, repeats: int = 3) -> np.ndarray:
    """Chord progression with a bass line and a scale melody, in ``tonic`` (pitch class) ``mode``.

    Major: I–IV–V–I. Minor: i–iv–V–i (harmonic minor: the V chord is major).
    """
    root = 48 + tonic  # bass register
    if mode == "major":
        chords = [(0, 4, 7), (5, 9, 12), (7, 11, 14), (0, 4, 7)]
        scale = [0, 2, 4, 5, 7, 9, 11, 12]
    else:
        chords = [(0, 3, 7), (5, 8, 12), (7, 11, 14), (0, 3, 7)]
        scale = [0, 2, 3, 5, 7, 8, 10, 12]
    pieces = []
    for _ in range(repeats):
        for n, chord in enumerate(chords):
            seg = sum(_tone(root + 12 + iv, 1.0) for iv in chord)
            seg = seg + _tone(root + chord[0] - (12 if chord[0] >= 5 else 0), 1.0, amp=0.15)
            mel = np.concatenate([_tone(root + 24 + scale[(2 * n + k) % 8], 0.5, amp=0.06)
                                  for k in range(2)])
            pieces.append(seg + mel)
    y = np.concatenate(pieces)
    return (0.5 * y / np.abs(y).max()).astype(np.float32)


def _speech_like(seconds: float = 10.0) -> np.ndarray:
    """A gliding harmonic voice (f0 115-165 Hz) in 4 Hz syllables, with pauses between phrases."""
    t = np.arange(int(seconds * SR)) / SR
    phase = 2 * np.pi * np.cumsum(140 + 25 * np.sin(2 * np.pi * 0.7 * t)) / SR
    voice = sum(np.sin(k * phase) / k for k in range(1, 20))
    syllables = np.clip(np.sin(2 * np.pi * 4 * t), 0, None) ** 2
    phrases = (np.sin(2 * np.pi * 0.4 * t) > -0.3).astype(float)
    return (0.3 * voice * syllables * phrases / np.abs(voice).max()).astype(np.float32)


def _sine(freq: float, seconds: float, amp: float) -> np.ndarray:
    t = np.arange(int(seconds * SR)) / SR
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)


# --- tempo ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("bpm", [90, 120, 150])
def test_tempo_of_drum_groove(bpm: float) -> None:
    f = audio_features(y=_drums(bpm), sr=SR)
    assert abs(f.tempo_bpm - bpm) / bpm < 0.04, f.tempo_bpm
    assert f.tempo_confidence > 0.3


@pytest.mark.parametrize("bpm", [84, 132, 172])
def test_tempo_of_click_track(bpm: float) -> None:
    f = audio_features(y=_clicks(bpm), sr=SR)
    assert abs(f.tempo_bpm - bpm) / bpm < 0.04, f.tempo_bpm


def test_noise_has_no_clear_pulse(rng: np.random.Generator) -> None:
    noise = (0.1 * rng.standard_normal(SR * 10)).astype(np.float32)
    steady = audio_features(y=noise, sr=SR)
    groove = audio_features(y=_drums(120), sr=SR)
    assert steady.tempo_confidence < 0.3 < groove.tempo_confidence
    assert steady.danceability < groove.danceability


# --- key -----------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("tonic", "mode"),
    [("C", "major"), ("A", "minor"), ("G", "major"), ("F#", "minor"), ("D#", "major"),
     ("E", "minor")],
)
def test_key_and_mode_of_progression(tonic: str, mode: str) -> None:
    f = audio_features(y=_progression(KEY_NAMES.index(tonic), mode), sr=SR)
    assert (f.key, f.mode) == (tonic, mode)
    assert f.key_pitch_class == KEY_NAMES.index(tonic)
    assert f.camelot == camelot_code(key=tonic, mode=mode)
    assert 0.0 < f.key_confidence <= 1.0


@pytest.mark.parametrize(
    ("key", "mode", "code"),
    [("C", "major", "8B"), ("A", "minor", "8A"), ("G", "major", "9B"), ("E", "major", "12B"),
     ("F#", "major", "2B"), ("D#", "minor", "2A"), ("C", "minor", "5A"), ("F", "major", "7B"),
     ("C#", "minor", "12A")],
)
def test_camelot_codes(key: str, mode: str, code: str) -> None:
    assert camelot_code(key=key, mode=mode) == code


@pytest.mark.parametrize(("text", "codes"), [
    ("A minor", ("8A",)), ("Am", ("8A",)), ("a min", ("8A",)), ("C# major", ("3B",)),
    ("Db major", ("3B",)), ("Bbm", ("3A",)), ("E Major", ("12B",)), ("AM", ("11B",)),
    ("A", ("11B", "8A")), ("8A", ("8A",)), (" 12b ", ("12B",))])
def test_parse_key(text: str, codes: tuple[str, ...]) -> None:
    assert parse_key(text) == codes


@pytest.mark.parametrize("text", ["H", "8C", "13A", "A dorian", "", "C##"])
def test_parse_key_refuses_what_is_not_a_key(text: str) -> None:
    with pytest.raises(InvalidInput, match="Camelot code"):
        parse_key(text)


@pytest.mark.parametrize(("a", "b", "step"), [
    ("8A", "9A", 1), ("8A", "7A", 1), ("12B", "1B", 1), ("8A", "8B", 1), ("8A", "10A", 2),
    ("8A", "9B", 2), ("8A", "8A", 0), ("11B", "11B", 0),
    (None, "8A", 2), ("8A", None, 2), ("", "8A", 2), ("XA", "8A", 2), ("8", "8A", 2),
])
def test_camelot_step(a: str | None, b: str | None, step: int) -> None:
    assert camelot_step(a, b) == step
    assert camelot_step(b, a) == step


def test_camelot_step_of_relative_and_fifth_related_keys() -> None:
    c_major, a_minor = camelot_code(key="C", mode="major"), camelot_code(key="A", mode="minor")
    g_major, f_major = camelot_code(key="G", mode="major"), camelot_code(key="F", mode="major")
    assert camelot_step(c_major, a_minor) == 1  # relative major/minor
    assert camelot_step(c_major, g_major) == camelot_step(c_major, f_major) == 1  # a fifth apart
    assert camelot_step(c_major, camelot_code(key="D", mode="major")) == 2


def test_camelot_rejects_unknown_names() -> None:
    with pytest.raises(InvalidInput, match="unknown key 'H'"):
        camelot_code(key="H", mode="major")
    with pytest.raises(InvalidInput, match="unknown mode 'dorian'"):
        camelot_code(key="C", mode="dorian")


# --- loudness, energy, brightness -----------------------------------------------------------------
def test_loudness_of_full_scale_sine_matches_bs1770() -> None:
    # BS.1770: a 0 dBFS 1 kHz sine in one channel reads -3.01 LUFS (mean square 0.5; the K filter
    # is ~+0.69 dB at 1 kHz, cancelled by the -0.691 constant). At 16 kHz the bilinear K filter
    # is a few hundredths of a dB off that.
    f = audio_features(y=_sine(1000.0, 5.0, 1.0), sr=SR)
    assert f.loudness_db == pytest.approx(-3.01, abs=0.1)
    quieter = audio_features(y=_sine(1000.0, 5.0, 0.1), sr=SR)
    assert f.loudness_db - quieter.loudness_db == pytest.approx(20.0, abs=0.05)
    assert f.dynamic_range_db == pytest.approx(0.0, abs=0.1)


def test_short_clip_loudness_is_measured_as_one_block() -> None:
    long = audio_features(y=_sine(1000.0, 2.0, 0.5), sr=SR)
    short = audio_features(y=_sine(1000.0, 0.25, 0.5), sr=SR)
    assert short.duration_s == pytest.approx(0.25)
    assert short.loudness_db == pytest.approx(long.loudness_db, abs=0.3)
    assert short.dynamic_range_db is None


def test_louder_clip_has_higher_loudness_and_energy() -> None:
    y = _drums(120)
    soft = audio_features(y=0.1 * y, sr=SR)
    loud = audio_features(y=y, sr=SR)
    assert loud.loudness_db == pytest.approx(soft.loudness_db + 20.0, abs=0.1)
    assert loud.energy > soft.energy


def test_noise_is_brighter_than_low_sine(rng: np.random.Generator) -> None:
    noise = audio_features(y=(0.1 * rng.standard_normal(SR * 3)).astype(np.float32), sr=SR)
    low = audio_features(y=_sine(110.0, 3.0, 0.3), sr=SR)
    assert noise.brightness > 0.9
    assert low.brightness < 0.1
    assert low.spectral_centroid_hz == pytest.approx(110.0, rel=0.15)


def test_audio_only_speech_and_vocal_heuristics_rank_speech_first() -> None:
    speech = audio_features(y=_speech_like(), sr=SR)
    music = audio_features(y=_progression(0, "major"), sr=SR)
    drums = audio_features(y=_drums(120), sr=SR)
    assert speech.speechiness_source == speech.vocal_source == "audio"
    assert speech.speechiness > max(music.speechiness, drums.speechiness) + 0.2
    assert speech.vocal_presence > max(music.vocal_presence, drums.vocal_presence) + 0.2
    assert 0.1 <= min(music.vocal_presence, drums.vocal_presence) <= 0.9


# --- tags ----------------------------------------------------------------------------------------
def test_mood_and_vocal_tags_drive_valence_and_vocals() -> None:
    y = _progression(0, "major", repeats=1)
    happy = audio_features(y=y, sr=SR, tag_probs={"happy": 0.6, "sad": 0.05, "vocal": 0.8,
                                                  "no vocals": 0.1})
    sad = audio_features(y=y, sr=SR, tag_probs={"happy": 0.05, "sad": 0.6, "instrumental": 0.9,
                                                "vocal": 0.05})
    assert happy.valence > 0.6 > 0.4 > sad.valence
    assert happy.valence_source == "tags+audio"
    assert happy.vocal_source == "tags"
    assert happy.vocal_presence > 0.8 and sad.instrumentalness > 0.8
    plain = audio_features(y=y, sr=SR)
    assert plain.valence_source == "audio" and plain.vocal_source == "audio"


def test_acoustic_and_speech_tags() -> None:
    y = _progression(0, "major", repeats=1)
    acoustic = audio_features(y=y, sr=SR, tag_probs={"acoustic": 0.7, "electronic": 0.05,
                                                     "Hip-Hop": 0.05})
    electronic = audio_features(y=y, sr=SR, tag_probs={"acoustic": 0.02, "techno": 0.8,
                                                       "Hip-Hop": 0.9})
    assert acoustic.acousticness > 0.8 > 0.2 > electronic.acousticness
    assert electronic.speechiness > acoustic.speechiness
    assert electronic.speechiness_source == "tags"


@pytest.mark.parametrize("bad", [{"sad": 1.5}, {"sad": float("nan")}, {"sad": "high"}])
def test_bad_tag_probabilities_are_rejected(bad: dict) -> None:
    with pytest.raises(InvalidInput, match="tag_probs\\['sad'\\]"):
        audio_features(y=_sine(440.0, 1.0, 0.3), sr=SR, tag_probs=bad)


# --- robustness ----------------------------------------------------------------------------------
def test_silence_and_near_silence_do_not_crash(rng: np.random.Generator) -> None:
    zeros = audio_features(y=np.zeros(SR * 2, dtype=np.float32), sr=SR)
    assert zeros.key is None and zeros.camelot is None and zeros.key_pitch_class == -1
    assert zeros.tempo_bpm == 0.0 and zeros.loudness_db == -70.0
    hiss = audio_features(y=(1e-5 * rng.standard_normal(SR * 2)).astype(np.float32), sr=SR)
    for f in (zeros, hiss):
        d = f.to_dict()
        json.dumps(d, allow_nan=False)
        for name in ("energy", "danceability", "valence", "acousticness", "speechiness",
                     "brightness", "vocal_presence", "instrumentalness"):
            assert 0.0 <= d[name] <= 1.0


def test_deterministic() -> None:
    y = _drums(100, seconds=8.0) + 0.5 * _progression(2, "major", repeats=2)[: 8 * SR]
    assert audio_features(y=y, sr=SR).to_dict() == audio_features(y=y.copy(), sr=SR).to_dict()


def test_to_dict_is_json_ready_and_documented() -> None:
    f = audio_features(y=_drums(120, seconds=6.0), sr=SR)
    d = f.to_dict()
    assert json.loads(json.dumps(d, allow_nan=False)) == d
    names = {fl.name for fl in fields(AudioFeatures)}
    assert set(d) == names
    assert names <= set(FEATURE_DOCS), sorted(names - set(FEATURE_DOCS))
    assert all(len(text) > 20 for text in FEATURE_DOCS.values())


@pytest.mark.parametrize(
    ("kwargs", "exc", "match"),
    [
        ({"y": np.zeros((2, SR), np.float32)}, InvalidInput, "mono"),
        ({"y": np.zeros(0, np.float32)}, EmptyAudio, "no samples"),
        ({"y": np.zeros(SR, np.int16)}, InvalidInput, "dtype int16"),
        ({"y": np.full(SR, np.nan, np.float32)}, InvalidInput, "NaN"),
        ({"y": np.zeros(800, np.float32)}, AudioTooShort, "0.050 s"),
        ({"y": [0.0] * SR}, InvalidInput, "numpy array"),
        ({"y": np.zeros(SR, np.float32), "sr": 100}, InvalidInput, "got 100"),
        ({"y": np.zeros(SR, np.float32), "key_profile": "bach"}, InvalidInput, "'bach'"),
    ],
)
def test_bad_input_is_rejected(kwargs: dict, exc: type, match: str) -> None:
    with pytest.raises(exc, match=match):
        audio_features(**kwargs)
