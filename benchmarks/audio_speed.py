"""musicnn audio stage speed (issue 16): the port before (PyTorch module, torch threads) and after
(ONNX Runtime, patch batches on the cores measured free), alternating in one run, against the
multiply-add floor of the same CPU measured in the same run.

Work timed: both models (MSD + MTT) on a 240 s song, front end (log-mel patches, computed once)
+ inference, as the issue measures it. Each configuration reports wall seconds (median and best
of its rounds) and the process CPU seconds (robust when the shared machine is loaded). The floor:
the network's multiply-adds counted from its layer shapes, divided by a big fp32 matmul's measured
GFLOP/s on the same cores. Parity: the after path against the original TF fixture.

    PYTHONPATH=. .venv/bin/python benchmarks/audio_speed.py [--rounds 3] [--seconds 240]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import soundfile as sf
import torch

from songlens.catalog.demo import find_demo_songs, load_demo_song
from songlens.content.cores import CORES, available_cores
from songlens.content.musicnn import MusicnnTagger, analyse_many, musicnn_patches
from songlens.content.musicnn.model import (
    FRONTEND_CHANNELS,
    N_FRAMES,
    TEMPORAL_FILTERS,
    TEMPORAL_LENGTHS,
    TIMBRAL_FILTERS,
    TIMBRAL_HEIGHTS,
)
from songlens.settings import load_settings

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "fixtures" / "musicnn"


def macs_per_patch(mid: int = 64, dense: int = 200, classes: int = 50) -> int:
    """Multiply-adds of one 187-frame patch through one musicnn model (convs and dense)."""
    t, f = N_FRAMES, 96
    timbral = sum(TIMBRAL_FILTERS * t * (f - h + 1) * 7 * h for h in TIMBRAL_HEIGHTS)
    temporal = sum(TEMPORAL_FILTERS * t * f * k for k in TEMPORAL_LENGTHS)
    midend = t * 7 * (FRONTEND_CHANNELS * mid + 2 * mid * mid)
    backend = 2 * (FRONTEND_CHANNELS + 3 * mid) * dense + dense * classes
    return timbral + temporal + midend + backend


def matmul_gflops(threads: int, n: int = 2048, reps: int = 5) -> tuple[float, float]:
    """Best fp32 matmul rate: (GFLOP per wall second, GFLOP per CPU second of this process).
    The CPU-second rate is what a core does while it runs, whatever else the machine runs."""
    torch.set_num_threads(threads)
    a, b = torch.randn(n, n), torch.randn(n, n)
    runs = [_timed(lambda: a @ b) for _ in range(reps)]
    flop = 2 * n ** 3 / 1e9
    return flop / min(r[0] for r in runs), flop / min(r[1] for r in runs)


def _timed(fn):
    w0, c0 = time.perf_counter(), time.process_time()
    out = fn()
    return time.perf_counter() - w0, time.process_time() - c0, out


def song(seconds: float) -> np.ndarray:
    demo = find_demo_songs(load_settings(None).demo.sources)
    if not demo:
        raise SystemExit("demo songs missing: apt-get install fretsonfire-songs-muldjord "
                         "fretsonfire-songs-sectoid")
    parts, n = [], int(seconds * 16000)
    i = 0
    while sum(p.size for p in parts) < n:
        parts.append(load_demo_song(demo[i % len(demo)]).y)
        i += 1
    return np.concatenate(parts)[:n].astype(np.float32)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seconds", type=float, default=240.0)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--skip-torch2", action="store_true",
                    help="leave out torch with 2 OpenMP threads (minutes on a loaded machine)")
    args = ap.parse_args()
    load0 = os.getloadavg()
    cpu = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
    model_name = next((ln.split(":", 1)[1].strip() for ln in cpu.splitlines()
                       if ln.startswith("Model name")), "?")
    y = song(args.seconds)
    taggers = [MusicnnTagger(m) for m in ("MSD_musicnn", "MTT_musicnn")]

    def before(threads: int):
        def run():
            torch.set_num_threads(threads)
            x = musicnn_patches(y)
            with torch.inference_mode():
                for t in taggers:
                    for i in range(0, x.shape[0], 2):
                        t.net(x[i:i + 2])
        return run

    def after(threads: int | None):
        def run():
            torch.set_num_threads(1)
            analyse_many(taggers, musicnn_patches(y), threads=threads)
        return run

    configs = {"before: torch, 1 thread (old default)": before(1)}
    if not args.skip_torch2:
        configs["before: torch, 2 threads"] = before(2)
    configs |= {"after: ONNX Runtime, 1 thread": after(1),
                "after: ONNX Runtime, cores measured free (new default)": after(None)}
    for fn in configs.values():  # warm-up
        fn()
    wall: dict[str, list[float]] = {k: [] for k in configs}
    cpu_s: dict[str, list[float]] = {k: [] for k in configs}
    leased: list[int] = []
    peaks: list[tuple[float, float]] = []
    for _ in range(args.rounds):  # alternate the configurations within each round
        peaks.append((matmul_gflops(1), matmul_gflops(2)))
        for k, fn in configs.items():
            w, c, _ = _timed(fn)
            wall[k].append(w)
            cpu_s[k].append(c)
        with CORES.lease() as n:
            leased.append(n)
    load1 = os.getloadavg()
    n_patches = int(musicnn_patches(y).shape[0])
    macs = macs_per_patch() * n_patches * 2
    peak1 = max(p[0][0] for p in peaks)
    peak2 = max(p[1][0] for p in peaks)
    peak_cpu = max(p[0][1] for p in peaks)  # GFLOP per CPU second, one thread
    floor_cpu = 2 * macs / (peak_cpu * 1e9)  # CPU seconds at the matmul's rate
    floor2 = floor_cpu / 2  # wall seconds on 2 free cores

    # parity of the after path on the TF fixture
    ref = dict(np.load(FIXTURES / "reference_tf.npz"))
    dp = dpen = 0.0
    for clip in sorted(FIXTURES.glob("*.wav")):
        outs = analyse_many(taggers, musicnn_patches(sf.read(clip, dtype="float32")[0]))
        for t, o in zip(taggers, outs, strict=True):
            k = f"{clip.stem}/{t.model}"
            dp = max(dp, float(np.abs(o.patch_probs - ref[f"{k}/taggram"]).max()))
            dpen = max(dpen, float(np.abs(o.penultimate - ref[f"{k}/penultimate"]).max()))

    base = statistics.median(wall["before: torch, 1 thread (old default)"])
    lines = [
        "# musicnn audio stage speed: before/after in one run",
        "",
        f"- date: {datetime.now(UTC).isoformat(timespec='seconds')}; machine: {model_name}, "
        f"{available_cores()} cores (lscpu); load average {load0[0]:.1f} before, "
        f"{load1[0]:.1f} after",
        f"- command: `benchmarks/audio_speed.py --seconds {args.seconds:g} --rounds "
        f"{args.rounds}{' --skip-torch2' if args.skip_torch2 else ''}`; torch "
        f"{torch.__version__}",
        f"- work: both models, front end + inference, {args.seconds:g} s song "
        f"({n_patches} patches)",
        f"- multiply-adds: {macs_per_patch() / 1e9:.2f} GMAC per patch per model, "
        f"{macs / 1e9:.0f} GMAC for both models",
        f"- fp32 matmul (2048², best of the rounds): {peak_cpu:.0f} GFLOP per CPU second on one "
        f"thread (wall rate {peak1:.0f} GFLOP/s on 1 thread, {peak2:.0f} on 2 in this loaded "
        f"run) → floor for both models: **{floor_cpu:.2f} CPU s**, i.e. **{floor2:.2f} s** "
        "on 2 free cores",
        f"- cores leased by the new default after each round: {leased}",
        f"- parity of the after path vs the TF fixture: max |Δ tag prob| {dp:.1e} "
        f"(bound 1e-4), max |Δ penultimate| {dpen:.1e} (bound 1e-3)",
        "",
        "| configuration | wall s, median | best | CPU s, median | × old default (median wall) "
        "| CPU s ÷ CPU floor |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for k in configs:
        med = statistics.median(wall[k])
        lines.append(f"| {k} | {med:.2f} | {min(wall[k]):.2f} | "
                     f"{statistics.median(cpu_s[k]):.2f} | {base / med:.2f}× | "
                     f"{statistics.median(cpu_s[k]) / floor_cpu:.2f} |")
    text = "\n".join(lines) + "\n"
    print(text)
    out = ROOT / "benchmarks" / "results" / "audio_speed.md"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()
