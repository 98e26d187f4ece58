"""Named-instrument precision and recall on rendered General MIDI, per instrument family.

Each piece features one instrument family (melody and chords on the same GM programme), alone or
over acoustic bass and drums, rendered with FluidSynth and FluidR3_GM at 16 kHz. Two disjoint sets:

* TUNING — seeds ``--tune-seed`` (pieces 0..n-1): the per-instrument thresholds of
  ``configs/instruments.yaml`` are chosen on it (``--write-thresholds``);
* HELD-OUT — seed ``--held-seed`` (other melodies, keys, tempos, programme variants and
  velocities): precision and recall are reported on it, with the thresholds as they are in the
  config, never re-tuned on it.

The truth of a piece is its featured family plus ``drums`` when it has drums. The song's
``instruments`` (:func:`songlens.content.tagging.instruments.detect_instruments`) name the
instruments found. Families no musicnn output names (organ, brass, koto, shamisen, erhu …) are
rendered too: their recall is 0 by construction, and what the model calls them instead is shown.

    python benchmarks/instruments_accuracy.py --n 3 --cache /tmp/instr --write-thresholds
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import mido
import numpy as np
import torch

from songlens.content.audio_io import load_audio_file
from songlens.content.musicnn.frontend import SR
from songlens.content.musicnn.tagger import MODELS, MusicnnTagger, musicnn_patches
from songlens.content.resources import Resources
from songlens.content.tagging.instruments import (
    detect_instruments,
    tune_thresholds,
    write_thresholds,
)

SOUNDFONT = Path("/usr/share/sounds/sf2/FluidR3_GM.sf2")
TPB = 480
#: family → GM programmes (0-based) that play it; the truth name is the family
FAMILIES: dict[str, tuple[int, ...]] = {
    "piano": (0, 1, 2), "guitar": (24, 25, 26, 27), "strings": (48, 49, 44),
    "violin": (40, 110), "cello": (42,), "flute": (73, 72, 74), "organ": (16, 19, 20),
    "harp": (46,), "harpsichord": (6,), "brass": (61, 56, 57), "sitar": (104,),
    "koto": (107,), "shamisen": (106,),
}
SCALES = ((0, 2, 4, 5, 7, 9, 11), (0, 2, 3, 5, 7, 8, 10))
KICK, SNARE, HAT = 36, 38, 42


def _add(track: list, start: int, dur: int, ch: int, note: int, vel: int) -> None:
    track.append((start, mido.Message("note_on", channel=ch, note=note, velocity=vel)))
    track.append((start + dur, mido.Message("note_off", channel=ch, note=note, velocity=0)))


def _track(events: list, header: list) -> mido.MidiTrack:
    tr, now = mido.MidiTrack(header), 0
    for t, msg in sorted(events, key=lambda e: (e[0], e[1].type == "note_on")):
        tr.append(msg.copy(time=t - now))
        now = t
    return tr


def make_piece(family: str, rng: np.random.Generator, *, band: bool, seconds: float = 15.0
               ) -> mido.MidiFile:
    """``family`` plays melody and chords; ``band`` adds acoustic bass and drums."""
    prog = int(rng.choice(FAMILIES[family]))
    tonic, scale = int(rng.integers(12)), SCALES[int(rng.integers(2))]
    bpm = float(rng.uniform(66, 150))
    n_bars = max(4, int(seconds / (4 * 60 / bpm)))
    mel, chords, bass, drums = [], [], [], []
    pos = int(rng.integers(7))
    low = 48 if family in ("cello",) else 60
    for b in range(n_bars):
        t0, degree = b * 4 * TPB, int(rng.choice([0, 3, 4, 5]))
        triad = [scale[(degree + k) % 7] + 12 * ((degree + k) // 7) for k in (0, 2, 4)]
        vel = int(rng.integers(55, 90))
        if rng.random() < 0.5:
            for n in triad:
                _add(chords, t0, 4 * TPB - 30, 1, low - 12 + tonic + n, vel)
        else:
            for beat in range(4):
                for n in triad:
                    _add(chords, t0 + beat * TPB, TPB - 40, 1, low - 12 + tonic + n, vel - 10)
        t = t0
        while t < t0 + 4 * TPB:
            dur = min(int(rng.choice([TPB // 2, TPB, TPB, 2 * TPB])), t0 + 4 * TPB - t)
            pos = int(np.clip(pos + rng.choice([-2, -1, 1, 1, 2]), 0, 13))
            _add(mel, t, dur - 20, 0, low + tonic + scale[pos % 7] + 12 * (pos // 7),
                 int(rng.integers(75, 110)))
            t += dur
        if band:
            for beat in range(4):
                tb = t0 + beat * TPB
                _add(bass, tb, TPB - 30, 2, 36 + (tonic + triad[0]) % 12, 85)
                _add(drums, tb, 60, 9, KICK if beat % 2 == 0 else SNARE, 100)
                _add(drums, tb, 60, 9, HAT, 70)
                _add(drums, tb + TPB // 2, 60, 9, HAT, 55)
    header = [mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(bpm), time=0)]
    mid = mido.MidiFile(ticks_per_beat=TPB)
    mid.tracks.append(_track(mel, header + [mido.Message("program_change", channel=0,
                                                          program=prog, time=0)]))
    mid.tracks.append(_track(chords, [mido.Message("program_change", channel=1, program=prog,
                                                   time=0)]))
    if band:
        mid.tracks.append(_track(bass, [mido.Message("program_change", channel=2, program=32,
                                                     time=0)]))
        mid.tracks.append(_track(drums, []))
    return mid


def render(mid: mido.MidiFile) -> np.ndarray:
    with tempfile.TemporaryDirectory() as tmp:
        mp, wav = Path(tmp) / "p.mid", Path(tmp) / "p.wav"
        mid.save(mp)
        subprocess.run(["fluidsynth", "-ni", "-q", "-g", "0.6", "-r", str(SR), "-F", str(wav),
                        str(SOUNDFONT), str(mp)], check=True, capture_output=True)
        return load_audio_file(wav, max_duration_s=600).y


def collect(seed: int, n: int, cache: Path, taggers: dict[str, MusicnnTagger]) -> list[dict]:
    """Render and tag ``n`` pieces per family with ``seed`` (cached as one npz per set)."""
    path = cache / f"set_{seed}_{n}.npz"
    if path.exists():
        data = np.load(path, allow_pickle=True)
        return list(data["items"])
    rng = np.random.default_rng(seed)
    items = []
    for family in FAMILIES:
        for i in range(n):
            band = i % 2 == 1
            y = render(make_piece(family, rng, band=band))
            patches = musicnn_patches(y)
            grams = {m: t.analyse_patches(patches).patch_probs for m, t in taggers.items()}
            items.append({"family": family, "band": band,
                          "truth": {family} | ({"drums"} if band else set()),
                          "taggram": grams, "hop_s": float(patches.shape[1] * 256 / SR)})
        print(f"  seed {seed}: {family} done", flush=True)
    cache.mkdir(parents=True, exist_ok=True)
    np.savez(path, items=np.array(items, dtype=object))
    return items


def evaluate(items: list[dict], vocab, labels) -> tuple[dict, Counter]:
    """Per family: tp/fp/fn counts of named instruments; what unnamed families were called."""
    counts: dict[str, Counter] = {}
    confusions: Counter = Counter()
    for it in items:
        found = {i.name for i in detect_instruments(it["taggram"], labels, vocabulary=vocab,
                                                    hop_s=it["hop_s"])}
        for name in found | it["truth"]:
            c = counts.setdefault(name, Counter())
            c["tp" if name in found and name in it["truth"] else
              "fp" if name in found else "fn"] += 1
        for name in found - it["truth"]:
            confusions[(it["family"], name)] += 1
    return counts, confusions


def table(counts: dict, families) -> list[str]:
    rows = ["| instrument | pieces with it | named right | named wrongly | precision | recall |",
            "|---|---|---|---|---|---|"]
    tot = Counter()
    for name in families:
        c = counts.get(name, Counter())
        tot.update(c)
        p = c["tp"] / (c["tp"] + c["fp"]) if c["tp"] + c["fp"] else float("nan")
        r = c["tp"] / (c["tp"] + c["fn"]) if c["tp"] + c["fn"] else float("nan")
        rows.append(f"| {name} | {c['tp'] + c['fn']} | {c['tp']} | {c['fp']} | {p:.2f} | "
                    f"{r:.2f} |")
    p = tot["tp"] / max(1, tot["tp"] + tot["fp"])
    r = tot["tp"] / max(1, tot["tp"] + tot["fn"])
    rows.append(f"| **all** | {tot['tp'] + tot['fn']} | {tot['tp']} | {tot['fp']} | {p:.2f} | "
                f"{r:.2f} |")
    return rows


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
    ap.add_argument("--n", type=int, default=6, help="pieces per family and set")
    ap.add_argument("--tune-seed", type=int, default=0)
    ap.add_argument("--held-seed", type=int, default=1000)
    ap.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "instr_bench")
    ap.add_argument("--write-thresholds", action="store_true",
                    help="choose thresholds on the TUNING set and write them to the config")
    ap.add_argument("--out", type=Path)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    t0 = time.perf_counter()
    taggers = {m: MusicnnTagger(m) for m in MODELS}
    labels = {m: t.tags for m, t in taggers.items()}
    tune = collect(args.tune_seed, args.n, args.cache, taggers)
    held = collect(args.held_seed, args.n, args.cache, taggers)
    res = Resources()
    vocab = res.instruments
    if args.write_thresholds:
        chosen = tune_thresholds([(it["taggram"], it["truth"]) for it in tune], labels,
                                 vocabulary=vocab)
        write_thresholds(chosen)
        print("thresholds:", chosen)
        vocab = Resources().instruments
    names = [*FAMILIES, "drums"]
    lines = [f"Command: `python benchmarks/instruments_accuracy.py --n {args.n} "
             f"--tune-seed {args.tune_seed} --held-seed {args.held_seed}`; "
             f"{dt.date.today()}, {_cpu()}, "
             f"load {os.getloadavg()[0]:.1f}, {time.perf_counter() - t0:.0f} s.", ""]
    for label, items in (("TUNING (thresholds chosen here)", tune),
                         ("HELD-OUT (never tuned on)", held)):
        counts, conf = evaluate(items, vocab, labels)
        lines += [f"**{label}** — {len(items)} pieces, {args.n} per family "
                  f"(half solo, half over bass + drums):", "", *table(counts, names), ""]
        if "HELD" in label:
            lines.append("Named wrongly, by featured family (held-out): " + ", ".join(
                f"{fam}→{name} {n}" for (fam, name), n in conf.most_common(20)) + ".")
    text = "\n".join(lines)
    print(text)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
