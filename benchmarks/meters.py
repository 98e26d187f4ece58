"""Rendered pieces in simple, ternary and compound meters, fast and slow, with a known beat.

The beat a listener taps is the notated beat: the quarter note in 4/4 and 3/4, the dotted
quarter in 6/8 and 12/8 (three eighths to the beat). ``make_meter_piece`` writes one General MIDI
piece (chords, bass on the beats, a melody on the subdivisions, a drum groove for the meter or
none) whose MIDI "beat" is that tapped beat, so its tempo in BPM is the ground truth.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import mido
import numpy as np
from features_accuracy import (
    BASS_PROGRAMS,
    CHORD_PROGRAMS,
    CLOSED_HAT,
    KICK,
    MAJOR_PROGS,
    MAJOR_SCALE,
    MELODY_PROGRAMS,
    MINOR_PROGS,
    MINOR_SCALE,
    SNARE,
    TPB,
    _chord,
    _events,
    _to_track,
)

#: meter → (beats per bar, subdivisions per beat, BPM range of the tapped beat)
METERS = {
    "4/4": (4, 2, (60.0, 160.0)),
    "4/4 fast": (4, 2, (160.0, 215.0)),
    "3/4": (3, 2, (70.0, 190.0)),
    "6/8": (2, 3, (50.0, 100.0)),
    "12/8": (4, 3, (45.0, 90.0)),
}


@dataclass(frozen=True)
class MeterPiece:
    name: str
    meter: str
    bpm: float
    tonic: int
    mode: str
    drums: bool


def make_meter_piece(idx: int, rng: np.random.Generator, target_s: float = 30.0
                     ) -> tuple[mido.MidiFile, MeterPiece]:
    meter = list(METERS)[idx % len(METERS)]
    beats, sub, (lo, hi) = METERS[meter]
    bpm = float(np.round(np.exp(rng.uniform(math.log(lo), math.log(hi))), 1))
    tonic, mode = int(rng.integers(12)), ("major", "minor")[int(rng.integers(2))]
    drums = rng.random() < 0.75
    scale = MAJOR_SCALE if mode == "major" else MINOR_SCALE
    prog = (MAJOR_PROGS if mode == "major" else MINOR_PROGS)[int(rng.integers(5))]
    step = TPB // sub
    bar = beats * TPB
    n_bars = max(4, int(math.ceil(target_s / (beats * 60.0 / bpm) / 4)) * 4)
    mel, chords, bass, drum = [], [], [], []
    base = 60 + tonic if tonic < 6 else 48 + tonic
    pos = int(rng.integers(7))
    for b in range(n_bars):
        degree, quality = prog[b % len(prog)]
        notes = _chord(tonic, mode, degree, quality)
        t0 = b * bar
        for n in notes:
            _events(chords, t0, bar - 20, 1, base + (n - tonic), 62)
        for k in range(beats):
            tb = t0 + k * TPB
            _events(bass, tb, TPB - 30, 2, 36 + notes[0] % 12 + (7 if k % 2 else 0), 85)
            if drums:
                _events(drum, tb, 60, 9, KICK if k % 2 == 0 else SNARE, 100 if k == 0 else 88)
                for s in range(sub):
                    _events(drum, tb + s * step, 40, 9, CLOSED_HAT, 72 if s == 0 else 50)
        t = t0
        while t < t0 + bar:
            dur = step * int(rng.choice([1, 1, 2, sub]))
            dur = min(dur, t0 + bar - t)
            if (t - t0) % TPB == 0:
                target = [(degree + j) % 7 for j in (0, 2, 4)]
                pos = min(target, key=lambda d: abs(d - pos % 7)) + 7 * (pos // 7)
            else:
                pos = int(np.clip(pos + int(rng.choice([-1, 1])), 0, 13))
            note = 72 + tonic - (12 if tonic >= 6 else 0) + scale[pos % 7] + 12 * (pos // 7)
            _events(mel, t, dur - 20, 0, note, 92 if (t - t0) % TPB == 0 else 78)
            t += dur
    mid = mido.MidiFile(ticks_per_beat=TPB)
    header = [mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(bpm), time=0)]
    programs = [int(rng.choice(list(p))) for p in (MELODY_PROGRAMS, CHORD_PROGRAMS,
                                                    BASS_PROGRAMS)]
    for ch, (events, program) in enumerate(zip((mel, chords, bass), programs, strict=True)):
        mid.tracks.append(_to_track(events, (header if ch == 0 else []) + [
            mido.Message("program_change", channel=ch, program=program, time=0)]))
    if drums:
        mid.tracks.append(_to_track(drum, []))
    name = f"{idx:03d}_{meter.replace('/', '-').replace(' ', '_')}_{bpm:g}" \
           f"{'' if drums else '_nodrums'}"
    return mid, MeterPiece(name, meter, bpm, tonic, mode, drums)
