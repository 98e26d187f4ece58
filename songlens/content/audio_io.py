"""Decode audio bytes or files to 16 kHz mono float32, with clear errors for bad input.

soundfile (libsndfile: wav, flac, ogg/vorbis, opus, mp3) is tried first; anything it cannot read
(m4a/aac, some mp3 variants) falls back to audioread, which uses ffmpeg when it is installed.
"""

from __future__ import annotations

import hashlib
import io
import logging
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import librosa
import numpy as np
import soundfile as sf

from songlens.errors import (
    AudioTooLong,
    AudioTooShort,
    EmptyAudio,
    SilentAudio,
    UnsupportedAudio,
)

__all__ = ["DecodedAudio", "decode_audio", "load_audio_file", "audio_hash", "SAMPLE_RATE"]

log = logging.getLogger(__name__)

SAMPLE_RATE = 16000
#: RMS below this (about -70 dBFS) counts as digital silence.
SILENCE_RMS = 10 ** (-70 / 20)


@dataclass(frozen=True)
class DecodedAudio:
    """Mono float32 samples in [-1, 1] at ``sr`` Hz, plus what we know of the source."""

    y: np.ndarray
    sr: int
    source_sr: int
    source_channels: int
    duration_s: float
    content_hash: str


def audio_hash(y: np.ndarray) -> str:
    """Hash of decoded 16 kHz samples quantised to 16 bit: same audio → same hash, whatever the
    container or tags (a re-tagged file keeps its hash; a re-encoded one does not)."""
    q = np.clip(np.round(np.asarray(y, dtype=np.float32) * 32767.0), -32768, 32767)
    return hashlib.sha256(q.astype("<i2").tobytes()).hexdigest()


def _decode_soundfile(data: bytes, max_s: float) -> tuple[np.ndarray, int, int]:
    with sf.SoundFile(io.BytesIO(data)) as f:
        sr, ch = int(f.samplerate), int(f.channels)
        frames = f.frames
        if frames and frames / sr > max_s:
            raise AudioTooLong(f"audio is {frames / sr:.0f} s long; the limit is {max_s:.0f} s",
                               duration_s=frames / sr, limit_s=max_s)
        limit = int((max_s + 1) * sr)
        y = f.read(frames=limit, dtype="float32", always_2d=True)
    return y.T, sr, ch


def _decode_audioread(data: bytes, suffix: str, max_s: float) -> tuple[np.ndarray, int, int]:
    import audioread

    fd, path = tempfile.mkstemp(suffix=suffix or ".bin")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        with audioread.audio_open(path) as f:
            sr, ch = int(f.samplerate), int(f.channels)
            if f.duration and f.duration > max_s:
                raise AudioTooLong(
                    f"audio is {f.duration:.0f} s long; the limit is {max_s:.0f} s",
                    duration_s=f.duration, limit_s=max_s)
            chunks, total, limit = [], 0, int((max_s + 1) * sr * ch)
            for buf in f:
                a = np.frombuffer(buf, dtype="<i2")
                chunks.append(a)
                total += a.size
                if total > limit:
                    break
        pcm = np.concatenate(chunks) if chunks else np.zeros(0, dtype="<i2")
        pcm = pcm[: (pcm.size // ch) * ch].reshape(-1, ch).T.astype(np.float32) / 32768.0
        return pcm, sr, ch
    finally:
        os.unlink(path)


def decode_audio(
    data: bytes,
    *,
    filename: str = "",
    sr: int = SAMPLE_RATE,
    max_duration_s: float = 1200.0,
    min_duration_s: float = 1.0,
    reject_silence: bool = True,
) -> DecodedAudio:
    """Decode ``data`` to mono float32 at ``sr`` Hz.

    Parameters
    ----------
    data : bytes
        The file's bytes (any container soundfile or ffmpeg reads).
    filename : str
        Used only for its suffix, which helps the ffmpeg fallback.
    max_duration_s, min_duration_s : float
        Limits on the decoded duration, in seconds.
    reject_silence : bool
        Raise :class:`SilentAudio` when the whole track is below -70 dBFS RMS.

    Raises
    ------
    EmptyAudio, UnsupportedAudio, AudioTooLong, AudioTooShort, SilentAudio
    """
    if not data:
        raise EmptyAudio("the audio upload is empty (0 bytes)")
    errors: list[str] = []
    try:
        y, source_sr, ch = _decode_soundfile(data, max_duration_s)
    except AudioTooLong:
        raise
    except Exception as exc:  # noqa: BLE001 - libsndfile raises several types; we try ffmpeg next
        errors.append(f"soundfile: {exc}")
        try:
            y, source_sr, ch = _decode_audioread(data, Path(filename).suffix, max_duration_s)
        except AudioTooLong:
            raise
        except Exception as exc2:  # noqa: BLE001
            errors.append(f"audioread: {type(exc2).__name__}: {exc2}")
            log.info("could not decode %r: %s", filename, "; ".join(errors))
            raise UnsupportedAudio(
                f"could not decode {filename or 'the upload'!r} as audio "
                "(supported: mp3, ogg/vorbis, opus, flac, wav, m4a/aac with ffmpeg)",
                reasons=errors) from exc2
    if y.size == 0 or y.shape[-1] == 0:
        raise UnsupportedAudio(f"{filename or 'the upload'!r} decoded to no samples "
                               "(truncated or corrupt file?)")
    if not np.all(np.isfinite(y)):
        y = np.nan_to_num(y, nan=0.0, posinf=0.0, neginf=0.0)
    mono = np.mean(y, axis=0) if y.shape[0] > 1 else y[0]
    duration = mono.size / float(source_sr)
    if duration > max_duration_s:
        raise AudioTooLong(f"audio is {duration:.0f} s long; the limit is {max_duration_s:.0f} s",
                           duration_s=duration, limit_s=max_duration_s)
    if duration < min_duration_s:
        raise AudioTooShort(f"audio is {duration:.2f} s long; at least {min_duration_s:.1f} s "
                            "is needed", duration_s=duration)
    if source_sr != sr:
        mono = librosa.resample(mono, orig_sr=source_sr, target_sr=sr, res_type="soxr_hq")
    mono = np.clip(mono.astype(np.float32), -1.0, 1.0)
    if reject_silence and float(np.sqrt(np.mean(mono.astype(np.float64) ** 2))) < SILENCE_RMS:
        raise SilentAudio(f"{filename or 'the upload'!r} is silent (below -70 dBFS throughout)")
    return DecodedAudio(y=mono, sr=sr, source_sr=source_sr, source_channels=ch,
                        duration_s=mono.size / float(sr), content_hash=audio_hash(mono))


def load_audio_file(path: str | os.PathLike[str], **kwargs: object) -> DecodedAudio:
    """:func:`decode_audio` on a file's bytes."""
    p = Path(path)
    return decode_audio(p.read_bytes(), filename=p.name, **kwargs)  # type: ignore[arg-type]
