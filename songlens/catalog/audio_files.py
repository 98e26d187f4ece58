"""Kept audio: each song's audio file, content-addressed under ``<data_dir>/audio``.

A file lives at ``<root>/<sha256[:2]>/<sha256>.<ext>``, where ``sha256`` is the hash of its
bytes and ``ext`` follows the container sniffed from those bytes (never the client's file name).
Files are written atomically (:func:`songlens.files.write_atomic`), so a
reader sees a whole file or none; writing bytes that are already kept does nothing. Paths are
only ever built from a validated hex hash and an extension from :data:`CONTAINER_FILES`, so
nothing outside the root can be named.
"""

from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from songlens.files import write_atomic

__all__ = ["AudioFiles", "AudioRef", "CONTAINER_FILES", "MEDIA_TYPES"]

log = logging.getLogger(__name__)

#: sniffed container → file extension (see songlens.content.decoding.sniff)
CONTAINER_FILES = {"wav": "wav", "rf64": "wav", "w64": "w64", "aiff": "aiff", "au": "au",
                   "caf": "caf", "flac": "flac", "ogg": "ogg", "mp3": "mp3", "mp4": "m4a",
                   "aac": "aac", "matroska": "webm"}
#: extension → Content-Type
MEDIA_TYPES = {"wav": "audio/wav", "w64": "audio/x-w64", "aiff": "audio/aiff",
               "au": "audio/basic", "caf": "audio/x-caf", "flac": "audio/flac",
               "ogg": "audio/ogg", "mp3": "audio/mpeg", "m4a": "audio/mp4", "aac": "audio/aac",
               "webm": "audio/webm"}
_SHA256 = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True)
class AudioRef:
    """What a song's payload records about its kept file (``audio_file``)."""

    sha256: str
    ext: str
    size: int

    def to_dict(self) -> dict[str, Any]:
        return {"sha256": self.sha256, "ext": self.ext, "size": self.size}

    @classmethod
    def from_dict(cls, d: Any) -> AudioRef | None:
        """The reference in a payload, or None when there is none or it is not well formed
        (a hash that is not 64 lower-case hex digits, an extension not in the list)."""
        if not isinstance(d, dict):
            return None
        sha, ext, size = d.get("sha256"), d.get("ext"), d.get("size")
        if not (isinstance(sha, str) and _SHA256.fullmatch(sha) and ext in MEDIA_TYPES
                and isinstance(size, int)):
            return None
        return cls(sha, ext, size)

    @property
    def media_type(self) -> str:
        return MEDIA_TYPES[self.ext]


class AudioFiles:
    """The kept audio under ``root`` (created on the first write)."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    def path(self, ref: AudioRef) -> Path:
        """Where ``ref``'s file lives (validated again: a hand-made ref cannot escape root)."""
        if not _SHA256.fullmatch(ref.sha256) or ref.ext not in MEDIA_TYPES:
            raise ValueError(f"not a kept-audio reference: {ref!r}")
        return self.root / ref.sha256[:2] / f"{ref.sha256}.{ref.ext}"

    def exists(self, ref: AudioRef) -> bool:
        return self.path(ref).is_file()

    def put(self, data: bytes, container: str) -> tuple[AudioRef, bool]:
        """Keep ``data`` (a ``container`` file); returns its reference and whether a new file
        was written (False: the same bytes were already kept)."""
        ext = CONTAINER_FILES.get(container)
        if ext is None:
            raise ValueError(f"no file extension for container {container!r}")
        ref = AudioRef(hashlib.sha256(data).hexdigest(), ext, len(data))
        target = self.path(ref)
        if target.is_file() and target.stat().st_size == ref.size:
            return ref, False
        target.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(target, data)
        return ref, True

    def remove(self, ref: AudioRef) -> None:
        """Delete ``ref``'s file (nothing when it is gone already)."""
        try:
            self.path(ref).unlink(missing_ok=True)
        except OSError as exc:
            log.warning("could not delete kept audio %s.%s: %s", ref.sha256, ref.ext, exc)
