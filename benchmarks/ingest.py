"""Ingestion throughput: a batch of 4-minute tracks through the whole pipeline on the embedded
store; songs/s, audio-seconds per wall-second, peak memory, share of time per stage.

    .venv/bin/python benchmarks/ingest.py [--songs 8] [--encoder musicnn]

Tracks are the demo catalog's real recordings (Debian fretsonfire-songs-*), looped or cut to
exactly 4 minutes, each with Chinese lyrics and 100 comments so the text stage does real work.
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import tempfile
import time
from collections import defaultdict

import numpy as np

from songlens.catalog.demo import find_demo_songs, load_demo_song
from songlens.catalog.pipeline import Catalog
from songlens.content.audio_io import DecodedAudio, audio_hash
from songlens.content.metadata import SongMetadata
from songlens.embeddings.models import load_models
from songlens.settings import load_settings
from songlens.store import open_store

LYRICS = "\n".join(["[00:12.00]深夜一个人走在回家的路上", "[00:18.00]想起你的笑 眼泪掉下来",
                    "[00:24.00]青春就像一场旅行 我们在路上", "[00:30.00]副歌 让我们一起奔跑"] * 6)
COMMENTS = [{"text": t, "likes": i * 7 % 500} for i, t in enumerate(
    ["考研的时候天天听", "跑步必备", "打卡", "毕业那年听哭了", "开车的时候听很爽", "前排",
     "深夜emo", "太燃了", "想起了高中同桌", "这首歌治愈了我"] * 10)]


def four_minutes(y: np.ndarray, sr: int) -> np.ndarray:
    n = 240 * sr
    reps = int(np.ceil(n / y.size))
    return np.tile(y, reps)[:n]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--songs", type=int, default=8)
    ap.add_argument("--encoder", default="musicnn")
    ap.add_argument("--threads", type=int, default=1, help="torch threads (audio.threads)")
    args = ap.parse_args()
    load0 = os.getloadavg()[0]
    settings = load_settings(None, data_dir=tempfile.mkdtemp(),
                             audio={"encoder": args.encoder, "threads": args.threads})
    demo = find_demo_songs(settings.demo.sources)
    if not demo:
        raise SystemExit("demo songs missing: apt-get install fretsonfire-songs-muldjord "
                         "fretsonfire-songs-sectoid")
    tracks = []
    for i in range(args.songs):
        a = load_demo_song(demo[i % len(demo)])
        y = four_minutes(a.y, a.sr)
        y = y * (0.9 + 0.01 * i)  # distinct audio per track
        tracks.append(DecodedAudio(y=y.astype(np.float32), sr=a.sr, source_sr=a.source_sr,
                                   source_channels=1, duration_s=240.0,
                                   content_hash=audio_hash(y)))
    t0 = time.perf_counter()
    models = load_models(settings)
    load_s = time.perf_counter() - t0
    store = open_store(path=settings.qdrant_path)
    cat = Catalog(settings=settings, store=store, models=models)
    import io

    import soundfile as sf

    blobs = []
    for t in tracks:  # encode to MP3 so decoding is part of the measurement (libsndfile's
        # Vorbis encoder crashes on some 4-minute inputs)
        buf = io.BytesIO()
        sf.write(buf, t.y, t.sr, format="MP3")
        blobs.append(buf.getvalue())
    stages: dict[str, float] = defaultdict(float)
    # warm-up on a short clip (first-call costs: jieba dictionary, torch kernels)
    cat.ingest(blobs[0][: len(blobs[0])], SongMetadata(song_id="warm", title="warm"))
    store.delete(cat.spec, ["warm"])
    t0 = time.perf_counter()
    for i, blob in enumerate(blobs):
        meta = SongMetadata(song_id=f"bench-{i}", title=f"测试歌曲{i}", artist="songlens",
                            lyrics=LYRICS, comments=COMMENTS)
        r = cat.ingest(blob, meta, filename="x.mp3")
        for k, v in r.timings.items():
            stages[k] += v
    wall = time.perf_counter() - t0
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    total = sum(stages.values())
    print(f"# ingest benchmark — {time.strftime('%Y-%m-%d')}, {platform.machine()}, "
          f"{platform.python_version()}, encoder={args.encoder}, threads={args.threads}, "
          f"load average before {load0:.1f}, after {os.getloadavg()[0]:.1f}")
    print(f"songs: {len(blobs)} x 240 s; wall {wall:.1f} s; model load {load_s:.1f} s")
    print(f"songs/s: {len(blobs) / wall:.3f}; audio-seconds per wall-second: "
          f"{240 * len(blobs) / wall:.1f}; peak RSS: {peak_mb:.0f} MiB")
    print("| stage | seconds | share |\n|---|---|---|")
    for k, v in sorted(stages.items(), key=lambda kv: -kv[1]):
        print(f"| {k} | {v:.2f} | {100 * v / total:.1f}% |")
    store.close()


if __name__ == "__main__":
    main()
