"""Back-catalogue ingestion on Ray against the plain ``ingest``, in one run on the same clips:
songs per core-second for plain ``--workers 1/2`` and Ray with 1/2 actors, Ray's overhead per
song (CPU beyond the plain path's), its fixed start-up (``ray.init``, models loaded per actor)
and memory per actor; the numbers the 1M/10M projection in RESULTS.md is built on.

    .venv/bin/python benchmarks/ray_ingest.py [--clips 12] [--seconds 30] [--rounds 1]

Clips are cut from the demo catalog's real recordings (Debian fretsonfire-songs-*) and written as
Ogg Vorbis files, so decoding is part of the work, as in a real back catalogue. Configurations
run in alternating order (plain 1, Ray 1, plain 2, Ray 2; the next round reversed), each into a
fresh store. CPU seconds are read from /proc for this process and every process under it (Ray's
raylet, GCS and workers included), so they hold on a machine other jobs load too.
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import soundfile as sf

from songlens.catalog.batch import find_audio_files, ingest_files
from songlens.catalog.demo import find_demo_songs, load_demo_song
from songlens.catalog.pipeline import Catalog
from songlens.catalog.ray_batch import RayOptions, SongAnalyst, ingest_files_ray, start_ray
from songlens.embeddings.models import load_models
from songlens.settings import load_settings
from songlens.store import open_store

TICK = os.sysconf("SC_CLK_TCK")


def _tree_cpu() -> dict[int, float]:
    """CPU seconds (user + system) of this process and every process below it."""
    stats = {}
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                f = (d / "stat").read_text().rsplit(")", 1)[1].split()
                stats[int(d.name)] = (int(f[1]), (int(f[11]) + int(f[12])) / TICK)
            except (OSError, IndexError, ValueError):
                continue
    mine, frontier = {os.getpid()}, [os.getpid()]
    while frontier:
        parent = frontier.pop()
        for pid, (ppid, _) in stats.items():
            if ppid == parent and pid not in mine:
                mine.add(pid)
                frontier.append(pid)
    return {pid: stats[pid][1] for pid in mine if pid in stats}


class CpuMeter:
    """CPU seconds of the process tree between start and stop, sampled every 0.2 s (a process
    that ends loses at most its last 0.2 s)."""

    def __init__(self) -> None:
        self.base = _tree_cpu()
        self.last = dict(self.base)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(0.2):
            self.last.update(_tree_cpu())

    def stop(self) -> float:
        self._stop.set()
        self._thread.join()
        self.last.update(_tree_cpu())
        return sum(v - self.base.get(pid, 0.0) for pid, v in self.last.items())


def make_clips(folder: Path, n: int, seconds: float) -> list[Path]:
    settings = load_settings(None, data_dir=str(folder / "unused"))
    demo = find_demo_songs(settings.demo.sources)
    if not demo:
        raise SystemExit("demo songs missing: apt-get install fretsonfire-songs-muldjord "
                         "fretsonfire-songs-sectoid")
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for i in range(n):
        a = load_demo_song(demo[i % len(demo)])
        start = int((20 + 40 * (i // len(demo))) * a.sr) % max(1, a.y.size - int(seconds * a.sr))
        y = a.y[start:start + int(seconds * a.sr)]
        p = folder / f"clip{i:02d}.ogg"
        sf.write(p, y, a.sr, format="OGG", subtype="VORBIS")
        out.append(p)
    return out


def run_one(kind: str, workers: int, files: list[Path], models, root: Path) -> dict:
    settings = load_settings(None, data_dir=tempfile.mkdtemp(dir=root), log_level="WARNING")
    store = open_store(path=settings.qdrant_path)
    cat = Catalog(settings=settings, store=store, models=models)
    meter = CpuMeter()
    t0 = time.perf_counter()
    if kind == "plain":
        report = ingest_files(cat, files, workers=workers)
    else:
        report = ingest_files_ray(cat, files, options=RayOptions(workers=workers))
    wall = time.perf_counter() - t0
    cpu = meter.stop()
    store.close()
    assert len(report.ingested) == len(files), report.failed
    return {"kind": kind, "workers": workers, "wall_s": wall, "cpu_s": cpu}


def actor_start(settings, segments: bool, versions: bool, config_dir: str, clip: Path
                ) -> dict:
    """One actor started alone: seconds until its models are loaded, their CPU seconds, and
    the one-off warm-up of its first song (jieba's dictionary, lazily built resources): CPU of
    the first analysis of ``clip`` less that of the second. Its peak memory after both."""
    import ray

    t0 = time.perf_counter()
    actor = ray.remote(num_cpus=1)(SongAnalyst).remote(settings, config_dir, segments, versions)
    loaded = ray.get(actor.usage.remote())
    wall = time.perf_counter() - t0
    cpu = [loaded["cpu_s"]]
    for _ in range(2):
        ok, why = ray.get(actor.analyse.remote(str(clip), "update"))
        assert ok, why
        use = ray.get(actor.usage.remote())
        cpu.append(use["cpu_s"])
    first, second = cpu[1] - cpu[0], cpu[2] - cpu[1]
    ray.kill(actor)
    return {"start_s": wall, "load_cpu_s": cpu[0], "warmup_cpu_s": first - second,
            "peak_rss_mb": use["peak_rss_mb"]}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--clips", type=int, default=12)
    ap.add_argument("--seconds", type=float, default=30.0)
    ap.add_argument("--rounds", type=int, default=1)
    args = ap.parse_args()
    root = Path(tempfile.mkdtemp(prefix="ray-bench-"))
    load0 = os.getloadavg()
    files = find_audio_files(make_clips(root / "clips", args.clips, args.seconds))
    settings = load_settings(None, data_dir=str(root / "models"), log_level="WARNING")
    models = load_models(settings)
    t0 = time.perf_counter()
    start_ray(num_cpus=2)
    ray_init_s = time.perf_counter() - t0
    probe = Catalog(settings=settings, store=open_store(path=settings.qdrant_path),
                    models=models)
    segments = "segments" in probe.spec.multi
    versions = "versions" in probe.spec.dense
    probe.store.close()
    starts = [actor_start(settings, segments, versions, str(probe.resources.config_dir),
                          files[0]) for _ in range(2)]
    # the plain path's one-off warm-up (jieba, lazily built resources), outside the timings
    run_one("plain", 1, files[:1], models, root)
    order = [("plain", 1), ("ray", 1), ("plain", 2), ("ray", 2)]
    rows = []
    for r in range(args.rounds):
        for kind, w in (order if r % 2 == 0 else order[::-1]):
            row = run_one(kind, w, files, models, root)
            rows.append(row)
            print(f"{kind:5s} w={w}  wall {row['wall_s']:6.1f} s  cpu {row['cpu_s']:6.1f} s",
                  flush=True)
    load1 = os.getloadavg()
    import ray

    ray.shutdown()
    model = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
    cpu_name = next((ln.split(":", 1)[1].strip() for ln in model.splitlines()
                     if ln.startswith("Model name")), platform.processor())
    n = len(files)
    load_cpu = float(np.mean([s["load_cpu_s"] for s in starts]))
    warm_cpu = float(np.mean([s["warmup_cpu_s"] for s in starts]))
    start_cpu = load_cpu + warm_cpu
    print(f"\n{n} clips of {args.seconds:.0f} s, {args.rounds} round(s); {cpu_name}, "
          f"{os.cpu_count()} CPUs; load average {load0[0]:.1f} -> {load1[0]:.1f}")
    start_s = float(np.mean([s["start_s"] for s in starts]))
    print(f"ray.init: {ray_init_s:.1f} s; one actor alone: {start_s:.1f} s to load its models "
          f"({load_cpu:.1f} CPU-s), first-song warm-up {warm_cpu:.1f} CPU-s, peak RSS "
          f"{np.mean([s['peak_rss_mb'] for s in starts]):.0f} MB")
    print("| engine | workers | wall s | CPU s | songs / core-second (wall x workers) | "
          "songs / CPU-second | CPU s / song (actor start-up and warm-up excluded) |")
    print("|---|---|---|---|---|---|---|")
    per_song = {}
    for kind, w in order:
        rs = [x for x in rows if x["kind"] == kind and x["workers"] == w]
        wall = float(np.mean([x["wall_s"] for x in rs]))
        cpu = float(np.mean([x["cpu_s"] for x in rs]))
        net = cpu - (w * start_cpu if kind == "ray" else 0.0)
        per_song[kind, w] = net / n
        print(f"| {kind} | {w} | {wall:.1f} | {cpu:.1f} | {n / (wall * w):.3f} | "
              f"{n / cpu:.3f} | {net / n:.2f} |")
    for w in (1, 2):
        extra = per_song["ray", w] - per_song["plain", w]
        print(f"Ray overhead per song, {w} worker(s): {extra:+.2f} CPU-s "
              f"({extra / per_song['plain', w]:+.0%} of the plain path's "
              f"{per_song['plain', w]:.2f} CPU-s)")


if __name__ == "__main__":
    main()
