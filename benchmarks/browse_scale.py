"""Browsing with facets (GET /v1/songs) at catalogue scale: songlens' browse against a reference
that scrolls every matching payload and counts in Python, on the same embedded store.

    .venv/bin/python benchmarks/browse_scale.py [--n 10000 100000] [--calls 15]

Synthetic songs with payloads shaped like real ones (SongRecord.to_payload: five tag dimensions
with three pieces of evidence per tag, 100 audio-model tag probabilities, audio features,
`ingested_at` over a year); vectors are 8-dimensional (browsing reads none; the reference reads
none either). Both answer the same queries and must agree; reported: median wall time per
query (alternating, so both see the same load) and the peak of Python allocations during one
query (tracemalloc). Stores are built once under benchmarks/out/browse/.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import subprocess
import sys
import time
import tracemalloc
from collections import Counter
from pathlib import Path
from types import SimpleNamespace

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from songlens.catalog.filters import SongFilter  # noqa: E402
from songlens.catalog.record import SongRecord, songs_spec, tag_field  # noqa: E402
from songlens.content.taxonomy import DIMENSIONS, load_taxonomy  # noqa: E402
from songlens.search.browse import browse  # noqa: E402
from songlens.store import Point  # noqa: E402
from songlens.store.edge import EdgeStore  # noqa: E402

OUT = ROOT / "benchmarks" / "out" / "browse"
T0 = 1_760_000_000.0


def payload(i: int, rng: np.random.Generator, tax) -> dict:
    tags = {}
    for dim in DIMENSIONS:
        names = tax.tags[dim]
        k = int(rng.integers(1, 4))
        picked = rng.choice(len(names), size=k, replace=False, p=_zipf(len(names)))
        scores = sorted(rng.uniform(0.2, 1.0, size=k), reverse=True)
        tags[dim] = [{"tag": names[j], "en": tax.en[(dim, names[j])], "score": round(s, 4),
                      "evidence": [{"source": "audio", "cue": f"cue{e}", "p": 0.5,
                                    "model": "MSD_musicnn", "raw": 0.3, "calibrated": 0.5,
                                    "percentile": 0.9} for e in range(3)]}
                     for j, s in zip(picked, scores, strict=True)]
    feats = {"tempo_bpm": round(float(rng.uniform(60, 180)), 2), "energy": float(rng.uniform()),
             "key": "A", "mode": "minor", "camelot": f"{int(rng.integers(1, 13))}A",
             "loudness_db": -10.0, "danceability": 0.5, "valence": 0.5}
    rec = SongRecord(song_id=f"s{i}", title=f"Song {i}", artist=f"Artist {i % 5000}",
                     duration_s=200.0, tags=tags, audio_features=feats,
                     language={"primary": tags["language"][0]["tag"], "scores": {}},
                     tag_probs={m: {f"t{j}": 0.1 for j in range(50)}
                                for m in ("MSD_musicnn", "MTT_musicnn")},
                     ingested_at=T0 + float(rng.uniform(0, 365 * 86400)))
    return rec.to_payload()


def _zipf(n: int) -> np.ndarray:
    w = 1.0 / np.arange(1, n + 1)
    return w / w.sum()


def build(n: int, tax) -> tuple[EdgeStore, object, float]:
    spec = songs_spec("songs", audio_dim=8, text_dim=8, tags_dim=8)
    where = OUT / f"n{n}"
    marker = where / "filled.json"
    store = EdgeStore(where / "qdrant")
    store.ensure_collection(spec)
    if not marker.exists():
        rng = np.random.default_rng(n)
        t0, size = time.perf_counter(), 0
        for start in range(0, n, 1000):
            pts = []
            for i in range(start, min(n, start + 1000)):
                p = payload(i, rng, tax)
                size += len(json.dumps(p, ensure_ascii=False).encode())
                pts.append(Point(key=f"s{i}", payload=p, vectors={
                    v: rng.normal(size=d) for v, d in spec.dense.items()}))
            store.upsert(spec, pts)
        marker.write_text(json.dumps({"upsert_s": time.perf_counter() - t0,
                                      "payload_bytes": size / n}))
    return store, spec, json.loads(marker.read_text())


def reference(cat, flt: SongFilter, offset: int, limit: int):
    """Scroll every matching payload (the fields a page and the facets need), count in
    Python, sort by ingested_at."""
    fields = ["ingested_at", *(tag_field(d) for d in DIMENSIONS)]
    rows, counts, nxt = [], {d: Counter() for d in DIMENSIONS}, None
    while True:
        hits, nxt = cat.store.scroll(cat.spec, filter=flt.to_store(), limit=1000, offset=nxt,
                                     fields=fields)
        for h in hits:
            rows.append((h.payload.get("ingested_at") or 0.0, h.key))
            for d in DIMENSIONS:
                counts[d].update(set(h.payload.get(tag_field(d)) or []))
        if nxt is None:
            break
    rows.sort(reverse=True)
    page = [k for _, k in rows[offset:offset + limit]]
    facets = {d: sorted(c.items(), key=lambda tc: (-tc[1], tc[0])) for d, c in counts.items()}
    return len(rows), page, facets


def ours(cat, flt: SongFilter, offset: int, limit: int):
    page = browse(cat, flt, offset=offset, limit=limit)
    return page.total, [s.song_id for s in page.songs], {
        d: sorted(((f.tag, f.count) for f in fs), key=lambda tc: (-tc[1], tc[0]))
        for d, fs in page.facets.items()}


def peak_kib(fn) -> float:
    tracemalloc.start()
    fn()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak / 1024


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, nargs="+", default=[10000, 100000])
    ap.add_argument("--calls", type=int, default=15)
    args = ap.parse_args()
    tax = load_taxonomy()
    queries = {"all songs, first page": (SongFilter(), 0),
               "all songs, page at offset 5000": (SongFilter(), 5000),
               "style=摇滚 and tempo ≥ 120": (SongFilter(all_tags={"style": ("摇滚",)},
                                                         ranges={"tempo_bpm": (120.0, None)}), 0)}
    lines = []
    for n in args.n:
        store, spec, info = build(n, tax)
        cat = SimpleNamespace(store=store, spec=spec, taxonomy=tax)
        lines.append(f"\n### {n} songs (upsert {info['upsert_s']:.0f} s, mean payload "
                     f"{info['payload_bytes'] / 1024:.1f} KiB)\n")
        lines.append("| query | songlens p50 | reference p50 | ratio | songlens peak alloc | "
                     "reference peak alloc |\n|---|---|---|---|---|---|")
        for name, (flt, offset) in queries.items():
            a, b = ours(cat, flt, offset, 50), reference(cat, flt, offset, 50)
            assert a[0] == b[0] and a[2] == b[2], (name, a[0], b[0])
            # ingested_at ties are impossible here (uniform floats): pages must match exactly
            assert a[1] == b[1], name
            t_ours, t_ref = [], []
            for _ in range(args.calls):
                t0 = time.perf_counter()
                ours(cat, flt, offset, 50)
                t_ours.append(time.perf_counter() - t0)
                t0 = time.perf_counter()
                reference(cat, flt, offset, 50)
                t_ref.append(time.perf_counter() - t0)
            mo, mr = statistics.median(t_ours) * 1000, statistics.median(t_ref) * 1000
            po = peak_kib(lambda c=cat, f=flt, o=offset: ours(c, f, o, 50))
            pr = peak_kib(lambda c=cat, f=flt, o=offset: reference(c, f, o, 50))
            lines.append(f"| {name} ({a[0]} match) | {mo:.1f} ms | {mr:.1f} ms | "
                         f"{mr / mo:.1f}× | {po:.0f} KiB | {pr / 1024:.1f} MiB |")
        store.close()
    cpu = next((ln.split(":", 1)[1].strip() for ln in subprocess.run(
        ["lscpu"], capture_output=True, text=True).stdout.splitlines()
        if ln.startswith("Model name")), platform.processor())
    load = " ".join(Path("/proc/loadavg").read_text().split()[:3])
    print(f"`.venv/bin/python benchmarks/browse_scale.py --n {' '.join(map(str, args.n))} "
          f"--calls {args.calls}` — {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, "
          f"{cpu}, Python {platform.python_version()}, load {load}")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
