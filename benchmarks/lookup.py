"""Lookup at catalogue scale: similar songs and playlists over HTTP on a large embedded store.

    .venv/bin/python benchmarks/lookup.py [--n 100000] [--small-n 10000] [--base 160]
    .venv/bin/python benchmarks/lookup.py --render benchmarks/out/lookup/last-results.json

1. **Real base points**: 15 s windows of real recordings that Debian packages ship (the demo
   catalog's ``fretsonfire-songs-*``, ``wesnoth-1.16-music``, ``drascula-music``,
   ``hyperrogue-music``, ``asc-music``) through the real pipeline (``Catalog.analyse``: musicnn,
   features, text, tags); most windows get real lyrics-like text (lines of
   ``benchmarks/data/lang_samples.jsonl``). Cached in ``benchmarks/out/lookup/``.
2. **Synthetic catalogue** of ``--n`` songs: each a real base point moved towards one of its
   real nearest neighbours plus Gaussian noise with the covariance of the real vectors (audio
   and text spaces separately; fused and tags vectors recomputed from them as the pipeline
   does), with realistic payloads (Zipf-distributed
   artists, tags with random swaps, features with jitter, a year of ``ingested_at``). Upserted
   into an embedded store (Qdrant Edge) exactly like ``Catalog.ingest`` stores songs.
3. **Recall@10** of the store's search against exact numpy search, with and without a payload
   filter, as songlens leaves the store (no optimizer run) and after ``EdgeShard.optimize()``
   (HNSW built with ``qdrant.hnsw_m``/``hnsw_ef_construct``).
4. **End to end over HTTP**: the real server (``songlens serve``) on that store; p50/p99 of
   ``GET /v1/songs/{id}/similar`` and ``POST /v1/playlists`` against ``GET /healthz``, the
   server's memory and the store's size on disk.

The same at ``--small-n`` gives the growth ratios. Prints a markdown report.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from lookup_catalogue import (
    CACHE,
    Base,
    Catalogue,
    NoiseModel,
    fill,
    load_base,
    synthetic_structure,
)
from lookup_report import _command, report


def _filter_for(cat: Catalogue, q: int) -> tuple[str, float, float] | None:
    """The filter the benchmark uses for song ``q``: its language tag and tempo ±10 %."""
    if not cat.language[q] or np.isnan(cat.tempo[q]):
        return None
    t = float(cat.tempo[q])
    return cat.language[q][0], 0.9 * t, 1.1 * t


def recall(store: Any, spec: Any, cat: Catalogue, queries: np.ndarray, *, spaces: tuple[str, ...],
           efs: tuple[int | None, ...], k: int = 10) -> list[dict[str, Any]]:
    """recall@k of the shard's search (self excluded) against exact numpy cosine search; a hit
    counts when its exact score reaches the k-th exact score (ties are not misses)."""
    import qdrant_edge as qe

    from songlens.store import point_id

    shard = store._shard(spec)  # the engine itself: search params (hnsw_ef) are not in our API
    index = {point_id(spec.name, f"lk{i:07d}"): i for i in range(cat.n)}
    lang_sets = [set(x) for x in cat.language]
    rows = []
    for space in spaces:
        x = cat.vectors[space]
        for filtered in (False, True):
            truth, qs, flts, passing = [], [], [], []
            for q in queries:
                s = x @ x[q]
                s[q] = -np.inf
                flt = None
                if filtered:
                    f = _filter_for(cat, int(q))
                    if f is None:
                        continue
                    lang, lo, hi = f
                    mask = (cat.tempo >= lo) & (cat.tempo <= hi)
                    mask &= np.fromiter((lang in ls for ls in lang_sets), bool, cat.n)
                    passing.append(mask.mean())
                    s[~mask] = -np.inf
                    flt = qe.Filter(must=[
                        qe.FieldCondition(key="tag_language", match=qe.MatchValue(lang)),
                        qe.FieldCondition(key="tempo_bpm", range=qe.RangeFloat(gte=lo, lte=hi))])
                if not np.any(np.isfinite(s)) or not np.any(x[q]):
                    continue
                kk = min(k, int(np.isfinite(s).sum()))
                truth.append((s, float(np.partition(s, -kk)[-kk]), kk))
                qs.append(int(q))
                flts.append(flt)
            for ef in efs:
                params = qe.SearchParams(hnsw_ef=ef) if ef else None
                hits, times = 0, []
                for q, (s, kth, kk), flt in zip(qs, truth, flts, strict=True):
                    req = qe.QueryRequest(limit=k + 1, query=qe.Query.Nearest(x[q].tolist(),
                                                                              space),
                                          filter=flt, with_payload=False, params=params)
                    t0 = time.perf_counter()
                    res = shard.query(req)
                    times.append(time.perf_counter() - t0)
                    got = [index[str(p.id)] for p in res if index[str(p.id)] != q][:kk]
                    hits += sum(s[i] >= kth - 2e-5 for i in got)
                rows.append({"space": space, "filtered": filtered, "ef": ef,
                             "recall": hits / max(1, sum(t[2] for t in truth)),
                             "queries": len(qs), "p50_ms": 1000 * float(np.median(times)),
                             "passing": float(np.mean(passing)) if passing else 1.0})
    return rows


def store_search_ms(store: Any, spec: Any, cat: Catalogue, queries: np.ndarray) -> float:
    """Median ms of ``VectorStore.search`` (payloads included, as the API calls it)."""
    t = []
    for q in queries:
        t0 = time.perf_counter()
        store.search(spec, using="fused", vector=cat.vectors["fused"][q], limit=20)
        t.append(time.perf_counter() - t0)
    return 1000 * float(np.median(t))


# -- 4. end to end over HTTP ------------------------------------------------------------------
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _proc_mem(pid: int) -> dict[str, float]:
    out = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, val = line.partition(":")
        if key in ("VmRSS", "VmHWM", "RssAnon", "RssFile"):
            out[key] = int(val.split()[0]) / 1024  # MiB
    return out


def _dir_size(path: Path) -> float:
    """Allocated bytes under ``path`` in MiB (sparse mmap files count what they use)."""
    return sum(p.stat().st_blocks * 512 for p in path.rglob("*") if p.is_file()) / 2**20


def _pct(xs: list[float]) -> dict[str, float]:
    a = 1000 * np.asarray(xs)
    return {"n": len(a), "p50": float(np.percentile(a, 50)), "p99": float(np.percentile(a, 99)),
            "mean": float(a.mean())}


def _requests(cat: Catalogue, rng: np.random.Generator, n_similar: int, n_playlist: int,
              n_ref: int) -> list[tuple[str, str, str, dict[str, Any] | None]]:
    """(kind, method, url, json body) in a shuffled order."""
    reqs: list[tuple[str, str, str, dict[str, Any] | None]] = []
    ids = rng.integers(cat.n, size=n_similar + n_playlist + n_ref)
    for j in range(n_similar):
        q = int(ids[j])
        url = f"/v1/songs/lk{q:07d}/similar?k=10"
        kind = ("similar fused", "similar fused", "similar fused", "similar fused",
                "similar fused + filter", "similar audio")[j % 6]
        f = _filter_for(cat, q)
        if kind == "similar audio":
            url += "&space=audio"
        elif kind.endswith("filter") and f:
            url += f"&language={f[0]}&min_tempo={f[1]:.1f}&max_tempo={f[2]:.1f}"
        elif kind.endswith("filter"):
            kind = "similar fused"
        reqs.append((kind, "GET", url, None))
    top = cat.top_tags

    def pick(dim: str, i: int = 0) -> str:
        tags = top[dim] or ["流行"]
        return tags[min(len(tags) - 1, i + int(rng.integers(3)))]

    for j in range(n_playlist):
        t = j % 5
        if t == 0:
            kind, body = "playlist: 1 style", {"tags": {"style": [pick("style")]}}
        elif t == 1:
            kind, body = "playlist: style + emotion, arc", {
                "tags": {"style": [pick("style")], "emotion": [pick("emotion")]}, "flow": "arc"}
        elif t == 2:
            kind, body = "playlist: language + preferred scene + target", {
                "tags": {"language": [pick("language", -1)]},
                "preferred": {"scene": [pick("scene")]}, "target_energy": 0.6}
        elif t == 3:
            kind, body = "playlist: seed song", {
                "seed_songs": [f"lk{int(ids[n_similar + j]):07d}"]}
        else:
            kind, body = "playlist: emotion + tempo bounds", {
                "tags": {"emotion": [pick("emotion")]}, "min_tempo": 90, "max_tempo": 140,
                "diversity": 0.5}
        body["length"] = 20
        reqs.append((kind, "POST", "/v1/playlists", body))
    for j in range(n_ref):
        reqs.append(("GET /healthz", "GET", "/healthz", None))
        reqs.append(("GET /v1/songs/{id}", "GET",
                     f"/v1/songs/lk{int(ids[n_similar + n_playlist + j]):07d}", None))
    order = rng.permutation(len(reqs))
    return [reqs[i] for i in order]


def http_phase(data_dir: Path, cat: Catalogue | None, args: argparse.Namespace,
               seed: int) -> dict[str, Any]:
    """Start ``songlens serve`` on ``data_dir``, time requests sequentially, read its memory."""
    import httpx
    import yaml

    cfg = data_dir / "songlens.yaml"
    cfg.write_text(yaml.safe_dump({"data_dir": str(data_dir), "log_level": "WARNING"}))
    port = _free_port()
    log = (data_dir / "server.log").open("wb")
    env = dict(os.environ, HF_HUB_OFFLINE="1")
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "songlens.cli.main", "serve", "--config",
                             str(cfg), "--port", str(port)], env=env, stdout=log,
                            stderr=subprocess.STDOUT)
    base_url = f"http://127.0.0.1:{port}"
    out: dict[str, Any] = {}
    try:
        with httpx.Client(base_url=base_url, timeout=120) as client:
            while True:
                if proc.poll() is not None:
                    raise SystemExit(f"server exited: {(data_dir / 'server.log').read_text()}")
                if time.perf_counter() - t0 > 600:
                    raise SystemExit("server did not start within 600 s")
                try:
                    if client.get("/healthz").status_code == 200:
                        break
                except httpx.HTTPError:
                    time.sleep(0.5)
            out["startup_s"] = time.perf_counter() - t0
            out["mem_idle"] = _proc_mem(proc.pid)
            if cat is None:
                return out
            rng = np.random.default_rng(seed)
            warm = _requests(cat, rng, 30, 10, 10)
            reqs = _requests(cat, rng, args.similar_requests, args.playlist_requests,
                             args.ref_requests)
            times: dict[str, list[float]] = {}
            sizes: dict[str, list[int]] = {}
            errors: list[str] = []
            for i, (kind, method, url, body) in enumerate(warm + reqs):
                t1 = time.perf_counter()
                r = client.request(method, url, json=body)
                dt = time.perf_counter() - t1
                if r.status_code != 200:
                    errors.append(f"{kind} {url} {r.status_code} {r.text[:200]}")
                    continue
                if i < len(warm):
                    continue
                times.setdefault(kind, []).append(dt)
                items = r.json().get("items")
                if items is not None:
                    sizes.setdefault(kind, []).append(len(items))
            out["latency"] = {k: _pct(v) | {"items": float(np.mean(sizes[k])) if k in sizes
                                            else None} for k, v in sorted(times.items())}
            out["errors"] = errors
            out["mem_after"] = _proc_mem(proc.pid)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()
    return out


# -- 5. orchestration and report --------------------------------------------------------------
def _shard_info(store: Any, spec: Any) -> dict[str, int]:
    info = store._shard(spec).info()
    return {"segments": info.segments_count, "points": info.points_count,
            "indexed_vectors": info.indexed_vectors_count}


def run_size(n: int, base: Base, noise: NoiseModel, args: argparse.Namespace, root: Path,
             *, hnsw: tuple[int, int] | None = None, http: bool = True,
             brief: bool = False) -> dict[str, Any]:
    """Fill a store of ``n`` songs; recall and HTTP as shipped (no optimizer run) and after
    ``EdgeShard.optimize()``. ``brief``: recall only, fused and audio, default ef."""
    from songlens.catalog.record import songs_spec
    from songlens.settings import load_settings
    from songlens.store.edge import EdgeStore

    label = f"n{n}-{noise.kind}" + (f"-m{hnsw[0]}-ef{hnsw[1]}" if hnsw else "")
    data_dir = root / label
    overrides: dict[str, Any] = {"data_dir": str(data_dir)}
    if hnsw:
        overrides["qdrant"] = {"hnsw_m": hnsw[0], "hnsw_ef_construct": hnsw[1]}
    settings = load_settings(None, **overrides)
    dims = base.meta["dims"]
    spec = songs_spec(settings.qdrant.collection, audio_dim=dims["audio"],
                      text_dim=dims["text"], tags_dim=dims["tags"],
                      segment_dim=base.meta["segment_dim"])
    q = settings.qdrant

    def open_() -> EdgeStore:
        st = EdgeStore(settings.qdrant_path, hnsw_m=q.hnsw_m, hnsw_ef_construct=q.hnsw_ef_construct,
                       search_threads=q.search_threads)
        st.ensure_collection(spec)
        return st

    res: dict[str, Any] = {"n": n, "hnsw": (q.hnsw_m, q.hnsw_ef_construct), "data": noise.kind}
    store = open_()
    cat = fill(store, spec, base, noise, n, args.seed + n, settings)
    t0 = time.perf_counter()
    store.close()
    res.update(upsert_s=cat.upsert_s, synth_s=cat.synth_s, flush_s=time.perf_counter() - t0,
               disk_plain=_dir_size(settings.qdrant_path))
    rng = np.random.default_rng(args.seed)
    queries = rng.choice(n, size=min(args.queries, n), replace=False)
    efs = tuple(None if e == 0 else e for e in args.ef)
    spaces = ("fused", "audio", "tags")
    if not brief:
        store = open_()
        res["info_plain"] = _shard_info(store, spec)
        res["recall_plain"] = recall(store, spec, cat, queries[: args.queries // 2],
                                     spaces=("fused",), efs=(None,))
        res["store_ms_plain"] = store_search_ms(store, spec, cat, queries[:50])
        store.close()
        if http:
            print(f"[{label}] HTTP, as shipped", file=sys.stderr)
            res["http_plain"] = http_phase(data_dir, cat, args, args.seed)
    store = open_()
    t0 = time.perf_counter()
    store._shard(spec).optimize()  # no public API: songlens itself never runs the optimizer
    res["optimize_s"] = time.perf_counter() - t0
    res["info_opt"] = _shard_info(store, spec)
    res["recall_opt"] = recall(store, spec, cat, queries, spaces=spaces if not brief else
                               ("fused", "audio"), efs=efs if not brief else (None,))
    res["store_ms_opt"] = store_search_ms(store, spec, cat, queries[:50])
    store.close()
    res["disk_opt"] = _dir_size(settings.qdrant_path)
    if http and not brief:
        print(f"[{label}] HTTP, optimized", file=sys.stderr)
        res["http_opt"] = http_phase(data_dir, cat, args, args.seed)
    res["top_tags"] = cat.top_tags
    if not args.keep:
        shutil.rmtree(data_dir, ignore_errors=True)
    return res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=100_000, help="songs in the large catalogue")
    ap.add_argument("--small-n", type=int, default=10_000, help="songs in the small one (0: skip)")
    ap.add_argument("--base", type=int, default=160, help="real windows (base points)")
    ap.add_argument("--per-track", type=int, default=2, help="windows per recording at most")
    ap.add_argument("--window-s", type=float, default=15.0, help="seconds per base window")
    ap.add_argument("--noise-kind", choices=("cov", "iso", "uniform"), default="cov")
    ap.add_argument("--step", type=float, default=0.5,
                    help="move up to this fraction towards a real neighbour")
    ap.add_argument("--neighbours", type=int, default=5)
    ap.add_argument("--noise", type=float, default=1.0,
                    help="sibling distance from noise, as a multiple of the real NN distance")
    ap.add_argument("--variants", default="iso,uniform",
                    help="other noise kinds to measure recall on at --small-n ('' to skip)")
    ap.add_argument("--queries", type=int, default=200, help="recall queries")
    ap.add_argument("--ef", type=int, nargs="+", default=[0, 64, 256],
                    help="search-time hnsw_ef values for recall (0 = none, as songlens sends)")
    ap.add_argument("--alt-hnsw", default="32,256",
                    help="m,ef_construct for a second index at --small-n ('' to skip)")
    ap.add_argument("--similar-requests", type=int, default=300)
    ap.add_argument("--playlist-requests", type=int, default=100)
    ap.add_argument("--ref-requests", type=int, default=100)
    ap.add_argument("--no-http", action="store_true", help="recall only")
    ap.add_argument("--keep", action="store_true", help="keep the stores (in a temp folder)")
    ap.add_argument("--out", type=Path, help="also write the report here")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--budget-ms", type=float, default=100.0,
                    help="similar-song p99 budget for the scaling estimate")
    ap.add_argument("--render", type=Path, help="only re-render the report from a results JSON")
    args = ap.parse_args()
    from songlens.settings import load_settings

    t_start = time.perf_counter()
    load0 = " ".join(Path("/proc/loadavg").read_text().split()[:3])
    base = load_base(args.base, args.per_track, args.window_s, args.seed)

    def model(kind: str) -> NoiseModel:
        return NoiseModel.fit(base, kind=kind, step=args.step, neighbours=args.neighbours,
                              scale=args.noise)

    noise = model(args.noise_kind)
    variants = [model(k) for k in args.variants.split(",") if k and k != args.noise_kind]
    if args.render:
        d = json.loads(args.render.read_text(encoding="utf-8"))
        args.command, args.date = d.get("command"), d.get("date")
        text = report(args, base, noise, d["structure"], d["results"], d["baseline"],
                      d.get("extra", []), d.get("wall", 0.0), tuple(d.get("load", ("?", "?"))))
        print(text)
        if args.out:
            args.out.write_text(text, encoding="utf-8")
        return
    settings = load_settings(None)
    structure = synthetic_structure(base, [noise, *variants], min(args.n, 20_000), args.seed,
                                    settings)
    root = Path(tempfile.mkdtemp(prefix="lookup-"))
    results, extra = [], []
    baseline = None
    if not args.no_http:
        empty = root / "empty"
        empty.mkdir()
        baseline = http_phase(empty, None, args, args.seed)
    for n in ([args.small_n] if args.small_n else []) + [args.n]:
        print(f"[n={n}]", file=sys.stderr)
        results.append(run_size(n, base, noise, args, root, http=not args.no_http))
    small = args.small_n or args.n
    if args.alt_hnsw:
        m, ef = (int(x) for x in args.alt_hnsw.split(","))
        extra.append(run_size(small, base, noise, args, root, hnsw=(m, ef), http=False,
                              brief=True))
    for nm in variants:
        extra.append(run_size(small, base, nm, args, root, http=False, brief=True))
    load1 = " ".join(Path("/proc/loadavg").read_text().split()[:3])
    text = report(args, base, noise, structure, results, baseline, extra,
                  time.perf_counter() - t_start, (load0, load1))
    print(text)
    (CACHE / "last-results.json").write_text(json.dumps(
        {"results": results, "extra": extra, "baseline": baseline, "structure": structure,
         "wall": time.perf_counter() - t_start, "load": [load0, load1], "command": _command(),
         "date": time.strftime("%Y-%m-%d %H:%M %Z")},
        default=str, indent=1), encoding="utf-8")
    if args.out:
        args.out.write_text(text, encoding="utf-8")
    if not args.keep:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()

