"""Near-duplicate robustness of similar-by-clip: does a re-encoded excerpt find its original?

    .venv/bin/python benchmarks/near_duplicates.py [--max-tracks 60] [--queries-per-track 2]

Catalogue: real recordings that Debian packages ship (benchmark only, ``apt-get install``
``wesnoth-1.16-music drascula-music asc-music hyperrogue-music``, plus the demo catalog's
``fretsonfire-songs-*``), each ingested whole through the real pipeline (``Catalog.ingest``).
Queries: a 20 s excerpt at a random (seeded) offset, 6 dB quieter, re-encoded by ffmpeg as a
mono 48 kbit/s MP3, uploaded through the same code path as ``POST /v1/similar`` (the audio
space). Reports top-1 and top-5 (the original among the first 1 / 5 results).
"""

from __future__ import annotations

import argparse
import platform
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf

from songlens.catalog.demo import find_demo_songs, load_demo_song
from songlens.catalog.pipeline import Catalog
from songlens.content.audio_io import load_audio_file
from songlens.content.metadata import SongMetadata
from songlens.embeddings.models import load_models
from songlens.search.similar import similar_to_audio
from songlens.settings import load_settings
from songlens.store import open_store

SOURCES = {
    "wesnoth": "/usr/share/games/wesnoth/1.16/data/core/music",
    "drascula": "/usr/share/scummvm/drascula/audio",
    "asc": "/usr/share/games/asc/music",
    "hyperrogue": "/usr/share/hyperrogue/music",
}


def recordings(max_tracks: int) -> list[tuple[str, Path | None, object]]:
    """(song_id, file or None, demo song or None), interleaving sources so a cut stays varied."""
    per_source: list[list[tuple[str, Path | None, object]]] = []
    for name, root in SOURCES.items():
        files = sorted(p for p in Path(root).glob("**/*") if p.suffix in (".ogg", ".mp3", ".flac")
                       and p.stat().st_size > 300_000) if Path(root).exists() else []
        per_source.append([(f"{name}-{p.stem}", p, None) for p in files])
    demo = find_demo_songs(["/usr/share/games/fretsonfire/data/songs"])
    per_source.append([(d.song_id, None, d) for d in demo])
    out = []
    while any(per_source) and len(out) < max_tracks:
        for lst in per_source:
            if lst and len(out) < max_tracks:
                out.append(lst.pop(0))
    return out


def degrade(y: np.ndarray, sr: int, start_s: float, *, seconds: float = 20.0,
            gain_db: float = -6.0, bitrate: str = "48k") -> bytes:
    clip = y[int(start_s * sr): int((start_s + seconds) * sr)] * 10 ** (gain_db / 20)
    with tempfile.TemporaryDirectory() as tmp:
        wav, mp3 = Path(tmp) / "q.wav", Path(tmp) / "q.mp3"
        sf.write(wav, clip, sr)
        subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(wav), "-ac", "1", "-b:a",
                        bitrate, str(mp3)], check=True)
        return mp3.read_bytes()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--max-tracks", type=int, default=60)
    ap.add_argument("--queries-per-track", type=int, default=2)
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()
    settings = load_settings(None, data_dir=tempfile.mkdtemp(), audio={"threads": 2})
    cat = Catalog(settings=settings, store=open_store(path=settings.qdrant_path),
                  models=load_models(settings))
    rng = np.random.default_rng(args.seed)
    tracks = recordings(args.max_tracks)
    t0 = time.perf_counter()
    kept: list[tuple[str, np.ndarray, int]] = []
    for song_id, path, demo in tracks:
        audio = load_demo_song(demo) if demo else load_audio_file(path, max_duration_s=1200)
        if audio.duration_s < 30:
            continue
        cat.ingest_decoded(audio, SongMetadata(song_id=song_id, title=song_id))
        kept.append((song_id, audio.y, audio.sr))
    ingest_s = time.perf_counter() - t0
    top1 = top5 = n = 0
    misses = []
    t0 = time.perf_counter()
    for song_id, y, sr in kept:
        for _ in range(args.queries_per_track):
            start = float(rng.uniform(0, y.size / sr - 20.0))
            items = similar_to_audio(cat, degrade(y, sr, start), filename="q.mp3", k=5)
            ids = [it.song_id for it in items]
            n += 1
            top1 += bool(ids) and ids[0] == song_id
            top5 += song_id in ids
            if not ids or ids[0] != song_id:
                misses.append(f"{song_id}@{start:.0f}s -> {ids[:3]}")
    query_s = time.perf_counter() - t0
    print(f"# near-duplicate benchmark — {time.strftime('%Y-%m-%d')}, {platform.machine()}, "
          f"Python {platform.python_version()}, audio encoder {cat.models.audio.name}")
    print(f"catalogue: {len(kept)} real recordings (ingested in {ingest_s:.0f} s); queries: {n} "
          "x 20 s excerpts, -6 dB, mono MP3 48 kbit/s")
    print(f"top-1: {top1 / n:.3f} ({top1}/{n}); top-5: {top5 / n:.3f} ({top5}/{n}); "
          f"{1000 * query_s / n:.0f} ms/query")
    for m in misses[:20]:
        print("  miss:", m)


if __name__ == "__main__":
    main()
