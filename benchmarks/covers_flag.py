"""How often ``reasons.covers`` fires, for versions and for everything else, per top-10 result.

Reads the renderings ``covers.py`` cached (seed 1: tuning, seed 2: held out; run ``covers.py``
first) and real instrumental recordings on this machine (Debian's wesnoth and hyperrogue music and
the demo songs: none is a version of another), computes their versions vectors, and for each
query takes its 20 nearest (the k + 10 candidates of ``similar_to_song`` with k = 10) to count the
top-10 results each flag rule calls covers.

    python benchmarks/covers_flag.py [--cache /tmp/songlens-covers]
"""

from __future__ import annotations

import argparse
import glob
import tempfile
from pathlib import Path

import numpy as np

from songlens.content.audio_io import load_audio_file
from songlens.embeddings.versions import versions_vector
from songlens.search.similar import COVERS_MIN_SIMILARITY

REAL = ("/usr/share/games/wesnoth/1.16/data/core/music/*.ogg", "/usr/share/hyperrogue/music/*.ogg",
        "/usr/share/games/fretsonfire/data/songs/*/*/song.ogg")
GAPS = (0.0, 0.04, 0.06, 0.08)


def vectors(paths: list[str], max_s: float = 240.0) -> dict[str, np.ndarray]:
    out = {}
    for p in paths:
        try:
            a = load_audio_file(p)
        except Exception as exc:  # noqa: BLE001 - e.g. a silent track: left out, said
            print(f"skipped {Path(p).name}: {exc}")
            continue
        v = versions_vector(y=a.y[: int(a.sr * max_s)], sr=a.sr)
        if np.any(v):
            out[p] = v
    return out


def top10(vecs: dict[str, np.ndarray], group) -> list[tuple[bool, float, float]]:
    """(is the query's other version, score, score − median of the 20 nearest) per top-10 hit."""
    ids = list(vecs)
    m = np.stack([vecs[k] for k in ids])
    sims = m @ m.T
    out = []
    for i, q in enumerate(ids):
        order = [j for j in np.argsort(-sims[i]) if j != i][:20]
        scores = sims[i, order]
        med = float(np.median(scores))
        for r, j in enumerate(order[:10]):
            out.append((group(q) == group(ids[j]), float(scores[r]), float(scores[r]) - med))
    return out


def counts(rows, gap: float) -> tuple[int, int, int, int]:
    flag = [(v, s >= COVERS_MIN_SIMILARITY and g >= gap) for v, s, g in rows]
    return (sum(f for v, f in flag if v), sum(v for v, _ in flag),
            sum(f for v, f in flag if not v), sum(not v for v, _ in flag))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "songlens-covers")
    args = ap.parse_args()
    piece = lambda p: Path(p).stem.split("-")[1][:3]  # noqa: E731 - s1-004b → 004
    sets = {"tuning (seed 1)": sorted(glob.glob(str(args.cache / "s1-*.wav"))),
            "held out (seed 2)": sorted(glob.glob(str(args.cache / "s2-*.wav")))}
    real = sorted(p for pattern in REAL for p in glob.glob(pattern))
    rows = {name: top10(vectors(paths), piece) for name, paths in sets.items() if paths}
    rows["real tracks"] = top10(vectors(real), lambda p: p)
    print("| rule | " + " | ".join(f"{n}: versions flagged | {n}: others flagged"
                                   for n in rows) + " |")
    for gap in GAPS:
        cells = []
        for r in rows.values():
            tp, p, fp, n = counts(r, gap)
            cells += [f"{tp} / {p}", f"{fp} / {n}"]
        print(f"| cosine ≥ {COVERS_MIN_SIMILARITY} and gap ≥ {gap} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
