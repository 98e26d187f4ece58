"""What reading payloads costs the embedded engine: song payloads as stored now (the bulky parts
packed in one value) against the same songs with every field inline (as stored before), same run.

    PYTHONPATH=. .venv/bin/python benchmarks/payload_cost.py [--songs 2000] [--n 100000]

The songs are the first ``--songs`` of ``lookup_store.py``'s realistic catalogue of ``--n``
songs (built if missing). Each layout goes into a fresh shard with one small vector, and the
engine retrieves 20 and 340 points (a similar-song answer's candidates; a playlist's widened tag
search) by id, with every field, with similar-song's fields, and with the key alone. Median and
p99 of 50 calls each, alternating the two shards.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import uuid
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))


def layouts(n_songs: int, n: int) -> tuple[list[dict], list[dict]]:
    """(as stored now, every field inline as before) for ``n_songs`` songs."""
    from lookup_store import build_realistic

    from songlens.catalog.record import EVIDENCE_FIELD, SongRecord
    from songlens.store.base import stored_payload
    from songlens.store.edge import EdgeStore

    where, _, spec = build_realistic(n)
    store = EdgeStore(where / "qdrant")
    try:
        hits, _ = store.scroll(spec, limit=n_songs)
    finally:
        store.close()
    now, before = [], []
    for h in hits:
        rec = SongRecord.from_payload(h.payload)
        payload = rec.to_payload() | {spec.key_field: h.key}
        now.append(stored_payload(spec, h.key, payload))
        old = {k: v for k, v in payload.items() if k != EVIDENCE_FIELD}
        old["tags"] = rec.tags  # the evidence inside each tag, as before
        before.append(old)
    return now, before


def main() -> None:
    import qdrant_edge as qe

    from songlens.search.similar import FIELDS

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--songs", type=int, default=2000)
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--calls", type=int, default=50)
    args = ap.parse_args()
    load = " ".join(open("/proc/loadavg").read().split()[:3])
    now, before = layouts(args.songs, args.n)
    shards, ids = {}, {}
    for name, payloads in (("packed", now), ("inline", before)):
        d = tempfile.mkdtemp(prefix=f"payload-{name}-")
        shard = qe.EdgeShard.create(d, qe.EdgeConfig(
            vectors={"v": qe.EdgeVectorParams(size=4, distance=qe.Distance.Cosine)},
            on_disk_payload=True))
        points = [qe.Point(id=str(uuid.uuid4()), vector={"v": [1.0, 0.0, 0.0, 0.0]},
                           payload=p) for p in payloads]
        shard.update(qe.UpdateOperation.upsert_points(points))
        shard.optimize()
        shards[name], ids[name] = shard, [p.id for p in points]
    sizes = {name: np.mean([len(str(p)) for p in ps]) for name, ps in
             (("packed", now), ("inline", before))}
    print(f"`{' '.join(sys.argv)}` — {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, "
          f"load {load}; {args.songs} songs; mean payload {sizes['inline']:.0f} characters "
          f"inline, {sizes['packed']:.0f} packed\n")
    print("| points retrieved | fields | inline p50 / p99 ms | packed p50 / p99 ms | "
          "p50 ratio |\n|---|---|---|---|---|")
    selectors = (("all", True), ("similar-song's", ["song_id", *FIELDS]), ("key", ["song_id"]))
    for count in (20, 340):
        for label, sel in selectors:
            t: dict[str, list[float]] = {"inline": [], "packed": []}
            for i in range(args.calls):
                order = ("inline", "packed") if i % 2 else ("packed", "inline")
                for name in order:
                    some = ids[name][(i * count) % (args.songs - count):][:count]
                    t0 = time.perf_counter()
                    shards[name].retrieve(some, sel, False)
                    t[name].append(time.perf_counter() - t0)
            a, b = (1000 * np.asarray(t[x]) for x in ("inline", "packed"))
            print(f"| {count} | {label} | {np.median(a):.2f} / {np.percentile(a, 99):.2f} | "
                  f"{np.median(b):.2f} / {np.percentile(b, 99):.2f} | "
                  f"{np.median(a) / np.median(b):.1f}x |")
    for shard in shards.values():
        shard.close()


if __name__ == "__main__":
    main()
