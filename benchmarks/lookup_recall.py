"""recall@10 of the embedded store's HNSW search against exact search, by search-time ``hnsw_ef``.

    .venv/bin/python benchmarks/lookup_recall.py uniform [--n 100000] [--hnsw 16,100 32,256]
    .venv/bin/python benchmarks/lookup_recall.py realistic [--n 100000]

``uniform``: random unit audio (400-d) and text (512-d) vectors, fused as the pipeline fuses them
(the HNSW worst case: intrinsic dimension ~ the full dimension, nearest neighbours hardly nearer
than anything else). Only the dense ``fused`` and ``audio`` vectors are stored, with no payload
and no payload indexes, so one index per ``--hnsw`` (m, ef_construct) is cheap enough to build.

``realistic``: ``benchmarks/lookup.py``'s synthetic catalogue (real base windows, realistic
payloads, the songs collection with every payload index), built with the settings' HNSW
parameters; recall with and without lookup.py's filter (language tag and tempo ±10 %).

Stores are kept in ``benchmarks/out/lookupspeed/`` so ``lookup_speed.py`` can serve them.
Prints a markdown table: space, filter, hnsw_ef, recall@10, p50 of one search in-process.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
OUT = ROOT / "benchmarks" / "out" / "lookupspeed"


def _unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def build_uniform(n: int, m: int, ef_construct: int, seed: int = 7) -> tuple[Path, dict]:
    """A store of ``n`` uniform points (fused, audio) indexed with HNSW (m, ef_construct), int8
    copies and beam width as the settings have them."""
    from lookup_store import settings_store

    from songlens.catalog.analysis import fuse_vectors
    from songlens.settings import load_settings
    from songlens.store import CollectionSpec, Point

    quant = load_settings(None).qdrant.quantization
    where = OUT / (f"uniform-n{n}-m{m}-ef{ef_construct}" + ("-int8" if quant == "int8" else ""))
    vec_file = OUT / f"uniform-n{n}-vectors.npz"
    spec = CollectionSpec(name="songs", key_field="song_id", dense={"audio": 400, "fused": 912})
    if not vec_file.exists():
        rng = np.random.default_rng(seed)
        fw = load_settings(None).fusion
        audio = _unit(rng.normal(size=(n, 400)).astype(np.float32))
        text = _unit(rng.normal(size=(n, 512)).astype(np.float32))
        fused = np.stack([fuse_vectors(a, t, audio_weight=fw.audio_weight,
                                       text_weight=fw.text_weight)
                          for a, t in zip(audio, text, strict=True)]).astype(np.float32)
        OUT.mkdir(parents=True, exist_ok=True)
        np.savez(vec_file, audio=audio, fused=fused)
    arrays = np.load(vec_file)
    vectors = {"audio": arrays["audio"], "fused": arrays["fused"]}
    info_file = where / "built.json"
    if not info_file.exists():
        store = settings_store(where, hnsw_m=m, hnsw_ef_construct=ef_construct)
        store.ensure_collection(spec)
        t0 = time.perf_counter()
        for lo in range(0, n, 1000):
            store.upsert(spec, [Point(key=f"u{i:07d}", vectors={s: v[i] for s, v in
                                                                 vectors.items()},
                                      payload={})
                                for i in range(lo, min(n, lo + 1000))])
        t1 = time.perf_counter()
        store.optimize(spec)
        t2 = time.perf_counter()
        store.close()
        info_file.write_text(json.dumps({"upsert_s": t1 - t0, "optimize_s": t2 - t1}))
    return where, {"vectors": vectors, "spec": spec,
                   **json.loads(info_file.read_text()), "keys": [f"u{i:07d}" for i in range(n)]}


def held_out(n: int, count: int, seed: int) -> np.ndarray:
    """``count`` query rows out of ``n``, drawn independently of the 128 random songs the store
    measured its beam width on after the build (edge_recall.py): about 0.3 in common at 100k."""
    return np.random.default_rng(seed).choice(n, count, replace=False)


def sweep(store, spec, vectors: dict[str, np.ndarray], keys: list[str], queries: np.ndarray,
          efs: list[int], spaces: tuple[str, ...], filters: dict | None = None,
          k: int = 10) -> list[dict]:
    """recall@k (self excluded; a hit counts when its exact score reaches the k-th exact score,
    so ties are not misses) and p50 search time per (space, filter, ef), searched with the
    store's parameters (int8 copies and rescoring as configured) at each ``ef`` (0: the
    engine's default; -1: the width the store measured after its build, ``hnsw_ef: auto``)."""
    import qdrant_edge as qe

    from songlens.store import point_id
    from songlens.store.edge_recall import search_params

    shard = store._shard(spec)  # search params per call: the engine itself

    index = {point_id(spec.name, key): i for i, key in enumerate(keys)}
    rows = []
    for space in spaces:
        x = vectors[space]
        for fname, (masks, qfilters) in (filters or {"none": (None, None)}).items():
            truth = []
            for j, q in enumerate(queries):
                s = x @ x[q]
                s[q] = -np.inf
                if masks is not None:
                    s[~masks[j]] = -np.inf
                kk = min(k, int(np.isfinite(s).sum()))
                truth.append((s, float(np.partition(s, -kk)[-kk]) if kk else 0.0, kk))
            for ef in efs:
                if ef == -1:
                    ef = (store.index_state(spec).hnsw_ef or {}).get(space)
                    if ef is None:
                        continue
                    label = f"{ef} (measured)"
                else:
                    label = ef
                params = search_params(ef or None, *store._quant)
                hits, times = 0, []
                for j, (q, (s, kth, kk)) in enumerate(zip(queries, truth, strict=True)):
                    flt = qfilters[j] if qfilters is not None else None
                    req = qe.QueryRequest(limit=k + 1, query=qe.Query.Nearest(x[q].tolist(),
                                                                              space),
                                          filter=flt, with_payload=False, params=params)
                    t0 = time.perf_counter()
                    res = shard.query(req)
                    times.append(time.perf_counter() - t0)
                    got = [index[str(p.id)] for p in res if index[str(p.id)] != q][:kk]
                    hits += sum(s[i] >= kth - 2e-5 for i in got)
                rows.append({"space": space, "filter": fname, "ef": label,
                             "recall": hits / max(1, sum(t[2] for t in truth)),
                             "queries": len(queries),
                             "p50_ms": 1000 * float(np.median(times)),
                             "p99_ms": 1000 * float(np.percentile(times, 99))})
                print(rows[-1], file=sys.stderr)
    return rows


