"""Ingestion throughput: a batch of 4-minute tracks through the whole pipeline on the embedded
store; songs/s, audio-seconds per wall-second, peak memory, share of time per stage.

    .venv/bin/python benchmarks/ingest.py [--songs 8] [--encoder musicnn] [--compare]

``--compare`` alternates, song by song in one run, the musicnn path before issue 16 (the PyTorch
module, one torch thread: the old default) with today's default (ONNX Runtime on the cores
measured free), and reports each one's throughput and time per stage.

``--via http,cli`` measures the same songs as a user meets them, at the default settings, after
the in-process run: ``http`` posts them one at a time to a ``songlens serve`` process
(``POST /v1/songs``, each waiting for the last), ``cli`` runs ``songlens ingest`` on a folder of
them, once with one song and once with all, so that the difference is the songs' share without
the process's start-up and model loading.

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
from songlens.content.musicnn.runtime import OUTPUTS
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


class _TorchRuntime:
    """The musicnn path before issue 16: the PyTorch module, called batch by batch."""

    def __init__(self, net) -> None:
        self.net = net

    def run(self, x: np.ndarray) -> dict[str, np.ndarray]:
        import torch

        with torch.inference_mode():
            out = self.net(torch.from_numpy(x))
        return {k: out[k].numpy() for k in OUTPUTS}


def set_mode(encoder, mode: str) -> None:
    """``before``: torch path on one thread (old default); otherwise the default path."""
    if not hasattr(encoder, "taggers"):
        return
    if not hasattr(encoder, "_bench_runtimes"):
        encoder._bench_runtimes = ([t.runtime for t in encoder.taggers], encoder.threads)
    runtimes, threads = encoder._bench_runtimes
    for t, rt in zip(encoder.taggers, runtimes, strict=True):
        t.runtime = _TorchRuntime(t.net) if mode == "before" else rt
    encoder.threads = 1 if mode == "before" else threads


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--songs", type=int, default=8)
    ap.add_argument("--encoder", default="musicnn")
    ap.add_argument("--threads", type=int, default=None,
                    help="audio.threads (default: unset, the cores measured free)")
    ap.add_argument("--compare", action="store_true",
                    help="alternate the old torch path (1 thread) with the default, per song")
    ap.add_argument("--via", default="", help="also measure these ways in: http, cli")
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
    modes = ["before", "after"] if args.compare else ["default"]
    stages: dict[str, dict[str, float]] = {m: defaultdict(float) for m in modes}
    walls: dict[str, float] = defaultdict(float)
    cpus: dict[str, float] = defaultdict(float)
    counts: dict[str, int] = defaultdict(int)
    # warm-up on a short clip (first-call costs: jieba dictionary, torch kernels)
    for mode in modes:
        set_mode(models.audio, mode)
        cat.ingest(blobs[0][: len(blobs[0])], SongMetadata(song_id="warm", title="warm"))
        store.delete(cat.spec, ["warm"])
    for i, blob in enumerate(blobs):
        mode = modes[i % len(modes)]
        set_mode(models.audio, mode)
        meta = SongMetadata(song_id=f"bench-{i}", title=f"测试歌曲{i}", artist="songlens",
                            lyrics=LYRICS, comments=COMMENTS)
        t0, c0 = time.perf_counter(), time.process_time()
        r = cat.ingest(blob, meta, filename="x.mp3")
        walls[mode] += time.perf_counter() - t0
        cpus[mode] += time.process_time() - c0
        counts[mode] += 1
        for k, v in r.timings.items():
            stages[mode][k] += v
    set_mode(models.audio, "default")
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"# ingest benchmark — {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, "
          f"{platform.machine()}, {platform.python_version()}, encoder={args.encoder}, "
          f"threads={args.threads}, load average before {load0:.1f}, after "
          f"{os.getloadavg()[0]:.1f}")
    print(f"songs: {len(blobs)} x 240 s; model load {load_s:.1f} s; peak RSS: {peak_mb:.0f} MiB")
    print("| path | songs | wall s per song | audio-seconds per wall-second | CPU s per song |"
          "\n|---|---:|---:|---:|---:|")
    for m in modes:
        print(f"| {m} | {counts[m]} | {walls[m] / counts[m]:.2f} | "
              f"{240 * counts[m] / walls[m]:.1f} | {cpus[m] / counts[m]:.2f} |")
    print("\nSeconds per song by stage:\n")
    print("| stage | " + " | ".join(modes) + " |\n|---|" + "---:|" * len(modes))
    for k in sorted(stages[modes[-1]], key=lambda k: -stages[modes[-1]][k]):
        print(f"| {k} | " + " | ".join(f"{stages[m][k] / counts[m]:.2f}" for m in modes) + " |")
    store.close()
    vias = [v for v in args.via.split(",") if v]
    if vias:
        print("\n| way in (default settings) | songs | wall s per song | "
              "audio-seconds per wall-second |\n|---|---:|---:|---:|")
    for via in vias:
        per_song = {"http": via_http, "cli": via_cli}[via](blobs)
        print(f"| {via} | {len(blobs)} | {per_song:.2f} | {240 / per_song:.1f} |")


def _metadata(i: int) -> dict:
    return {"song_id": f"bench-{i}", "title": f"测试歌曲{i}", "artist": "songlens",
            "lyrics": LYRICS, "comments": COMMENTS}


def via_http(blobs: list[bytes]) -> float:
    """Seconds per song for a client posting the songs one after another to a fresh server."""
    import json
    import subprocess
    import sys

    import httpx
    from lookup import _free_port  # this folder's scripts run with it on sys.path

    with tempfile.TemporaryDirectory() as data:
        port = _free_port()
        proc = subprocess.Popen([sys.executable, "-m", "songlens.cli.main", "serve",
                                 "--data-dir", data, "--port", str(port)],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=600) as c:
                for _ in range(600):
                    try:
                        if c.get("/healthz").status_code == 200:
                            break
                    except httpx.HTTPError:
                        pass
                    time.sleep(0.5)
                post = [lambda i=i, b=b: c.post(
                    "/v1/songs", files={"audio": (f"bench-{i}.mp3", b, "audio/mpeg")},
                    data={"metadata": json.dumps(_metadata(i), ensure_ascii=False)})
                    for i, b in enumerate(blobs)]
                r = c.post("/v1/songs", files={"audio": ("warm.mp3", blobs[0], "audio/mpeg")},
                           data={"metadata": json.dumps({"song_id": "warm", "title": "w"})})
                r.raise_for_status()
                t0 = time.perf_counter()
                for p in post:
                    p().raise_for_status()
                return (time.perf_counter() - t0) / len(blobs)
        finally:
            proc.terminate()
            proc.wait(timeout=120)


def via_cli(blobs: list[bytes]) -> float:
    """Seconds per song of ``songlens ingest`` on a folder: (all songs - one song) / (n - 1)."""
    import subprocess
    import sys
    from pathlib import Path

    def run(n: int) -> float:
        with tempfile.TemporaryDirectory() as data, tempfile.TemporaryDirectory() as folder:
            for i, b in enumerate(blobs[:n]):
                (Path(folder) / f"bench-{i}.mp3").write_bytes(b)
                (Path(folder) / f"bench-{i}.lrc").write_text(LYRICS, encoding="utf-8")
            t0 = time.perf_counter()
            subprocess.run([sys.executable, "-m", "songlens.cli.main", "ingest", folder,
                            "--data-dir", data], check=True, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
            return time.perf_counter() - t0

    one = run(1)
    return (run(len(blobs)) - one) / (len(blobs) - 1)


if __name__ == "__main__":
    main()
