"""Covers: does a song find its other version? The ``versions`` space against ``audio``/``fused``.

Scores are General MIDI pieces from :mod:`features_accuracy` (melody, chords, bass, drums; all 24
keys). Each of ``--pairs`` scores is rendered twice: as written, and as another version of the
same score — every GM programme replaced by another, the tempo scaled by 0.85–1.15 (never within
±3 %), transposed by ±1–5 semitones, drums dropped in a third of the versions. ``--distractors``
further scores are rendered once, so a query competes with ``2 × pairs + distractors − 1`` songs,
many of them on the same chord progressions. Every rendering is ingested through the real
pipeline (``Catalog.ingest_decoded``: musicnn, text model, Qdrant Edge) with a neutral title, and
each version queries ``similar_to_song`` in every space: top-1 / top-10 say whether the other
version is the first / among the first ten results.

``--seed`` picks the scores: seed 1 is the tuning set the versions embedding was designed on,
seed 2 (and any other) is held out. ``--versions-only`` skips the pipeline and compares versions
vectors directly (a quick loop for tuning).

    python benchmarks/covers.py --pairs 40 --distractors 80 --seed 2
"""

from __future__ import annotations

import argparse
import platform
import sys
import tempfile
import time
from pathlib import Path

import mido
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from features_accuracy import (  # noqa: E402
    BASS_PROGRAMS,
    CHORD_PROGRAMS,
    MELODY_PROGRAMS,
    make_piece,
    render,
)

from songlens.content.audio_io import load_audio_file  # noqa: E402
from songlens.embeddings.versions import versions_vector  # noqa: E402

PROGRAMS = {0: MELODY_PROGRAMS, 1: CHORD_PROGRAMS, 2: BASS_PROGRAMS}


def other_version(mid: mido.MidiFile, rng: np.random.Generator) -> tuple[mido.MidiFile, str]:
    """The same score with other GM programmes, tempo × 0.85–1.15, transposed ±1–5 semitones,
    and (one time in three) without drums; returns it and what changed."""
    factor = float(rng.choice([-1, 1]) * rng.uniform(0.03, 0.15) + 1.0)
    shift = int(rng.choice([-1, 1]) * rng.integers(1, 6))
    drop_drums = rng.random() < 1 / 3
    out = mido.MidiFile(ticks_per_beat=mid.ticks_per_beat)
    progs = []
    for track in mid.tracks:
        if drop_drums and any(getattr(m, "channel", None) == 9 for m in track):
            continue
        new = mido.MidiTrack()
        for msg in track:
            if msg.type == "set_tempo":
                msg = msg.copy(tempo=int(round(msg.tempo / factor)))
            elif msg.type == "program_change":
                choices = [p for p in PROGRAMS[msg.channel] if p != msg.program]
                msg = msg.copy(program=int(rng.choice(choices)))
                progs.append(PROGRAMS[msg.channel][msg.program])
            elif msg.type in ("note_on", "note_off") and msg.channel != 9:
                msg = msg.copy(note=int(np.clip(msg.note + shift, 0, 127)))
            new.append(msg)
        out.tracks.append(new)
    return out, (f"tempo ×{factor:.2f}, {shift:+d} st, {' / '.join(progs)}"
                 f"{', no drums' if drop_drums else ''}")


def catalogue(pairs: int, distractors: int, seed: int, cache: Path
              ) -> list[tuple[str, int, Path, str]]:
    """(song_id, score id, wav, description) for every rendering; wavs cached under ``cache``."""
    rng = np.random.default_rng(1000 + seed)
    out = []
    for i in range(pairs + distractors):
        mid, piece = make_piece(seed * 1000 + i, rng, target_s=40.0)
        renders = [(f"s{seed}-{i:03d}a", mid, piece.instruments)]
        if i < pairs:
            mid_b, what = other_version(mid, rng)
            renders.append((f"s{seed}-{i:03d}b", mid_b, what))
        for song_id, m, what in renders:
            wav = cache / f"{song_id}.wav"
            if not wav.exists():
                render(m, wav)
            out.append((song_id, i, wav, f"{piece.name}: {what}"))
    return out


