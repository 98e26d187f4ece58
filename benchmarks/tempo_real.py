"""Tempo on real recordings whose tempo is written down: the Frets on Fire song packages.

Each song folder of Debian's ``fretsonfire-songs-muldjord`` and ``fretsonfire-songs-sectoid``
(the demo catalog) holds the band's recording as stems and a ``notes.mid`` chart whose tempo
map the chart's author set to the song's beat. The recording is mixed as the demo mixes it
(:func:`songlens.catalog.demo.load_demo_song`) and measured as ingestion measures it
(:func:`songlens.content.features.extract.measure_signal`); the chart's first tempo is the
truth. Eight songs: a check that the tempo level model, fitted on rendered General MIDI, holds on
real metal and rock recordings, not a statistic.

Requirements (benchmark only): ``apt-get install -y fretsonfire-songs-muldjord
fretsonfire-songs-sectoid``; ``pip install mido==1.3.3``.

    PYTHONPATH=. .venv/bin/python benchmarks/tempo_real.py [--songs DIR]
"""

from __future__ import annotations

import argparse
import sys
import time

import mido

from songlens.catalog.demo import find_demo_songs, load_demo_song
from songlens.content.features.extract import measure_signal


def chart_bpm(path: str) -> float:
    """The first tempo of a MIDI file's tempo map."""
    for msg in mido.merge_tracks(mido.MidiFile(path).tracks):
        if msg.type == "set_tempo":
            return float(mido.tempo2bpm(msg.tempo))
    return 120.0  # MIDI's default when a file sets none


def within(bpm: float, truth: float, factors: tuple[float, ...], tol: float = 0.04) -> bool:
    return any(abs(bpm / (truth * f) - 1.0) <= tol for f in factors)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--songs", default="/usr/share/games/fretsonfire/data/songs")
    args = ap.parse_args()
    songs = [s for s in find_demo_songs([args.songs]) if (s.folder / "notes.mid").exists()]
    if not songs:
        sys.exit(f"no song folders with a notes.mid chart under {args.songs}")
    load = open("/proc/loadavg").read().split()[:3]
    rows = []
    for song in songs:
        audio = load_demo_song(song)
        t = measure_signal(y=audio.y, sr=audio.sr).tempo
        truth = chart_bpm(str(song.folder / "notes.mid"))
        rows.append((song.folder.name, truth, t.bpm, t.alt_bpm or 0.0, t.confidence))
    print(f"`{' '.join(sys.argv)}` — {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, "
          f"load {' '.join(load)}, {len(rows)} songs\n")
    print("| song | chart BPM | tempo_bpm | tempo_alt_bpm | tempo_confidence | exact (±4 %) | "
          "allowing ×2, ×½ |\n|---|---:|---:|---:|---:|---|---|")
    for name, truth, bpm, alt, conf in rows:
        print(f"| {name} | {truth:.1f} | {bpm:.1f} | {alt:.1f} | {conf:.2f} | "
              f"{'yes' if within(bpm, truth, (1.0,)) else 'no'} | "
              f"{'yes' if within(bpm, truth, (1.0, 2.0, 0.5)) else 'no'} |")
    n = len(rows)
    exact = sum(within(b, t, (1.0,)) for _, t, b, _, _ in rows)
    octave = sum(within(b, t, (1.0, 2.0, 0.5)) for _, t, b, _, _ in rows)
    either = sum(within(b, t, (1.0, 2.0, 0.5)) or within(a, t, (1.0, 2.0, 0.5))
                 for _, t, b, a, _ in rows)
    print(f"\nexact {exact}/{n}; allowing ×2, ×½ {octave}/{n}; tempo_bpm or tempo_alt_bpm "
          f"allowing ×2, ×½ {either}/{n}")


if __name__ == "__main__":
    main()
