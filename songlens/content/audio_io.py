"""Decode audio bytes or files to 16 kHz mono float32, with clear errors for bad input.

The container is sniffed from the bytes (:mod:`songlens.content.decoding.sniff`); only plain
audio containers are decoded, never playlists or anything that names other files. soundfile
(libsndfile) reads wav, flac, ogg, mp3, aiff, au, caf in-process; m4a/mp4, adts aac and
webm/mka (and what libsndfile refuses in the others) go to ffmpeg, locked to the sniffed demuxer.

Decoding is streamed in blocks of a few seconds, downmixed and resampled per block, so memory
follows the 16 kHz mono output, not the source. The header is checked against the limits before
anything is decoded, and the limits are enforced again while decoding (headers can lie).
"""

from __future__ import annotations

import hashlib
import logging
import os
import time
import unicodedata
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from songlens.content.decoding import (
    SUPPORTED,
    BlockReader,
    Container,
    FfmpegReader,
    ReaderError,
    SoundfileReader,
    declared_frames,
    describe,
    mp3_declares_length,
    ogg_is_complete,
    sniff,
)
from songlens.errors import (
    AudioTooLarge,
    AudioTooLong,
    AudioTooShort,
    DecodeTimeout,
    EmptyAudio,
    SilentAudio,
    UnsupportedAudio,
)

__all__ = ["DecodedAudio", "decode_audio", "load_audio_file", "audio_hash", "safe_name",
           "SAMPLE_RATE", "SAMPLES_PER_SECOND"]

log = logging.getLogger(__name__)

SAMPLE_RATE = 16000
#: RMS below this (about -70 dBFS) counts as digital silence.
SILENCE_RMS = 10 ** (-70 / 20)
#: source samples × channels per second of allowed duration when no explicit
#: ``max_decoded_samples`` is given: stereo at 96 kHz.
SAMPLES_PER_SECOND = 2 * 96000
#: seconds of source audio per decoded block
BLOCK_S = 4
#: Beyond these a header is not describing real audio (the highest rates in use are 768 kHz
#: DXD/PCM, and no delivery format carries more than 64 channels); refused before any block is
#: allocated, since a block's size follows them.
MAX_SOURCE_SR = 768_000
MAX_CHANNELS = 64
#: a header length is trusted to within this much (mp3/aac encoder padding, rounding)
_LENGTH_SLACK_S = 0.25


@dataclass(frozen=True)
class DecodedAudio:
    """Mono float32 samples in [-1, 1] at ``sr`` Hz, plus what we know of the source.

    ``header_duration_s`` is the length the file declares (None when it declares none);
    ``warnings`` says what was wrong with a file that was still decoded (cut short, corrupt in the
    middle, a header that lies), e.g. ``"truncated: the header says 214.3 s, 107.1 s decoded"``.
    """

    y: np.ndarray
    sr: int
    source_sr: int
    source_channels: int
    duration_s: float
    content_hash: str
    container: str = ""
    header_duration_s: float | None = None
    warnings: tuple[str, ...] = ()


def audio_hash(y: np.ndarray) -> str:
    """Hash of decoded 16 kHz samples quantised to 16 bit: same audio → same hash, whatever the
    container or tags (a re-tagged file keeps its hash; a re-encoded one does not)."""
    q = np.clip(np.round(np.asarray(y, dtype=np.float32) * 32767.0), -32768, 32767)
    return hashlib.sha256(q.astype("<i2").tobytes()).hexdigest()


def safe_name(filename: str, limit: int = 80) -> str:
    """A client file name fit for messages and logs: its last path component, printable
    characters only (no quotes or angle brackets), at most ``limit`` characters."""
    base = filename.replace("\\", "/").rsplit("/", 1)[-1]
    base = "".join(c for c in base if c.isprintable() and unicodedata.category(c) != "Cf"
                   and c not in "<>\"'`")
    return base if len(base) <= limit else base[: limit - 1] + "…"


def _open(data: bytes, container: Container, what: str, *, deadline: float,
          max_s: float) -> BlockReader:
    reasons: list[str] = []
    if container.soundfile_formats:
        try:
            return SoundfileReader(data, container)
        except ReaderError as exc:
            reasons.append(exc.reason)
    try:
        return FfmpegReader(data, container, deadline=deadline, max_seconds=max_s + 1)
    except ReaderError as exc:
        reasons.append(exc.reason)
    if time.monotonic() > deadline:
        raise DecodeTimeout("decoding took too long; the server may be busy, try again later")
    raise UnsupportedAudio(f"{what} looks like {container.name} but could not be decoded "
                           f"(truncated or corrupt?); supported: {SUPPORTED}",
                           container=container.name, reasons=reasons)