def ranks(vectors: dict[str, np.ndarray], group: dict[str, int], pairs: int
          ) -> list[int]:
    """Rank (1-based) of the other version among all other songs, per version query."""
    ids = list(vectors)
    m = np.stack([vectors[s] for s in ids])
    sims = m @ m.T
    out = []
    for qi, q in enumerate(ids):
        if group[q] >= pairs:
            continue
        order = [ids[j] for j in np.argsort(-sims[qi]) if j != qi]
        out.append(1 + next(k for k, s in enumerate(order) if group[s] == group[q]))
    return out


def summary(name: str, r: list[int]) -> str:
    r_ = np.asarray(r)
    return (f"| {name} | {np.mean(r_ == 1):.1%} | {np.mean(r_ <= 10):.1%} | "
            f"{np.median(r_):.0f} | {len(r_)} |")


def pipeline_ranks(songs: list[tuple[str, int, Path, str]], group: dict[str, int],
                   pairs: int, spaces: tuple[str, ...]) -> tuple[dict[str, list[int]], float]:
    from songlens.catalog.pipeline import Catalog
    from songlens.content.metadata import SongMetadata
    from songlens.embeddings.models import load_models
    from songlens.search.similar import similar_to_song
    from songlens.settings import load_settings
    from songlens.store import open_store

    settings = load_settings(None, data_dir=tempfile.mkdtemp(), audio={"threads": 2})
    cat = Catalog(settings=settings, store=open_store(path=settings.qdrant_path),
                  models=load_models(settings))
    t0 = time.perf_counter()
    numbers = np.random.default_rng(0).permutation(len(songs))  # titles say nothing of pairs
    for (song_id, _, wav, _), num in zip(songs, numbers, strict=True):
        cat.ingest_decoded(load_audio_file(wav), SongMetadata(song_id=song_id,
                                                              title=f"Track {num}"))
    ingest_s = time.perf_counter() - t0
    out: dict[str, list[int]] = {s: [] for s in spaces}
    n = len(songs)
    for song_id, g, _, _ in songs:
        if g >= pairs:
            continue
        for space in spaces:
            items = similar_to_song(cat, song_id, k=n - 1, space=space)
            ids = [it.song_id for it in items]
            hit = [k for k, s in enumerate(ids) if group.get(s) == g]
            out[space].append(1 + hit[0] if hit else n)
    return out, ingest_s


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pairs", type=int, default=40)
    ap.add_argument("--distractors", type=int, default=80)
    ap.add_argument("--seed", type=int, default=2, help="1 = tuning set; others held out")
    ap.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "songlens-covers")
    ap.add_argument("--versions-only", action="store_true")
    args = ap.parse_args(argv)
    args.cache.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    songs = catalogue(args.pairs, args.distractors, args.seed, args.cache)
    group = {s: g for s, g, _, _ in songs}
    print(f"rendered {len(songs)} songs in {time.perf_counter() - t0:.0f} s", flush=True)
    header = ["| space | top-1 | top-10 | median rank | queries |", "|---|---|---|---|---|"]
    if args.versions_only:
        vecs = {}
        for s, _, wav, _ in songs:
            a = load_audio_file(wav)
            vecs[s] = versions_vector(y=a.y, sr=a.sr)
        rows = [summary("versions", ranks(vecs, group, args.pairs))]
        ids = list(vecs)
        sims = np.stack([vecs[s] for s in ids]) @ np.stack([vecs[s] for s in ids]).T
        pair = [sims[i, j] for i in range(len(ids)) for j in range(i + 1, len(ids))
                if group[ids[i]] == group[ids[j]]]
        other = [sims[i, j] for i in range(len(ids)) for j in range(i + 1, len(ids))
                 if group[ids[i]] != group[ids[j]]]
        for t in (0.8, 0.85, 0.9, 0.92, 0.94, 0.96):
            print(f"cosine >= {t}: {np.mean(np.asarray(pair) >= t):.0%} of version pairs, "
                  f"{np.mean(np.asarray(other) >= t):.2%} of other pairs")
    else:
        res, ingest_s = pipeline_ranks(songs, group, args.pairs,
                                       ("audio", "fused", "versions"))
        rows = [summary(space, r) for space, r in res.items()]
        print(f"ingested in {ingest_s:.0f} s")
    print(f"seed {args.seed} ({'tuning' if args.seed == 1 else 'held out'}), {args.pairs} pairs, "
          f"{args.distractors} distractors, {platform.python_version()}")
    print("\n".join(header + rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
