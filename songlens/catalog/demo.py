"""The demo catalog: real recorded music from Debian's Frets on Fire song packs.

``fretsonfire-songs-muldjord`` (Muldjord, CC BY-SA 3.0) and ``fretsonfire-songs-sectoid``
(Carlos Viola Iborra "Sectoid", MIT-style licence) ship band recordings as separate stems
(``song.ogg`` backing, ``guitar.ogg`` lead, sometimes ``rhythm.ogg``) with a ``song.ini`` naming the
title and artist. A demo song is the stems mixed back together.
"""

from __future__ import annotations

import configparser
import io
import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

from songlens.catalog.pipeline import Catalog
from songlens.content.audio_io import DecodedAudio, audio_hash, load_audio_file
from songlens.content.metadata import SongMetadata

__all__ = ["DemoSong", "find_demo_songs", "load_demo_song", "mix_demo_file", "ingest_demo"]

log = logging.getLogger(__name__)

STEMS = ("song.ogg", "guitar.ogg", "rhythm.ogg")
#: peak level of a mixed demo song: -1 dBFS
PEAK = 10 ** (-1 / 20)


@dataclass(frozen=True)
class DemoSong:
    song_id: str
    title: str
    artist: str
    folder: Path


def find_demo_songs(sources: list[str]) -> list[DemoSong]:
    songs = []
    for src in sources:
        for ini in sorted(Path(src).expanduser().glob("**/song.ini")):
            folder = ini.parent
            if not (folder / "song.ogg").exists():
                continue
            cp = configparser.ConfigParser(interpolation=None, strict=False)
            try:
                cp.read(ini, encoding="utf-8")
                sec = cp["song"]
            except (configparser.Error, KeyError, UnicodeDecodeError):
                continue
            artist = re.sub(r"\s*-\s*www\..*$", "", sec.get("artist", ""))
            artist = re.sub(r"^Composed and performed by\s+", "", artist).strip()
            slug = re.sub(r"[^a-z0-9]+", "-", folder.name.lower()).strip("-")
            songs.append(DemoSong(song_id=f"demo-{slug}", title=sec.get("name", folder.name),
                                  artist=artist or folder.parent.name, folder=folder))
    return songs


def load_demo_song(song: DemoSong, *, max_duration_s: float = 1200.0) -> DecodedAudio:
    """Mix the stems back into one recording (peak-normalised to -1 dBFS)."""
    parts = [load_audio_file(song.folder / s, max_duration_s=max_duration_s)
             for s in STEMS if (song.folder / s).exists()]
    n = max(p.y.size for p in parts)
    mix = np.zeros(n, dtype=np.float32)
    for p in parts:
        mix[: p.y.size] += p.y
    mix *= PEAK / max(float(np.max(np.abs(mix))), 1e-6)
    return DecodedAudio(y=mix, sr=parts[0].sr, source_sr=parts[0].source_sr,
                        source_channels=parts[0].source_channels, duration_s=n / parts[0].sr,
                        content_hash=audio_hash(mix))


def mix_demo_file(song: DemoSong, *, block_s: float = 10.0) -> bytes:
    """The stems mixed at their own rate and channels, as an Ogg Vorbis file (for listening:
    the analysis reads :func:`load_demo_song`). Streamed in blocks; peak-normalised to -1 dBFS
    from a first pass."""
    paths = [song.folder / s for s in STEMS if (song.folder / s).exists()]

    def blocks() -> Iterator[np.ndarray]:
        stems = [sf.SoundFile(p) for p in paths]
        try:
            sr, ch = stems[0].samplerate, stems[0].channels
            if any(s.samplerate != sr or s.channels != ch for s in stems):
                raise ValueError(f"the stems of {song.folder.name!r} differ in rate or channels")
            while True:
                parts = [s.read(int(block_s * sr), dtype="float32", always_2d=True)
                         for s in stems]
                n = max(len(p) for p in parts)
                if n == 0:
                    return
                mix = np.zeros((n, ch), dtype=np.float32)
                for p in parts:
                    mix[: len(p)] += p
                yield mix
        finally:
            for s in stems:
                s.close()

    peak = max((float(np.max(np.abs(b))) for b in blocks()), default=0.0)
    info = sf.info(str(paths[0]))
    out = io.BytesIO()
    with sf.SoundFile(out, "w", samplerate=info.samplerate, channels=info.channels,
                      format="OGG", subtype="VORBIS") as w:
        for b in blocks():
            w.write(np.clip(b * (PEAK / max(peak, 1e-6)), -1.0, 1.0))
    return out.getvalue()


def ingest_demo(catalog: Catalog, sources: list[str]) -> Iterator[tuple[DemoSong, str | None]]:
    """Ingest every demo song not yet in the store; yields (song, error or None)."""
    for song in find_demo_songs(sources):
        if catalog.store.get(catalog.spec, [song.song_id]):
            continue
        try:
            audio = load_demo_song(song, max_duration_s=catalog.settings.audio.max_duration_s)
            meta = SongMetadata(song_id=song.song_id, title=song.title, artist=song.artist)
            keep = (mix_demo_file(song), "ogg") if catalog.settings.audio.keep_files else None
            catalog.ingest_decoded(audio, meta, source_path=str(song.folder / "song.ogg"),
                                   keep=keep)
            yield song, None
        except Exception as exc:  # noqa: BLE001 - one bad demo file must not stop the rest
            log.warning("demo song %s failed: %s", song.folder, exc)
            yield song, str(exc)