def _resampler(source_sr: int, sr: int):  # noqa: ANN202 - soxr has no stubs
    import soxr  # librosa's resampler; streamed here so that blocks join seamlessly

    return soxr.ResampleStream(source_sr, sr, 1, dtype="float32", quality="HQ")


def _declared(data: bytes, container: Container, reader: BlockReader) -> int | None:
    """Frames the file declares, at the reader's rate (None: it declares no length)."""
    if container.name == "mp3" and not mp3_declares_length(data):
        return None
    wav = declared_frames(data, container)
    if wav is not None and wav[1] == reader.sr:
        return max(wav[0], reader.frames or 0)
    return reader.frames


def decode_audio(
    data: bytes,
    *,
    filename: str = "",
    sr: int = SAMPLE_RATE,
    max_duration_s: float = 1200.0,
    min_duration_s: float = 1.0,
    reject_silence: bool = True,
    max_decoded_samples: int | None = None,
    timeout_s: float = 60.0,
    min_decoded_fraction: float = 0.5,
) -> DecodedAudio:
    """Decode ``data`` to mono float32 at ``sr`` Hz.

    Parameters
    ----------
    data : bytes
        The file's bytes: one of the containers in :mod:`songlens.content.decoding.sniff`.
    filename : str
        Named, sanitised (:func:`safe_name`), in messages and logs; never used to choose a
        decoder.
    max_duration_s, min_duration_s : float
        Limits on the decoded duration, in seconds.
    reject_silence : bool
        Raise :class:`SilentAudio` when the whole track is below -70 dBFS RMS.
    max_decoded_samples : int, optional
        Limit on source frames × channels (default ``max_duration_s`` × 192 000, i.e. the whole
        duration in stereo at 96 kHz), checked on the header and again while decoding.
    timeout_s : float
        Wall-clock budget for the whole decode, in seconds.
    min_decoded_fraction : float
        A file that decodes to less than this fraction of the length its header declares is
        refused; above it, it is kept with a ``warnings`` entry. 0 keeps any partial decode.

    Raises
    ------
    EmptyAudio, UnsupportedAudio, AudioTooLong, AudioTooLarge, AudioTooShort, SilentAudio,
    DecodeTimeout
    """
    if not data:
        raise EmptyAudio("the audio upload is empty (0 bytes)")
    what = f"'{safe_name(filename)}'" if safe_name(filename) else "the upload"
    deadline = time.monotonic() + timeout_s
    max_samples = int(max_decoded_samples or max_duration_s * SAMPLES_PER_SECOND)
    container = sniff(data)
    if container is None:
        looks = describe(data)
        log.info("refused %s: not a supported container (%s)", what, looks)
        raise UnsupportedAudio(f"{what} is not an audio file (looks like {looks}); supported: "
                               f"{SUPPORTED}", detected=looks)
    with _open(data, container, what, deadline=deadline, max_s=max_duration_s) as reader:
        source_sr, ch = reader.sr, reader.channels
        if not (0 < source_sr <= MAX_SOURCE_SR and 0 < ch <= MAX_CHANNELS):
            raise UnsupportedAudio(
                f"{what} declares {source_sr} Hz and {ch} channels; at most {MAX_SOURCE_SR} Hz "
                f"and {MAX_CHANNELS} channels are accepted", container=container.name)
        header = _declared(data, container, reader)
        if reader.frames and reader.frames / source_sr > max_duration_s:
            d = reader.frames / source_sr
            raise AudioTooLong(f"audio is {d:.0f} s long; the limit is {max_duration_s:.0f} s",
                               duration_s=d, limit_s=max_duration_s)
        if reader.frames and reader.frames * ch > max_samples:
            raise _too_large(reader.frames, source_sr, ch, max_samples)
        mono, frames = _stream_mono(reader, sr=sr, max_s=max_duration_s,
                                    max_samples=max_samples, deadline=deadline)
        stopped = reader.stopped
    if frames == 0:
        raise UnsupportedAudio(f"{what} decoded to no samples (truncated or corrupt file?)",
                               container=container.name)
    duration = frames / float(source_sr)
    warnings = _warnings(data, container, header, frames, source_sr, stopped)
    if header and min_decoded_fraction and frames < min_decoded_fraction * header:
        raise UnsupportedAudio(
            f"{what} is truncated or corrupt: its header declares {header / source_sr:.1f} s "
            f"but only {duration:.1f} s ({int(100 * frames / header)} %) could be decoded; at "
            f"least {min_decoded_fraction:.0%} is needed", container=container.name)
    if duration < min_duration_s:
        raise AudioTooShort(f"audio is {duration:.2f} s long; at least {min_duration_s:.1f} s "
                            "is needed", duration_s=duration)
    mono = np.clip(mono, -1.0, 1.0)
    if reject_silence and float(np.sqrt(np.mean(mono.astype(np.float64) ** 2))) < SILENCE_RMS:
        raise SilentAudio(f"{what} is silent (below -70 dBFS throughout)")
    if warnings:
        log.info("decoded %s with warnings: %s", what, "; ".join(warnings))
    return DecodedAudio(y=mono, sr=sr, source_sr=source_sr, source_channels=ch,
                        duration_s=mono.size / float(sr), content_hash=audio_hash(mono),
                        container=container.name,
                        header_duration_s=header / source_sr if header else None,
                        warnings=warnings)


