"""Tempo and key accuracy of :func:`songlens.content.features.audio_features` on rendered MIDI.

Writes General MIDI pieces whose tempo and key are known by construction (melody + chords + bass +
drums, all 24 keys, 60–180 BPM, varied GM instruments and drum grooves, a few without drums),
renders them to 16 kHz audio with FluidSynth and the FluidR3 GM soundfont, decodes them with
:func:`songlens.content.audio_io.decode_audio` and scores the estimates:

* tempo Accuracy1: within 4 % of the true BPM; Accuracy2: also allowing ×2, ×½, ×3, ×⅓ errors;
* key: exact accuracy and the MIREX weighted score (``mir_eval.key.weighted_score``: 1 exact,
  0.5 fifth above, 0.3 relative, 0.2 parallel).

Requirements (benchmark only): ``apt-get install -y fluidsynth fluid-soundfont-gm`` and
``pip install mido==1.3.3 mir_eval==0.8.2``.

Usage::

    python benchmarks/features_accuracy.py --n 48 --seed 0 --out benchmarks/results/features.md
"""

from __future__ import annotations

import argparse
import datetime as dt
import math
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import mido
import numpy as np
from mir_eval.key import weighted_score

from songlens.content.audio_io import load_audio_file
from songlens.content.features import (
    DEFAULT_KEY_PROFILE,
    KEY_NAMES,
    KEY_PROFILES,
    audio_features,
)

SOUNDFONT = Path("/usr/share/sounds/sf2/FluidR3_GM.sf2")
TPB = 480  # MIDI ticks per beat

MELODY_PROGRAMS = {0: "piano", 4: "e-piano", 11: "vibraphone", 24: "nylon guitar",
                   26: "jazz guitar", 40: "violin", 56: "trumpet", 65: "alto sax", 71: "clarinet",
                   73: "flute", 80: "square lead", 81: "saw lead"}
CHORD_PROGRAMS = {0: "piano", 4: "e-piano", 16: "drawbar organ", 24: "nylon guitar",
                  25: "steel guitar", 48: "strings", 61: "brass", 88: "new age pad",
                  89: "warm pad", 19: "church organ"}
BASS_PROGRAMS = {32: "acoustic bass", 33: "finger bass", 34: "pick bass", 38: "synth bass",
                 42: "cello"}

MAJOR_SCALE = (0, 2, 4, 5, 7, 9, 11)
MINOR_SCALE = (0, 2, 3, 5, 7, 8, 10)  # natural minor; V chords raise the 7th (harmonic minor)
# Progressions as (degree, quality) with degrees 0..6 of the scale.
MAJOR_PROGS = [
    [(0, "M"), (4, "M"), (5, "m"), (3, "M")],  # I V vi IV
    [(0, "M"), (3, "M"), (4, "M"), (0, "M")],  # I IV V I
    [(0, "M"), (5, "m"), (3, "M"), (4, "M")],  # I vi IV V
    [(1, "m"), (4, "M"), (0, "M"), (0, "M")],  # ii V I I
    [(0, "M"), (2, "m"), (3, "M"), (4, "M")],  # I iii IV V
]
MINOR_PROGS = [
    [(0, "m"), (5, "M"), (2, "M"), (6, "M")],  # i VI III VII
    [(0, "m"), (3, "m"), (4, "M"), (0, "m")],  # i iv V i
    [(0, "m"), (6, "M"), (5, "M"), (4, "M")],  # i VII VI V
    [(0, "m"), (3, "m"), (6, "M"), (2, "M")],  # i iv VII III
    [(0, "m"), (5, "M"), (3, "m"), (4, "M")],  # i VI iv V
]
GROOVES = ("rock8", "four_floor", "hats16", "pop_syncopated", "waltz", "none")

KICK, SNARE, CLOSED_HAT, OPEN_HAT, RIDE, SIDE_STICK = 36, 38, 42, 46, 51, 37


@dataclass(frozen=True)
class Piece:
    name: str
    bpm: float
    tonic: int
    mode: str
    groove: str
    instruments: str


def _chord(tonic: int, mode: str, degree: int, quality: str) -> list[int]:
    scale = MAJOR_SCALE if mode == "major" else MINOR_SCALE
    root = tonic + scale[degree]
    third = 4 if quality == "M" else 3
    return [root, root + third, root + 7]


