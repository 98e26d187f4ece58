"""Two block readers with one shape: the header first (rate, channels, length), then float32
blocks of ``(frames, channels)``, so that nothing ever holds the whole source in memory.

ffmpeg is called directly rather than through audioread: audioread runs ``ffmpeg -i <file>`` and
lets it probe the format, which is how an uploaded HLS playlist or ffconcat script made the server
read local files. Here ffmpeg gets the one demuxer the sniffer chose (``-f``,
``-format_whitelist``), may open nothing but its temp file (``-protocol_whitelist file``), and has
no stdin.
"""

from __future__ import annotations

import io
import json
import logging
import os
import shutil
import subprocess
import tempfile
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Iterator

import numpy as np
import soundfile as sf

from songlens.content.decoding.sniff import Container

__all__ = ["BlockReader", "SoundfileReader", "FfmpegReader", "ReaderError"]

log = logging.getLogger(__name__)


class ReaderError(Exception):
    """The backend could not open the bytes; ``reason`` is safe to show (no paths, no reprs)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class BlockReader(ABC):
    """Header attributes plus :meth:`blocks`. ``stopped`` names why reading ended early (a decoder
    error in the middle of the stream), or is None."""

    sr: int
    channels: int
    frames: int | None
    stopped: str | None = None

    @abstractmethod
    def blocks(self, frames: int) -> Iterator[np.ndarray]:
        """The audio in blocks of at most ``frames`` frames, float32 ``(frames, channels)``."""

    @abstractmethod
    def close(self) -> None:
        """Release what the reader holds (file handles, a decoder process, temp files)."""

    def __enter__(self) -> BlockReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class SoundfileReader(BlockReader):
    def __init__(self, data: bytes, container: Container) -> None:
        try:
            self._f = sf.SoundFile(io.BytesIO(data))
        except Exception as exc:  # noqa: BLE001 - libsndfile raises several types
            raise ReaderError(f"soundfile: {_clean(exc)}") from None
        if self._f.format not in container.soundfile_formats:
            self._f.close()
            raise ReaderError(f"soundfile read it as {self._f.format}, not {container.name}")
        self.sr, self.channels = int(self._f.samplerate), int(self._f.channels)
        frames = int(self._f.frames)
        # libsndfile reports unknown lengths as 0 or as a huge sentinel
        self.frames = frames if 0 < frames < 1 << 62 else None

    def blocks(self, frames: int) -> Iterator[np.ndarray]:
        # without a declared length libsndfile may fail on the last long read: go in small steps
        pos, size = 0, frames if self.frames else max(frames // 16, 1)
        while True:
            try:
                block = self._f.read(size, dtype="float32", always_2d=True)
            except Exception as exc:  # noqa: BLE001
                # a failed read loses its whole block: go back once and creep up to the damage
                # in blocks 1/16 the size, so a cut file keeps all but a fraction of a second
                if size < frames or not self._retry(pos):
                    self.stopped = f"the decoder stopped: {_clean(exc)}"
                    return
                size = max(frames // 16, 1)
                continue
            if block.shape[0] == 0:
                return
            pos += block.shape[0]
            yield block
            if block.shape[0] < size:
                return

    def _retry(self, pos: int) -> bool:
        try:
            return self._f.seek(pos) == pos
        except Exception:  # noqa: BLE001
            return False

    def close(self) -> None:
        self._f.close()


class FfmpegReader(BlockReader):
    """ffmpeg (and ffprobe for the header) on a private temp copy of the upload, with one demuxer
    and the ``file`` protocol only; output is 16-bit PCM at the source rate and channel count,
    like audioread's, so that m4a files keep the samples (and hashes) they had before."""

    def __init__(self, data: bytes, container: Container, *, deadline: float,
                 max_seconds: float) -> None:
        if not shutil.which("ffmpeg") or not shutil.which("ffprobe"):
            raise ReaderError(f"{container.name} needs ffmpeg, which is not installed")
        self._deadline = deadline
        self._proc: subprocess.Popen[bytes] | None = None
        fd, self._path = tempfile.mkstemp(suffix=".bin")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
            self._safe = ["-protocol_whitelist", "file", "-format_whitelist", container.demuxer,
                          "-f", container.demuxer, "-i", f"file:{self._path}"]
            self.sr, self.channels, self.frames = self._probe()
        except BaseException:
            os.unlink(self._path)
            raise
        self._max_seconds = max_seconds

    def _remaining(self) -> float:
        return max(self._deadline - time.monotonic(), 0.1)

    def _probe(self) -> tuple[int, int, int | None]:
        cmd = ["ffprobe", "-v", "error", *self._safe, "-select_streams", "a:0",
               "-show_entries", "stream=sample_rate,channels,duration", "-of", "json"]
        try:
            out = subprocess.run(cmd, capture_output=True, timeout=self._remaining(),
                                 stdin=subprocess.DEVNULL, check=False)
        except subprocess.TimeoutExpired:
            raise ReaderError("ffprobe: timed out") from None
        try:
            stream = json.loads(out.stdout or b"{}").get("streams", [])[0]
            sr, ch = int(stream["sample_rate"]), int(stream["channels"])
        except (ValueError, KeyError, IndexError, TypeError):
            raise ReaderError("ffmpeg: no audio stream found") from None
        if sr <= 0 or ch <= 0:
            raise ReaderError("ffmpeg: no audio stream found")
        try:
            frames: int | None = round(float(stream["duration"]) * sr)
        except (KeyError, ValueError, TypeError):
            frames = None
        return sr, ch, frames

    def blocks(self, frames: int) -> Iterator[np.ndarray]:
        cmd = ["ffmpeg", "-nostdin", "-hide_banner", "-v", "error", "-threads", "1", *self._safe,
               "-map", "0:a:0", "-vn", "-sn", "-dn", "-t", f"{self._max_seconds:.3f}",
               "-ar", str(self.sr), "-ac", str(self.channels), "-f", "s16le", "pipe:1"]
        err = tempfile.TemporaryFile()
        self._proc = proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL,
                                             stdout=subprocess.PIPE, stderr=err)
        watchdog = threading.Timer(self._remaining(), proc.kill)
        watchdog.start()
        assert proc.stdout is not None
        try:
            nbytes = frames * self.channels * 2
            while True:
                buf = proc.stdout.read(nbytes)
                usable = len(buf) - len(buf) % (self.channels * 2)
                if usable:
                    pcm = np.frombuffer(buf[:usable], dtype="<i2").reshape(-1, self.channels)
                    yield pcm.astype(np.float32) / 32768.0
                if len(buf) < nbytes:
                    break
            if proc.wait() != 0 and time.monotonic() < self._deadline:
                err.seek(0)
                first = err.read(300).decode("utf-8", "replace").splitlines()
                log.info("ffmpeg exited with %s: %s", proc.returncode, first[:1])
                self.stopped = "the decoder stopped: ffmpeg reported a decoding error"
        finally:
            watchdog.cancel()
            err.close()

    def close(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.kill()
            self._proc.wait()
        if self._proc is not None and self._proc.stdout is not None:
            self._proc.stdout.close()
        if os.path.exists(self._path):
            os.unlink(self._path)


def _clean(exc: BaseException) -> str:
    """A backend message without object reprs or paths (libsndfile's messages start with
    ``Error opening <_io.BytesIO object at 0x…>:``)."""
    msg = str(exc)
    if ">:" in msg:
        msg = msg.split(">:", 1)[1]
    msg = msg.replace("Error :", "").strip().rstrip(".")
    if "/" in msg or "\\" in msg or "0x" in msg or not msg:
        return type(exc).__name__
    return msg[:120]