def _too_large(frames: int, source_sr: int, ch: int, max_samples: int) -> AudioTooLarge:
    return AudioTooLarge(
        f"decoded, the audio would be {frames * ch:,} samples ({frames / source_sr:.0f} s × {ch} "
        f"channels × {source_sr} Hz); the limit is {max_samples:,} samples × channels",
        samples=frames * ch, limit=max_samples)


def _stream_mono(reader: BlockReader, *, sr: int, max_s: float, max_samples: int,
                 deadline: float) -> tuple[np.ndarray, int]:
    """Read, downmix and resample block by block: (mono float32 at ``sr``, source frames read).
    Gives the same samples as downmixing and resampling the whole file at once."""
    source_sr, ch = reader.sr, reader.channels
    stream = _resampler(source_sr, sr) if source_sr != sr else None
    # a block never holds more than the whole budget allows, whatever the header claims
    block_frames = max(1, min(BLOCK_S * source_sr, max_samples // ch + 1))
    blocks = closing(reader.blocks(block_frames))  # its clean-up runs even if we stop early
    with blocks:
        mono, frames = _downmix(blocks.thing, stream, source_sr=source_sr, ch=ch, max_s=max_s,
                                max_samples=max_samples, deadline=deadline)
    if time.monotonic() > deadline:  # the ffmpeg watchdog ends the stream at the deadline
        raise DecodeTimeout("decoding took too long; the server may be busy, try again later")
    if stream is not None:
        mono.append(stream.resample_chunk(np.zeros(0, dtype=np.float32), last=True))
    out = np.concatenate(mono) if mono else np.zeros(0, dtype=np.float32)
    if stream is not None:  # librosa.resample's length: ceil(n · ratio), zero-padded
        n = int(np.ceil(frames * sr / source_sr))
        out = out[:n] if out.size >= n else np.pad(out, (0, n - out.size))
    return out.astype(np.float32, copy=False), frames


def _downmix(blocks: Iterator[np.ndarray], stream: Any, *, source_sr: int, ch: int,
             max_s: float, max_samples: int, deadline: float) -> tuple[list[np.ndarray], int]:
    """Each block downmixed (and resampled by ``stream``), with the budgets checked per block:
    (the mono pieces, source frames read)."""
    out: list[np.ndarray] = []
    frames = 0
    for block in blocks:
        frames += block.shape[0]
        if frames / source_sr > max_s:
            raise AudioTooLong(f"audio is over {max_s:.0f} s long (decoding stopped there); "
                               f"the limit is {max_s:.0f} s", limit_s=max_s)
        if frames * ch > max_samples:
            raise _too_large(frames, source_sr, ch, max_samples)
        if time.monotonic() > deadline:
            raise DecodeTimeout("decoding took too long; the server may be busy, try again later")
        if not np.all(np.isfinite(block)):
            block = np.nan_to_num(block, nan=0.0, posinf=0.0, neginf=0.0)
        m = np.mean(block.T, axis=0) if ch > 1 else block[:, 0]
        m = np.ascontiguousarray(m, dtype=np.float32)
        out.append(stream.resample_chunk(m) if stream is not None else m)
    return out, frames


def _warnings(data: bytes, container: Container, header: int | None, frames: int,
              source_sr: int, stopped: str | None) -> tuple[str, ...]:
    out = []
    got = frames / source_sr
    slack = max(_LENGTH_SLACK_S * source_sr, 0.005 * (header or 0))
    if header and frames < header - slack:
        out.append(f"truncated: the header says {header / source_sr:.1f} s, {got:.1f} s decoded")
    elif header and frames > header + slack:
        out.append(f"length mismatch: the header says {header / source_sr:.1f} s, "
                   f"{got:.1f} s decoded")
    if container.name == "ogg" and not ogg_is_complete(data):
        out.append(f"truncated: the Ogg stream has no end mark, {got:.1f} s decoded")
    if stopped:
        out.append(f"corrupt: {stopped} after {got:.1f} s")
    return tuple(out)


def load_audio_file(path: str | os.PathLike[str], **kwargs: object) -> DecodedAudio:
    """:func:`decode_audio` on a file's bytes."""
    p = Path(path)
    return decode_audio(p.read_bytes(), filename=p.name, **kwargs)  # type: ignore[arg-type]