def _events(track: list[tuple[int, mido.Message]], start: int, dur: int, ch: int, note: int,
            vel: int) -> None:
    track.append((start, mido.Message("note_on", channel=ch, note=note, velocity=vel)))
    track.append((start + dur, mido.Message("note_off", channel=ch, note=note, velocity=0)))


def _to_track(events: list[tuple[int, mido.Message]], header: list[mido.Message]) -> mido.MidiTrack:
    track = mido.MidiTrack(header)
    now = 0
    for t, msg in sorted(events, key=lambda e: (e[0], e[1].type == "note_on")):
        track.append(msg.copy(time=t - now))
        now = t
    return track


def make_piece(idx: int, rng: np.random.Generator, target_s: float = 30.0
               ) -> tuple[mido.MidiFile, Piece]:
    """One piece: key cycles through all 24, tempo log-uniform in 60–180 BPM, random arrangement."""
    tonic = (idx * 7) % 12  # walk the circle of fifths so neighbours differ
    mode = "major" if (idx // 12) % 2 == 0 else "minor"
    bpm = float(np.round(np.exp(rng.uniform(math.log(60), math.log(180))), 1))
    groove = GROOVES[idx % len(GROOVES)]
    beats_per_bar = 3 if groove == "waltz" else 4
    mel_prog = int(rng.choice(list(MELODY_PROGRAMS)))
    chord_prog = int(rng.choice(list(CHORD_PROGRAMS)))
    bass_prog = int(rng.choice(list(BASS_PROGRAMS)))
    progression = (MAJOR_PROGS if mode == "major" else MINOR_PROGS)[int(rng.integers(5))]
    scale = MAJOR_SCALE if mode == "major" else MINOR_SCALE
    bar_s = beats_per_bar * 60.0 / bpm
    n_bars = max(4, int(math.ceil(target_s / bar_s / 4)) * 4)

    mel: list[tuple[int, mido.Message]] = []
    chords: list[tuple[int, mido.Message]] = []
    bass: list[tuple[int, mido.Message]] = []
    drums: list[tuple[int, mido.Message]] = []
    base = 60 + tonic if tonic < 6 else 48 + tonic  # chord register C4..F4 or F#3..B3
    mel_pos = int(rng.integers(7))
    bar = beats_per_bar * TPB
    for b in range(n_bars):
        degree, quality = progression[b % len(progression)]
        if b == n_bars - 1:
            degree, quality = 0, "M" if mode == "major" else "m"
        notes = _chord(tonic, mode, degree, quality)
        t0 = b * bar
        # chords: sustained or re-struck on each beat
        if rng.random() < 0.5:
            for n in notes:
                _events(chords, t0, bar - 20, 1, base + (n - tonic), 70)
        else:
            for beat in range(beats_per_bar):
                for n in notes:
                    _events(chords, t0 + beat * TPB, TPB - 40, 1, base + (n - tonic), 60)
        # bass: root (and fifth) in octave 2
        root = 36 + (notes[0] % 12)
        for beat in range(beats_per_bar):
            note = root if beat % 2 == 0 else root + 7
            _events(bass, t0 + beat * TPB, TPB - 30, 2, note, 85)
        # melody: stepwise walk on the scale, chord tones on strong beats
        t = t0
        while t < t0 + bar:
            dur = int(rng.choice([TPB // 2, TPB, TPB, 2 * TPB]))
            dur = min(dur, t0 + bar - t)
            if (t - t0) % TPB == 0:
                target = [(degree + k) % 7 for k in (0, 2, 4)]  # chord tones as scale degrees
                mel_pos = min(target, key=lambda d: abs(d - mel_pos % 7)) + 7 * (mel_pos // 7)
            else:
                mel_pos += int(rng.choice([-1, 1]))
            mel_pos = int(np.clip(mel_pos, 0, 13))
            pc = scale[mel_pos % 7]
            if mode == "minor" and pc == 10 and degree == 4:
                pc = 11  # leading tone over V
            note = 72 + tonic - (12 if tonic >= 6 else 0) + pc + 12 * (mel_pos // 7)
            _events(mel, t, dur - 20, 0, note, 90)
            t += dur
        # drums
        for beat in range(beats_per_bar):
            tb = t0 + beat * TPB
            if groove == "rock8":
                _events(drums, tb, 60, 9, KICK if beat % 2 == 0 else SNARE, 100)
                _events(drums, tb, 60, 9, CLOSED_HAT, 70)
                _events(drums, tb + TPB // 2, 60, 9, CLOSED_HAT, 55)
            elif groove == "four_floor":
                _events(drums, tb, 60, 9, KICK, 105)
                if beat % 2 == 1:
                    _events(drums, tb, 60, 9, SNARE, 95)
                _events(drums, tb + TPB // 2, 60, 9, OPEN_HAT, 60)
            elif groove == "hats16":
                if beat % 2 == 0:
                    _events(drums, tb, 60, 9, KICK, 95)
                else:
                    _events(drums, tb, 60, 9, SIDE_STICK, 85)
                for k in range(4):
                    _events(drums, tb + k * TPB // 4, 40, 9, CLOSED_HAT, 60 if k else 75)
            elif groove == "pop_syncopated":
                if beat == 0 or beat == 2:
                    _events(drums, tb, 60, 9, KICK, 100)
                if beat == 1:
                    _events(drums, tb + TPB // 2, 60, 9, KICK, 85)
                if beat % 2 == 1:
                    _events(drums, tb, 60, 9, SNARE, 100)
                _events(drums, tb, 60, 9, RIDE, 65)
                _events(drums, tb + TPB // 2, 60, 9, RIDE, 50)
            elif groove == "waltz":
                if beat == 0:
                    _events(drums, tb, 60, 9, KICK, 95)
                else:
                    _events(drums, tb, 60, 9, CLOSED_HAT, 70)
                if beat:
                    _events(drums, tb, 60, 9, SIDE_STICK, 70)

    header = [mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(bpm), time=0),
              mido.MetaMessage("time_signature", numerator=beats_per_bar, denominator=4, time=0)]
    mid = mido.MidiFile(ticks_per_beat=TPB)
    mid.tracks.append(_to_track(mel, header + [mido.Message("program_change", channel=0,
                                                             program=mel_prog, time=0)]))
    mid.tracks.append(_to_track(chords, [mido.Message("program_change", channel=1,
                                                      program=chord_prog, time=0)]))
    mid.tracks.append(_to_track(bass, [mido.Message("program_change", channel=2,
                                                    program=bass_prog, time=0)]))
    if groove != "none":
        mid.tracks.append(_to_track(drums, []))
    instruments = (f"{MELODY_PROGRAMS[mel_prog]} / {CHORD_PROGRAMS[chord_prog]} / "
                   f"{BASS_PROGRAMS[bass_prog]}")
    name = f"{idx:02d}_{KEY_NAMES[tonic]}{'' if mode == 'major' else 'm'}_{bpm:g}_{groove}"
    return mid, Piece(name, bpm, tonic, mode, groove, instruments)


def render(mid: mido.MidiFile, out_wav: Path) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        midi_path = Path(tmp) / "piece.mid"
        mid.save(midi_path)
        subprocess.run(["fluidsynth", "-ni", "-q", "-g", "0.6", "-r", "16000", "-F", str(out_wav),
                        str(SOUNDFONT), str(midi_path)], check=True, capture_output=True)


def tempo_scores(est: float, ref: float, tol: float = 0.04) -> tuple[bool, bool]:
    acc1 = abs(est - ref) <= tol * ref
    acc2 = any(abs(est - ref * f) <= tol * ref * f for f in (1, 2, 0.5, 3, 1 / 3))
    return acc1, acc2


def key_label(pc: int, mode: str | None) -> str:
    return "X" if mode is None else f"{KEY_NAMES[pc]} {mode}"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=48, help="number of pieces (24 keys cycle)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=None, help="markdown report path")
    ap.add_argument("--keep", type=Path, default=None, help="keep rendered wavs here")
    args = ap.parse_args(argv)
    if shutil.which("fluidsynth") is None or not SOUNDFONT.exists():
        print("needs: apt-get install -y fluidsynth fluid-soundfont-gm", file=sys.stderr)
        return 2

    rng = np.random.default_rng(args.seed)
    rows = []
    per_profile: dict[str, list[float]] = {p: [] for p in KEY_PROFILES}
    per_profile_exact: dict[str, list[bool]] = {p: [] for p in KEY_PROFILES}
    timings = []
    with tempfile.TemporaryDirectory() as tmp:
        wav_dir = args.keep or Path(tmp)
        wav_dir.mkdir(parents=True, exist_ok=True)
        for i in range(args.n):
            mid, piece = make_piece(i, rng)
            wav = wav_dir / f"{piece.name}.wav"
            render(mid, wav)
            audio = load_audio_file(wav)
            t0 = time.perf_counter()
            feats = audio_features(y=audio.y, sr=audio.sr)
            timings.append((time.perf_counter() - t0, audio.duration_s))
            ref_key = key_label(piece.tonic, piece.mode)
            for prof in KEY_PROFILES:
                f = feats if prof == DEFAULT_KEY_PROFILE else audio_features(y=audio.y, sr=audio.sr,
                                                                    key_profile=prof)
                est = key_label(f.key_pitch_class, f.mode)
                per_profile[prof].append(weighted_score(ref_key, est) if est != "X" else 0.0)
                per_profile_exact[prof].append(est == ref_key)
            acc1, acc2 = tempo_scores(feats.tempo_bpm, piece.bpm)
            est_key = key_label(feats.key_pitch_class, feats.mode)
            rows.append((piece, feats, acc1, acc2, est_key,
                         weighted_score(ref_key, est_key) if est_key != "X" else 0.0))
            verdict = "ok" if acc1 else "x2" if acc2 else "XX"
            print(f"{piece.name:28s} tempo {feats.tempo_bpm:6.1f} ({verdict}) "
                  f"key {est_key:9s} conf {feats.key_confidence:.2f} ref {ref_key}", flush=True)

    n = len(rows)
    acc1 = sum(r[2] for r in rows) / n
    acc2 = sum(r[3] for r in rows) / n
    key_exact = sum(r[4] == key_label(r[0].tonic, r[0].mode) for r in rows) / n
    mirex = sum(r[5] for r in rows) / n
    warm = timings[1:] or timings  # the first call pays numba/JIT warm-up
    rtf = sum(t for t, _ in warm) / sum(d for _, d in warm) * 60.0
    by_groove = {}
    for g in GROOVES:
        sel = [r for r in rows if r[0].groove == g]
        if sel:
            by_groove[g] = (len(sel), sum(r[2] for r in sel) / len(sel),
                            sum(r[3] for r in sel) / len(sel))
    summary = [
        f"- pieces: {n} (seed {args.seed}); all 24 keys; tempo 60–180 BPM log-uniform",
        f"- tempo Accuracy1 (±4 %): **{acc1:.1%}**; Accuracy2 (also ×2, ×½, ×3, ×⅓): "
        f"**{acc2:.1%}**",
        f"- key exact: **{key_exact:.1%}**; MIREX weighted score: **{mirex:.3f}** "
        f"(default profile: {DEFAULT_KEY_PROFILE})",
        f"- analysis time: {rtf:.2f} s per minute of audio (mean over the pieces, one process, "
        "after warm-up of the first piece)",
    ]
    print("\n".join(summary))
    if args.out:
        lines = [
            "## Tempo and key accuracy on rendered General MIDI",
            "",
            f"Command: `python benchmarks/features_accuracy.py --n {args.n} --seed {args.seed} "
            f"--out {args.out}`  ",
            "Machine: 2-core x86_64 CPU, 24 GiB, no GPU  ",
            f"Date: {dt.datetime.now().astimezone().strftime('%a %d %b %Y %H:%M %Z')}  ",
            f"Python {platform.python_version()}, FluidSynth + FluidR3_GM.sf2 at 16 kHz",
            "",
            *summary,
            "",
            "| groove | n | Accuracy1 | Accuracy2 |",
            "|---|---|---|---|",
            *[f"| {g} | {k} | {a1:.0%} | {a2:.0%} |" for g, (k, a1, a2) in by_groove.items()],
            "",
            "| key profile | exact | MIREX |",
            "|---|---|---|",
            *[f"| {p} | {np.mean(per_profile_exact[p]):.1%} | {np.mean(per_profile[p]):.3f} |"
              for p in KEY_PROFILES],
            "",
            "| piece | instruments | true BPM | est. BPM | true key | est. key | conf |",
            "|---|---|---|---|---|---|---|",
            *[f"| {p.name} | {p.instruments} | {p.bpm:g} | {f.tempo_bpm:.1f}"
              f"{'' if a1 else ' (octave)' if a2 else ' ✗'} | {key_label(p.tonic, p.mode)} | "
              f"{ek}{'' if ek == key_label(p.tonic, p.mode) else ' ✗'} | {f.key_confidence:.2f} |"
              for p, f, a1, a2, ek, _ in rows],
            "",
        ]
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text("\n".join(lines), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