def table(title: str, rows: list[dict]) -> str:
    out = [f"**{title}**", "", "| space | filter | hnsw_ef | recall@10 | p50 ms | p99 ms |",
           "|---|---|---|---|---|---|"]
    out += [f"| {r['space']} | {r['filter']} | {r['ef'] or 'none (engine default)'} | "
            f"{r['recall']:.3f} | {r['p50_ms']:.2f} | {r['p99_ms']:.2f} |" for r in rows]
    return "\n".join(out)


def run_uniform(args: argparse.Namespace) -> str:
    from lookup_store import settings_store

    parts = []
    for cfg in args.hnsw:
        m, efc = (int(x) for x in cfg.split(","))
        where, d = build_uniform(args.n, m, efc)
        store = settings_store(where, hnsw_m=m, hnsw_ef_construct=efc)
        queries = held_out(args.n, args.queries, args.seed)
        rows = sweep(store, d["spec"], d["vectors"], d["keys"], queries, args.ef,
                     ("fused", "audio"))
        store.close()
        parts.append(table(f"uniform, n={args.n}, m {m}, ef_construct {efc} (upsert "
                           f"{d['upsert_s']:.0f} s, HNSW build {d['optimize_s']:.0f} s)", rows))
    return "\n\n".join(parts)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("kind", choices=("uniform", "realistic"))
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--hnsw", nargs="+", default=["16,100"], help="m,ef_construct (uniform)")
    ap.add_argument("--ef", type=int, nargs="+", default=[-1, 64, 128, 256, 512],
                    help="beam widths; -1: the one the store measured after its build")
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--base", type=int, default=160, help="real base windows (realistic)")
    ap.add_argument("--seed", type=int, default=11)
    args = ap.parse_args()
    load0 = open("/proc/loadavg").read().split()[:3]
    t0 = time.perf_counter()
    if args.kind == "uniform":
        text = run_uniform(args)
    else:
        from lookup_store import run_realistic
        text = run_realistic(args, table, sweep)
    load1 = open("/proc/loadavg").read().split()[:3]
    print(f"`{' '.join(sys.argv)}` — {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, "
          f"{time.perf_counter() - t0:.0f} s, load {' '.join(load0)} → {' '.join(load1)}\n")
    print(text)


if __name__ == "__main__":
    main()
