"""Peak memory of the service's models and pipeline: idle with both musicnn models and the text
model loaded, then while ingesting one 20-minute MP3 (the longest upload ``audio.max_duration_s``
admits by default), in a fresh process.

    PYTHONPATH=. .venv/bin/python benchmarks/ingest_memory.py [--minutes 19.9]

The file: the demo catalog's real recordings concatenated to the length, 44.1 kHz stereo MP3.
RSS is read from /proc/self/status (VmRSS now, VmHWM the peak so far).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from datetime import UTC, datetime

import numpy as np
import soundfile as sf

from songlens.catalog.demo import find_demo_songs, load_demo_song
from songlens.catalog.pipeline import Catalog
from songlens.content.metadata import SongMetadata
from songlens.embeddings.models import load_models
from songlens.settings import load_settings
from songlens.store import configured_store


def rss_mib() -> tuple[float, float]:
    """(VmRSS, VmHWM) in MiB."""
    vals = {}
    with open("/proc/self/status", encoding="ascii") as f:
        for ln in f:
            if ln.startswith(("VmRSS:", "VmHWM:")):
                k, v = ln.split(":")
                vals[k] = int(v.split()[0]) / 1024
    return vals["VmRSS"], vals["VmHWM"]


def long_mp3(path: str, minutes: float, sources: list[str]) -> None:
    demo = find_demo_songs(sources)
    if not demo:
        raise SystemExit("demo songs missing: apt-get install fretsonfire-songs-muldjord "
                         "fretsonfire-songs-sectoid")
    sr = 44100
    n = int(minutes * 60 * sr)
    ys = [load_demo_song(d).y for d in demo[:4]]  # 16 kHz mono mixes
    import librosa

    ys = [librosa.resample(y, orig_sr=16000, target_sr=sr) for y in ys]
    with sf.SoundFile(path, "w", samplerate=sr, channels=2, format="MP3") as f:
        done, i = 0, 0
        while done < n:
            y = ys[i % len(ys)][: n - done]
            for j in range(0, y.size, sr * 10):
                block = y[j:j + sr * 10]
                f.write(np.stack([block, 0.9 * block], axis=1))
            done += y.size
            i += 1


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--minutes", type=float, default=19.9)
    args = ap.parse_args()
    load0 = os.getloadavg()[0]
    settings = load_settings(None, data_dir=tempfile.mkdtemp())
    path = os.path.join(tempfile.mkdtemp(), "long.mp3")
    long_mp3(path, args.minutes, settings.demo.sources)
    data = open(path, "rb").read()  # noqa: SIM115 - read once
    base = rss_mib()
    models = load_models(settings)
    store = configured_store(settings)  # as the service opens it (int8 copies, m 64)
    cat = Catalog(settings=settings, store=store, models=models)
    import gc

    gc.collect()
    idle = rss_mib()
    stage_peaks: dict[str, float] = {}

    def peak_of_stage(stage: str, _seconds: float) -> None:
        """The stage's own peak: the high-water mark since the last stage ended, then reset."""
        stage_peaks[stage] = rss_mib()[1]
        with open("/proc/self/clear_refs", "w") as f:  # resets VmHWM to the current RSS
            f.write("5")

    cat.stage_observers.append(peak_of_stage)
    t0 = time.perf_counter()
    r = cat.ingest(data, SongMetadata(song_id="long", title="long"), filename="long.mp3")
    wall = time.perf_counter() - t0
    after = rss_mib()
    lines = [
        "# Peak memory: models loaded, then one long upload",
        "",
        f"- date: {datetime.now(UTC).isoformat(timespec='seconds')}; load average "
        f"{load0:.1f} before, {os.getloadavg()[0]:.1f} after",
        f"- file: {args.minutes:g} min 44.1 kHz stereo MP3, {len(data) / 2**20:.1f} MiB; "
        f"models: {models.audio.name} ({getattr(models.audio, 'models', '')}), text "
        f"{models.text.name}",
        "",
        "| moment | RSS MiB | peak so far MiB |",
        "|---|---:|---:|",
        f"| before loading models (python, imports, the file's bytes) | {base[0]:.0f} | "
        f"{base[1]:.0f} |",
        f"| idle: models loaded, store open | {idle[0]:.0f} | {idle[1]:.0f} |",
        f"| after ingesting the file ({wall:.0f} s; stages: "
        + ", ".join(f"{k} {v:.1f} s" for k, v in r.timings.items())
        + f") | {after[0]:.0f} | **{max([after[1], *stage_peaks.values()]):.0f}** |",
        "",
        "Peak of each stage (high-water mark from the end of the one before): "
        + ", ".join(f"{k} {v:.0f} MiB" for k, v in stage_peaks.items()) + ".",
    ]
    text = "\n".join(lines) + "\n"
    print(text)
    store.close()


if __name__ == "__main__":
    main()
