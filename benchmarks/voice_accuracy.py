"""Voice detection accuracy (:func:`songlens.content.tagging.voice.detect_voice`) on real
recordings with and without a voice.

Data (Debian packages, extracted with ``dpkg-deb -x`` into one folder):

* voice — ``klettres-data``: letters and syllables read by native speakers of ~20 languages
  (KLettres, GPL), joined into one 15 s clip per language; each also mixed at 0 dB over a real
  instrumental recording (a voice over music);
* no voice — real instrumental recordings: ``hyperrogue-music``, ``wesnoth-1.16-music``
  (orchestral game soundtracks) and the lead-guitar stems (``guitar.ogg``) of the Frets on Fire
  song packs, 15 s from the middle;
* shown, not scored — the Frets on Fire backing stems (``song.ogg``): whether they have a
  singer is not documented anywhere we could read.

The languages and instrumental tracks are split in two by a fixed order: the threshold and the
quantile of ``voice:`` in ``configs/instruments.yaml`` are chosen on TUNING
(``--write-config``), accuracy is reported on HELD-OUT.

    # hyperrogue-music, wesnoth-1.16-music and the fretsonfire songs installed (scripts/setup.sh)
    mkdir -p /tmp/voicedata && cd /tmp/voicedata && apt-get download klettres-data && \\
        dpkg-deb -x klettres-data_*.deb x/
    python benchmarks/voice_accuracy.py /tmp/voicedata/x --write-config
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import re
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from songlens.content.audio_io import load_audio_file
from songlens.content.musicnn.tagger import MODELS, MusicnnTagger, musicnn_patches
from songlens.content.resources import Resources
from songlens.content.tagging.voice import detect_voice
from songlens.content.taxonomy import config_path

SR = 16000
CLIP_S = 15.0
FOF = Path("/usr/share/games/fretsonfire/data/songs")


def _load(path: Path) -> np.ndarray:
    return load_audio_file(path, max_duration_s=3600, min_duration_s=0.1).y.astype(np.float32)


def _middle(y: np.ndarray) -> np.ndarray:
    n = int(CLIP_S * SR)
    start = max(0, (y.size - n) // 2)
    return y[start:start + n]


def speech_clips(root: Path) -> dict[str, np.ndarray]:
    """One 15 s clip per KLettres language: its recordings in name order, 0.25 s apart."""
    out = {}
    for lang in sorted(p for p in (root / "usr/share/klettres").iterdir() if p.is_dir()):
        parts, size = [], 0
        for f in sorted(lang.rglob("*.ogg")):
            y = _load(f)
            parts += [y, np.zeros(SR // 4, np.float32)]
            size += y.size + SR // 4
            if size >= CLIP_S * SR:
                break
        if size >= 8 * SR:
            out[lang.name] = np.concatenate(parts)[: int(CLIP_S * SR)]
    return out


def instrumental_clips() -> dict[str, np.ndarray]:
    """Installed instrumental recordings (hyperrogue-music, wesnoth-1.16-music, Frets on Fire
    guitar stems), 15 s from the middle of each."""
    paths = sorted(Path("/usr/share/hyperrogue/music").glob("*.ogg")) + sorted(
        Path("/usr/share/games/wesnoth").rglob("music/*.ogg")) + sorted(
        FOF.glob("*/*/guitar.ogg"))
    return {str(p.relative_to(p.parents[2])): _middle(_load(p)) for p in paths
            if p.stat().st_size > 200_000}


def _rms(y: np.ndarray) -> float:
    return float(np.sqrt(np.mean(y.astype(np.float64) ** 2)) + 1e-9)


def mix(voice: np.ndarray, music: np.ndarray) -> np.ndarray:
    n = min(voice.size, music.size)
    y = music[:n] + voice[:n] * (_rms(music[:n]) / _rms(voice[:n]))
    return (y / max(1e-6, float(np.abs(y).max())) * 0.9).astype(np.float32)


def tag(clips: dict[str, np.ndarray], taggers, cache: Path, name: str) -> dict[str, dict]:
    path = cache / f"voice_{name}.npz"
    if path.exists():
        return dict(np.load(path, allow_pickle=True)["grams"].item())
    out = {}
    for key, y in clips.items():
        patches = musicnn_patches(y)
        out[key] = {m: t.analyse_patches(patches).patch_probs for m, t in taggers.items()}
    cache.mkdir(parents=True, exist_ok=True)
    np.savez(path, grams=np.array(out, dtype=object))
    return out


def split(keys: list[str]) -> tuple[list[str], list[str]]:
    keys = sorted(keys)
    return keys[0::2], keys[1::2]


def _cpu() -> str:
    """The CPU's model name (``lscpu``'s), for the results line."""
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
    except OSError:
        return platform.machine()
    return next((ln.split(":", 1)[1].strip() for ln in lines if ln.startswith("model name")),
                platform.machine())


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("root", type=Path, help="folder the Debian packages were extracted into")
    ap.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "voice_bench")
    ap.add_argument("--write-config", action="store_true")
    ap.add_argument("--out", type=Path)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    t0 = time.perf_counter()
    taggers = {m: MusicnnTagger(m) for m in MODELS}
    labels = {m: t.tags for m, t in taggers.items()}
    speech = speech_clips(args.root)
    music = instrumental_clips()
    mkeys = sorted(music)
    over = {f"{lang}+{mkeys[i % len(mkeys)]}": mix(v, music[mkeys[i % len(mkeys)]])
            for i, (lang, v) in enumerate(sorted(speech.items()))}
    grams = {"speech": tag(speech, taggers, args.cache, "speech"),
             "voice over music": tag(over, taggers, args.cache, "over"),
             "instrumental": tag(music, taggers, args.cache, "music"),
             "fof song stems": tag({str(p.relative_to(FOF)): _middle(_load(p))
                                    for p in sorted(FOF.glob("*/*/song.ogg"))},
                                   taggers, args.cache, "fof")}
    truth = {"speech": True, "voice over music": True, "instrumental": False}
    s_tune, s_held = split(list(speech))
    m_tune, m_held = split(mkeys)

    def in_tune(group: str, key: str) -> bool:
        lang = key.split("+")[0]
        return lang in s_tune if group != "instrumental" else key in m_tune

    vocab = Resources().instruments
    hop = 187 * 256 / SR

    def probs(group: str, which: bool) -> list[float]:
        return [detect_voice(g, labels, vocabulary=vocab, hop_s=hop).probability
                for k, g in grams[group].items() if in_tune(group, k) == which]

    if args.write_config:
        best = None
        for q in (0.5, 0.75, 0.9):
            vocab.voice["quantile"] = q
            pos = probs("speech", True) + probs("voice over music", True)
            neg = probs("instrumental", True)
            for thr in np.round(np.arange(0.2, 0.9, 0.01), 3):
                acc = (sum(p >= thr for p in pos) + sum(p < thr for p in neg)) / (
                    len(pos) + len(neg))
                # balanced accuracy; ties to the threshold nearest 0.5
                bal = 0.5 * (np.mean([p >= thr for p in pos]) + np.mean([p < thr for p in neg]))
                key = (round(float(bal), 4), -abs(thr - 0.5))
                if best is None or key > best[0]:
                    best = (key, q, float(thr), acc)
        _, q, thr, _ = best
        path = config_path("instruments.yaml")
        text = path.read_text(encoding="utf-8")
        text = re.sub(r"(?m)^  quantile: .*$", f"  quantile: {q}", text)
        text = re.sub(r"(?m)^  threshold: .*$", f"  threshold: {thr:.2f}", text)
        path.write_text(text, encoding="utf-8")
        print(f"chose quantile {q}, threshold {thr:.2f} on TUNING")
        vocab = Resources().instruments
    thr = float(vocab.voice["threshold"])
    lines = [f"Command: `python benchmarks/voice_accuracy.py /tmp/voicedata/x`; "
             f"{dt.date.today()}, {_cpu()}, "
             f"load {os.getloadavg()[0]:.1f}, {time.perf_counter() - t0:.0f} s. Voice config: "
             f"quantile {vocab.voice['quantile']}, threshold {thr:.2f} (chosen on TUNING).", "",
             "| set | group | recordings | has a voice (truth) | said voice | accuracy | "
             "median P(voice) |", "|---|---|---|---|---|---|---|"]
    for which, label in ((True, "TUNING"), (False, "HELD-OUT")):
        total = right = 0
        for group, has in truth.items():
            ps = probs(group, which)
            said = sum(p >= thr for p in ps)
            ok = said if has else len(ps) - said
            total, right = total + len(ps), right + ok
            lines.append(f"| {label} | {group} | {len(ps)} | {'yes' if has else 'no'} | {said} | "
                         f"{ok}/{len(ps)} = {ok / max(1, len(ps)):.2f} | "
                         f"{np.median(ps) if ps else float('nan'):.2f} |")
        lines.append(f"| {label} | **all** | {total} | | | {right}/{total} = "
                     f"{right / max(1, total):.2f} | |")
    fof = {k: detect_voice(g, labels, vocabulary=vocab, hop_s=hop) for k, g in
           grams["fof song stems"].items()}
    lines += ["", "Frets on Fire backing stems (song.ogg; truth unknown, shown only): " + ", ".join(
        f"{k.split('/')[1]} {v.probability:.2f}" for k, v in fof.items()) + "."]
    text = "\n".join(lines)
    print(text)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
