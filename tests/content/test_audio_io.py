"""Decoding what users actually upload: every common container, any sample rate and channel
count, down to 16 kHz mono; long and broken files refused with our own errors."""

from __future__ import annotations

import io
import shutil
import subprocess

import numpy as np
import pytest
import soundfile as sf

from songlens.content.audio_io import decode_audio
from songlens.errors import AudioTooLong, EmptyAudio, SilentAudio, UnsupportedAudio


@pytest.fixture(scope="module")
def stereo_44k(music_clips) -> np.ndarray:
    """A real 10 s recording as 44.1 kHz stereo (left and right slightly different)."""
    import librosa

    y, sr = sf.read(io.BytesIO(music_clips["chaos_god"]), dtype="float32")
    y = librosa.to_mono(y.T) if y.ndim == 2 else y
    y = librosa.resample(y, orig_sr=sr, target_sr=44100)
    return np.stack([y, 0.8 * y], axis=1)


def _encode(y: np.ndarray, sr: int, fmt: str) -> bytes:
    buf = io.BytesIO()
    if fmt == "OGG":
        sf.write(buf, y, sr, format="OGG", subtype="VORBIS")
    else:
        sf.write(buf, y, sr, format=fmt)
    return buf.getvalue()


def _ffmpeg(y: np.ndarray, sr: int, suffix: str, tmp_path) -> bytes:
    if not shutil.which("ffmpeg"):
        pytest.fail("ffmpeg is missing: scripts/setup.sh installs it (m4a/aac decoding needs it)")
    src, dst = tmp_path / "in.wav", tmp_path / f"out{suffix}"
    sf.write(src, y, sr)
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(src), "-b:a", "96k", str(dst)],
                   check=True)
    return dst.read_bytes()


@pytest.mark.parametrize("fmt", ["WAV", "FLAC", "OGG", "MP3"])
def test_common_containers_decode_to_16k_mono(stereo_44k, fmt):
    a = decode_audio(_encode(stereo_44k, 44100, fmt), filename=f"x.{fmt.lower()}")
    assert a.sr == 16000 and a.y.ndim == 1 and a.y.dtype == np.float32
    assert a.source_sr == 44100 and a.source_channels == 2
    assert a.duration_s == pytest.approx(10.0, abs=0.1)  # mp3 adds encoder padding
    assert 0.01 < float(np.sqrt(np.mean(a.y ** 2))) < 1.0


def test_m4a_aac_decodes_through_ffmpeg(stereo_44k, tmp_path):
    data = _ffmpeg(stereo_44k, 44100, ".m4a", tmp_path)
    a = decode_audio(data, filename="song.m4a")
    assert a.sr == 16000 and a.source_channels == 2
    assert a.duration_s == pytest.approx(10.0, abs=0.1)


def test_the_same_file_always_gives_the_same_samples_and_hash(stereo_44k):
    pcm = np.round(stereo_44k * 32767).astype(np.int16)
    data = _encode(pcm, 44100, "FLAC")
    a, b = decode_audio(data), decode_audio(data)
    assert np.array_equal(a.y, b.y) and a.content_hash == b.content_hash
    # the same samples in another lossless container keep the hash; other audio does not
    assert decode_audio(_encode(pcm, 44100, "WAV")).content_hash == a.content_hash
    assert decode_audio(_encode(pcm // 2, 44100, "WAV")).content_hash != a.content_hash


@pytest.mark.parametrize("sr", [8000, 22050, 96000])
def test_any_sample_rate_is_resampled(stereo_44k, sr):
    import librosa

    y = librosa.resample(stereo_44k[:, 0], orig_sr=44100, target_sr=sr)
    a = decode_audio(_encode(y, sr, "WAV"))
    assert a.source_sr == sr and a.sr == 16000
    assert a.y.size == pytest.approx(10.0 * 16000, abs=16)


def test_two_hour_file_is_refused_before_decoding(tmp_path):
    path = tmp_path / "two_hours.flac"
    block = np.zeros(8000 * 60, dtype=np.int16)
    block[::97] = 3  # not digital silence, so the encoder does real work
    with sf.SoundFile(path, "w", samplerate=8000, channels=1, format="FLAC") as f:
        for _ in range(120):
            f.write(block)
    with pytest.raises(AudioTooLong, match="7200 s long; the limit is 1200 s"):
        decode_audio(path.read_bytes(), max_duration_s=1200)


def test_broken_input_gets_our_errors(stereo_44k):
    with pytest.raises(EmptyAudio):
        decode_audio(b"")
    with pytest.raises(UnsupportedAudio):
        decode_audio("这不是音频 not audio".encode() * 100, filename="x.mp3")
    flac = _encode(stereo_44k, 44100, "FLAC")
    with pytest.raises(UnsupportedAudio):
        decode_audio(flac[:200], filename="x.flac")  # header only
    with pytest.raises(SilentAudio):
        decode_audio(_encode(np.zeros(16000 * 5, dtype=np.float32), 16000, "WAV"))
