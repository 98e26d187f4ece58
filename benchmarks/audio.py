"""Real-time factor of songlens' audio stage on a 4-minute song, optionally vs the original musicnn.

The song is 6 x 40 s of real recorded music from Debian's music packages (see
benchmarks/reference/musicnn_calibration.py for how to fetch them), written as 44.1 kHz Ogg Vorbis
so decoding includes resampling, as for a real upload. Without those packages the test fixtures
(tests/fixtures/musicnn/*.wav) are tiled to 4 minutes instead.

Stages timed (best of ``--repeat`` runs): decode (``decode_audio``), audio features
(``songlens.content.features.audio_features``, skipped if that module is absent), the musicnn
front-end (log-mel patches, shared by both models), MSD and MTT taggers, embedding pooling, and
the whole ``MusicnnEncoder.analyse`` + decode + features stage.

With ``--reference /tmp/tfref/bin/python`` the original TensorFlow musicnn (``extractor()`` of the
wheel, one call per model, as a user of the original would run it; each call decodes the file,
computes the mel with librosa, builds the graph and restores the checkpoint) runs on the same file
in the same process tree, and the speed ratio per audio-minute is reported.

    .venv/bin/python benchmarks/audio.py --reference /tmp/tfref/bin/python
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import numpy as np
import soundfile as sf
import torch

from songlens.content.audio_io import decode_audio
from songlens.content.musicnn.tagger import musicnn_patches
from songlens.embeddings.musicnn_encoder import MusicnnEncoder

ROOT = Path(__file__).resolve().parents[1]
REFERENCE_SCRIPT = ROOT / "benchmarks" / "reference" / "musicnn_tf_reference.py"
DEBIAN_TRACKS = (
    "usr/share/games/fretsonfire/data/songs/muldjord/chaos_god/song.ogg",
    "usr/share/games/wesnoth/1.16/data/core/music/traveling_minstrels.ogg",
    "usr/share/scummvm/drascula/audio/track5.ogg",
    "usr/share/games/fretsonfire/data/songs/sectoid/Feelings/song.ogg",
    "usr/share/hyperrogue/music/hr-savino-caribbean.ogg",
    "usr/share/games/wesnoth/1.16/data/core/music/love_theme.ogg",
)

try:  # written by another worker; the benchmark runs without it
    from songlens.content.features import audio_features
except ImportError:  # pragma: no cover - depends on the checkout
    audio_features = None


def build_song(path: Path, debian_root: Path, seconds: float = 240.0) -> str:
    sr = 44100
    seg = int(seconds / len(DEBIAN_TRACKS) * sr)
    parts: list[np.ndarray] = []
    if all((debian_root / t).is_file() for t in DEBIAN_TRACKS):
        for t in DEBIAN_TRACKS:
            with sf.SoundFile(debian_root / t) as f:
                if f.samplerate != sr:
                    raise SystemExit(f"{t}: expected 44.1 kHz, got {f.samplerate}")
                f.seek(min(20 * sr, max(0, f.frames - seg)))
                y = f.read(seg, dtype="float32", always_2d=True)
            parts.append(y.mean(axis=1))
        source = f"6 x 40 s excerpts of Debian music packages ({', '.join(DEBIAN_TRACKS)})"
    else:
        import librosa

        clips = sorted((ROOT / "tests" / "fixtures" / "musicnn").glob("*.wav"))
        ys = [librosa.resample(sf.read(c, dtype="float32")[0], orig_sr=16000, target_sr=sr)
              for c in clips]
        while sum(p.size for p in parts) < seconds * sr:
            parts.extend(ys)
        source = "tests/fixtures/musicnn clips tiled (Debian packages not found)"
    y = np.concatenate(parts)[: int(seconds * sr)]
    # libsndfile's Vorbis encoder crashes on very large single writes: write in 1 s blocks
    with sf.SoundFile(path, "w", samplerate=sr, channels=1, format="OGG", subtype="VORBIS") as f:
        for i in range(0, y.size, sr):
            f.write(y[i:i + sr])
    return source


def best(fn, repeat: int):
    times, out = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return min(times), out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--reference", help="python of a TensorFlow env with musicnn (see README)")
    ap.add_argument("--debian-root", type=Path, default=Path("/tmp/debmusic/x"))
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "audio.md")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)

    song = Path("/tmp/songlens_bench_4min.ogg")
    source = build_song(song, args.debian_root)
    data = song.read_bytes()
    load0 = os.getloadavg()

    t0 = time.perf_counter()
    encoder = MusicnnEncoder()
    t_load = time.perf_counter() - t0
    taggers = {t.model: t for t in encoder.taggers}
    encoder.analyse(np.zeros(16000 * 3, np.float32) + 1e-3)  # warm-up

    stages: dict[str, float] = {}
    stages["decode"], dec = best(lambda: decode_audio(data, filename=song.name), args.repeat)
    y = dec.y
    minutes = y.size / 16000 / 60
    stages["musicnn front-end"], patches = best(lambda: musicnn_patches(y), args.repeat)
    outs = {}
    for m, tagger in taggers.items():
        stages[f"{m} model"], outs[m] = best(lambda t=tagger: t.analyse_patches(patches),
                                             args.repeat)
    tag_probs = {m: o.tag_probs() for m, o in outs.items()}
    flat = {k: v for d in tag_probs.values() for k, v in d.items()}
    if audio_features is not None:
        stages["audio features"], _ = best(lambda: audio_features(y=y, sr=16000, tag_probs=flat),
                                           args.repeat)

    def whole() -> None:
        d = decode_audio(data, filename=song.name)
        a = encoder.analyse(d.y)
        if audio_features is not None:
            merged = {k: v for p in a.tag_probs.values() for k, v in p.items()}
            audio_features(y=d.y, sr=16000, tag_probs=merged)

    stages["whole audio stage"], _ = best(whole, args.repeat)

    ref: dict[str, float] | None = None
    ref_model: dict[str, float] = {}
    ref_err = None
    if args.reference:
        t0 = time.perf_counter()
        proc = subprocess.run([args.reference, str(REFERENCE_SCRIPT), str(song), "--time-only"],
                              capture_output=True, text=True, check=False,
                              env=os.environ | {"TF_CPP_MIN_LOG_LEVEL": "2"})
        wall = time.perf_counter() - t0
        last = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
        if proc.returncode == 0 and last:
            res = json.loads(last[-1])
            ref = res["seconds"] | {"process wall (incl. TF import)": wall}
            ref_model = res.get("model_only_seconds", {})
        else:
            ref_err = proc.stderr[-2000:]
    load1 = os.getloadavg()

    per_min = {k: v / minutes for k, v in stages.items()}
    port_models = {m: stages["decode"] + stages["musicnn front-end"] + stages[f"{m} model"]
                   for m in taggers}
    lines = [
        "# Audio stage: real-time factor, and the PyTorch musicnn port vs the original",
        "",
        f"- date: {datetime.now().astimezone().isoformat(timespec='seconds')}",
        "- machine: 2-core x86_64 CPU, 24 GiB, no GPU (shared with other jobs: load average "
        f"{load0[0]:.1f} before, {load1[0]:.1f} after)",
        f"- command: `.venv/bin/python benchmarks/audio.py{' --reference ' + args.reference if args.reference else ''}`",  # noqa: E501
        f"- python {platform.python_version()}, torch {torch.__version__}, "
        f"threads={args.threads}, best of {args.repeat}",
        f"- input: {minutes:.2f} min, 44.1 kHz Ogg Vorbis, {source}",
        f"- model load (both checkpoints read + converted, once per process): {t_load:.2f} s",
        "",
        "| stage | seconds | s per audio-minute | real-time factor |",
        "|---|---:|---:|---:|",
    ]
    for k, v in stages.items():
        lines.append(f"| {k} | {v:.2f} | {per_min[k]:.2f} | {v / (minutes * 60):.4f} |")
    if ref is not None:
        lines += ["", "## Original TensorFlow musicnn on the same file", "",
                  "Original: `musicnn.extractor.extractor(file, model=m, extract_features=False)` "
                  "per model (librosa decode + resample + mel, TF1 graph build, checkpoint "
                  "restore, batch size 1), TensorFlow 2.15.1 CPU with oneDNN. Port: decode + "
                  "front-end + that model.", "",
                  "| model | original s | port s | original s/min | port s/min | port speed-up |",
                  "|---|---:|---:|---:|---:|---:|"]
        for m in taggers:
            if m in ref:
                lines.append(f"| {m} | {ref[m]:.2f} | {port_models[m]:.2f} | "
                             f"{ref[m] / minutes:.2f} | {port_models[m] / minutes:.2f} | "
                             f"{ref[m] / port_models[m]:.2f}x |")
        both_ref = sum(ref[m] for m in taggers if m in ref)
        both_port = stages["decode"] + stages["musicnn front-end"] + sum(
            stages[f"{m} model"] for m in taggers)
        lines.append(f"| both models | {both_ref:.2f} | {both_port:.2f} | "
                     f"{both_ref / minutes:.2f} | {both_port / minutes:.2f} | "
                     f"{both_ref / both_port:.2f}x |")
        lines.append("")
        lines.append(f"TF process wall time including `import tensorflow`: "
                     f"{ref['process wall (incl. TF import)']:.1f} s.")
        if ref_model:
            lines += ["", "Model only (no decode, mel, graph build or restore; TF: one patch per "
                      "`sess.run` as extractor feeds it, best of 2; port: `analyse_patches`, "
                      "batch size 2):", "",
                      "| model | original ms/patch | port ms/patch | port speed-up |",
                      "|---|---:|---:|---:|"]
            n = patches.shape[0]
            for m in taggers:
                if m in ref_model:
                    lines.append(f"| {m} | {1000 * ref_model[m] / n:.1f} | "
                                 f"{1000 * stages[f'{m} model'] / n:.1f} | "
                                 f"{ref_model[m] / stages[f'{m} model']:.2f}x |")
    elif ref_err:
        lines += ["", "Reference run failed:", "", "```", ref_err, "```"]
    lines += ["", "Notes: outputs are the same as the original's (tests/content/test_musicnn.py: "
              "tag probabilities within 1e-5, penultimate cosine 1.0000 on three real clips). "
              "The machine is shared with other workers, so timings vary by about +-30 % "
              "between runs; the load average above says how busy it was. "
              "`audio features` is songlens.content.features (another module), included in the "
              "whole stage."]
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
