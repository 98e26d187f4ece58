"""Peak memory and time of ``decode_audio`` on a decompression bomb and on a normal song, this
code against an earlier revision's, each case in a fresh subprocess.

    .venv/bin/python benchmarks/audio_bomb.py [--against a32f701]

The bomb is a FLAC whose header honestly declares 19.8 min × 8 channels × 96 kHz of near-silence
(one non-zero sample a minute): FLAC stores it in about a megabyte, decoded it is 3.6 GB of
float32. It is written with soundfile one second at a time, so building it needs no memory. The
normal song is 4 min of the fixture recordings as 44.1 kHz stereo MP3. Peak RSS is the child's
``ru_maxrss`` after the decode and tracemalloc's peak during it. The bomb is also decoded with
the sample limit lifted, to show that streaming keeps memory to the 16 kHz mono output. Writes
``benchmarks/results/audio_bomb.md``.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

OUT = ROOT / "benchmarks" / "out" / "audio_bomb"
RESULTS = ROOT / "benchmarks" / "results" / "audio_bomb.md"


def build_bomb(path: Path, *, seconds: int = 1188, sr: int = 96000, ch: int = 8) -> Path:
    import soundfile as sf

    if not path.exists():
        block = np.zeros((sr, ch), dtype=np.int16)
        with sf.SoundFile(path, "w", samplerate=sr, channels=ch, format="FLAC") as f:
            for i in range(seconds):
                block[0] = 1 if i % 60 == 0 else 0
                f.write(block)
    return path


def build_song(path: Path, *, seconds: int = 240) -> Path:
    import librosa
    import soundfile as sf

    if not path.exists():
        clips = [sf.read(p, dtype="float32")[0] for p in
                 sorted((ROOT / "tests" / "fixtures" / "audio").glob("*.ogg"))]
        y = librosa.resample(np.concatenate(clips), orig_sr=22050, target_sr=44100)
        y = np.tile(y, int(np.ceil(seconds * 44100 / y.size)))[: seconds * 44100]
        sf.write(path, np.stack([y, 0.9 * y], axis=1), 44100, format="MP3")
    return path


def load_decoder(rev: str):
    if rev == "current":
        from songlens.content.audio_io import decode_audio

        return decode_audio
    src = subprocess.run(["git", "show", f"{rev}:songlens/content/audio_io.py"], cwd=ROOT,
                         capture_output=True, text=True, check=True).stdout
    path = OUT / f"audio_io_{rev}.py"
    path.write_text(src, "utf-8")
    spec = importlib.util.spec_from_file_location(f"audio_io_{rev}", path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod
    spec.loader.exec_module(mod)
    return mod.decode_audio


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child(rev: str, path: Path, max_samples: int | None) -> None:
    """One decode in this fresh process (after a warm-up decode of a 2 s WAV, so that lazy
    imports are not timed); prints a JSON line."""
    import io
    import tracemalloc

    import soundfile as sf

    from songlens.errors import SonglensError

    decode = load_decoder(rev)
    warm = io.BytesIO()
    sf.write(warm, np.random.default_rng(0).uniform(-0.1, 0.1, (88200, 2)), 44100, format="WAV")
    decode(warm.getvalue())
    kwargs = {"max_decoded_samples": max_samples} if max_samples else {}
    data = path.read_bytes()
    base = _rss_mb()
    tracemalloc.start()
    t0 = time.perf_counter()
    try:
        a = decode(data, filename=path.name, **kwargs)
        outcome = f"decoded {a.duration_s:.1f} s"
    except SonglensError as exc:
        outcome = f"{exc.code}"
    seconds = time.perf_counter() - t0
    traced = tracemalloc.get_traced_memory()[1] / 2**20
    print(json.dumps({"seconds": seconds, "peak_mb": _rss_mb(), "base_mb": base,
                      "traced_mb": traced, "outcome": outcome}))


def run_case(rev: str, path: Path, timeout: float, max_samples: int | None = None) -> dict:
    cmd = [sys.executable, __file__, "--child", rev, str(path), str(max_samples or 0)]
    try:
        got = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=ROOT)
    except subprocess.TimeoutExpired:
        return {"seconds": timeout, "peak_mb": float("nan"), "base_mb": float("nan"),
                "traced_mb": float("nan"), "outcome": f"killed after {timeout:.0f} s"}
    lines = [ln for ln in got.stdout.splitlines() if ln.startswith("{")]
    if not lines:
        return {"seconds": float("nan"), "peak_mb": float("nan"), "base_mb": float("nan"),
                "traced_mb": float("nan"), "outcome": f"crashed (rc {got.returncode})"}
    return json.loads(lines[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--against", default="a32f701")
    ap.add_argument("--timeout", type=float, default=120.0)
    ap.add_argument("--child", nargs=3, metavar=("REV", "FILE", "MAX"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args.child[0], Path(args.child[1]), int(args.child[2]) or None)
        return
    OUT.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    files = {"bomb": build_bomb(OUT / "bomb.flac"), "song": build_song(OUT / "song.mp3")}
    no_limit = 10**12
    cases = [(files["bomb"], "FLAC bomb (19.8 min × 8 ch × 96 kHz)", None),
             (files["bomb"], "FLAC bomb, sample limit lifted", no_limit),
             (files["song"], "song (4 min, 44.1 kHz stereo MP3)", None)]
    rows = []
    for path, label, max_samples in cases:
        revs = [(args.against, f"`{args.against}`")] if max_samples is None else []
        for rev, name in (*revs, ("current", "this code")):
            r = run_case(rev, path, args.timeout, max_samples)
            rows.append(f"| {label}, {path.stat().st_size / 1e3:.0f} kB | {name} | "
                        f"{r['peak_mb']:.0f} | {r['peak_mb'] - r['base_mb']:.0f} | "
                        f"{r['traced_mb']:.0f} | {r['seconds']:.2f} | {r['outcome']} |")
            print(rows[-1], flush=True)
    model = next((ln.split(":", 1)[1].strip() for ln in subprocess.run(
        ["lscpu"], capture_output=True, text=True).stdout.splitlines()
        if ln.startswith("Model name")), platform.processor())
    load = Path("/proc/loadavg").read_text().split()[:3]
    text = "\n".join([
        "# Decoding a decompression bomb", "",
        f"Command: `.venv/bin/python benchmarks/audio_bomb.py --against {args.against}`  ",
        f"Date: {time.strftime('%Y-%m-%d %H:%M')}, Python {platform.python_version()}, "
        f"{model}, load {' '.join(load)}  ",
        "Each decode in a fresh subprocess after a warm-up decode; peak RSS = the child's "
        "ru_maxrss (imports included), its rise = over the RSS before the decode, traced = "
        "tracemalloc's peak during the decode (numpy buffers). Default limits (20 min, "
        "192 000 samples × channels per second of it) unless lifted. "
        f"Whole run: {time.perf_counter() - t0:.0f} s.", "",
        "| input | code | peak RSS MB | rise MB | traced MB | seconds | outcome |",
        "|---|---|---|---|---|---|---|", *rows, ""])
    RESULTS.write_text(text, "utf-8")
    print(text)


if __name__ == "__main__":
    main()
