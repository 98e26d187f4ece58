"""Similar-song and playlist latency over HTTP, this code against an earlier revision, same run.

    .venv/bin/python benchmarks/lookup_speed.py [--n 100000] [--against REV] [--before-store DIR]

The catalogue is ``lookup_store.py``'s (``lookup.py``'s realistic synthetic songs, HNSW built).
1. **Where the time goes**, in-process: one similar-song lookup split into its steps, the way
   ``REV`` does them (every vector of the query song, full payloads) and the way this code does
   (the vectors and payload fields the answer reads), plus turning the answer into JSON
   (pydantic-core, as FastAPI does it, and orjson).
2. **HTTP**: two ``songlens serve`` processes on two copies of the store, ``REV``'s code
   (``git archive``) and this one, each with its own default settings; every request of
   ``lookup.py``'s mix goes to both, alternating which goes first, so load on the shared machine
   falls on both alike. p50/p99 per kind, the ratio, and how many answers are identical.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

from lookup import _free_port, _proc_mem, _requests  # noqa: E402
from lookup_store import build_realistic, settings_store  # noqa: E402


def _ms(fn: Any, reps: list[Any]) -> float:
    t = []
    for r in reps:
        t0 = time.perf_counter()
        fn(r)
        t.append(time.perf_counter() - t0)
    return 1000 * float(np.median(t))


def breakdown(where: Path, spec: Any, n: int, queries: int = 60) -> list[tuple[str, float, float]]:
    """(step, ms the earlier way, ms now), medians over ``queries`` songs."""
    import orjson

    from songlens.api.schemas import SimilarOut
    from songlens.search.similar import FIELDS, SimilarSong, _dedupe, _songs
    from songlens.settings import load_settings
    from songlens.store.edge import EdgeStore

    q = load_settings(None).qdrant
    old = EdgeStore(where / "qdrant", hnsw_m=q.hnsw_m, hnsw_ef_construct=q.hnsw_ef_construct)
    keys = [f"lk{i:07d}" for i in np.random.default_rng(3).choice(n, queries, replace=False)]
    try:
        qs = {k: old.get(spec, [k], with_vectors=["fused"])[0] for k in keys}
        hits_full = {k: old.search(spec, using="fused", vector=qs[k].vectors["fused"], limit=20)
                     for k in keys}
        songs = {k: _songs(_dedupe(hits_full[k], qs[k].payload, 10), qs[k].payload, "fused")
                 for k in keys}
        out = [("query song: every vector + payload → fused + answer's fields",
                _ms(lambda k: old.get(spec, [k], with_vectors=True), keys),
                _ms(lambda k: old.get(spec, [k], with_vectors=["fused"], fields=FIELDS), keys))]
        for ef in (None, q.hnsw_ef):
            new = settings_store(where / "qdrant", hnsw_ef=ef)
            new._shards = old._shards  # the same open shard: one process may open it once
            new._index = old._index
            used = getattr(new._params(spec, "fused"), "hnsw_ef", None)
            out.append((f"search k+10 (hnsw_ef {ef or 'default'}: {used}, {q.quantization}): "
                        "full payloads → fields",
                        _ms(lambda k: old.search(spec, using="fused",
                                                 vector=qs[k].vectors["fused"], limit=20), keys),
                        _ms(lambda k, s=new: s.search(spec, using="fused",
                                                      vector=qs[k].vectors["fused"], limit=20,
                                                      fields=FIELDS), keys)))
        out.append(("dedupe + reasons", _ms(lambda k: _songs(_dedupe(hits_full[k], qs[k].payload,
                                                                     10), qs[k].payload, "fused"),
                                            keys), float("nan")))
        adapter = SimilarOut
        out.append(("response: pydantic validate + dump_json (FastAPI) → orjson of the "
                    "validated model's dict",
                    _ms(lambda k: adapter.model_validate({"items": songs[k]},
                                                         from_attributes=True).model_dump_json(),
                        keys),
                    _ms(lambda k: orjson.dumps(adapter.model_validate(
                        {"items": songs[k]}, from_attributes=True).model_dump()), keys)))
        assert all(isinstance(s, SimilarSong) for s in songs[keys[0]])
    finally:
        old.close()
    return out


def profile(where: Path, cat: Any, requests: int = 100, top: int = 25) -> str:
    """cProfile of this code's similar-song and playlist functions in-process (the service's
    catalog, models loaded) over ``lookup.py``'s request mix: where their time goes."""
    import cProfile
    import io
    import pstats

    from songlens.api.app import open_catalog
    from songlens.api.schemas import PlaylistOut, SimilarOut
    from songlens.search.playlist import PlaylistRequest, generate_playlist
    from songlens.search.similar import SimilarFilters, similar_to_song
    from songlens.settings import load_settings

    catalog = open_catalog(load_settings(None, data_dir=str(where)))

    def run(method: str, url: str, body: Any) -> bytes:
        if method == "POST":
            p = generate_playlist(catalog, PlaylistRequest.model_validate(body))
            return PlaylistOut.model_validate(p, from_attributes=True).model_dump_json()
        path, _, query = url.partition("?")
        params = dict(x.split("=") for x in query.split("&"))
        f = SimilarFilters(language=[params["language"]] if "language" in params else [],
                           min_tempo=params.get("min_tempo"), max_tempo=params.get("max_tempo"))
        items = similar_to_song(catalog, path.split("/")[3], k=int(params.get("k", 10)),
                                space=params.get("space", "fused"),
                                filter=f.to_song_filter(catalog.taxonomy))
        return SimilarOut.model_validate({"items": items}, from_attributes=True).model_dump_json()

    reqs = _requests(cat, np.random.default_rng(5), requests, requests // 2, 0)
    out = []
    try:
        for _, method, url, body in reqs[:10]:
            run(method, url, body)
        for which in ("GET", "POST"):
            prof, t = cProfile.Profile(), []
            for _, method, url, body in reqs:
                if method == which:
                    t0 = time.perf_counter()
                    prof.runcall(run, method, url, body)
                    t.append(time.perf_counter() - t0)
            text = io.StringIO()
            pstats.Stats(prof, stream=text).sort_stats("cumulative").print_stats(top)
            out.append(f"{'similar' if which == 'GET' else 'playlist'}: {len(t)} requests, "
                       f"p50 {1000 * np.median(t):.1f} ms, p99 {1000 * np.percentile(t, 99):.1f}"
                       f" ms\n{text.getvalue()}")
    finally:
        catalog.close()
        catalog.store.close()
    return "\n".join(out)


def _serve(code: Path, data_dir: Path, log: Path) -> tuple[subprocess.Popen, str]:
    import yaml

    cfg = data_dir / "songlens.yaml"
    cfg.write_text(yaml.safe_dump({"data_dir": str(data_dir), "log_level": "WARNING"}))
    port = _free_port()
    env = dict(os.environ, HF_HUB_OFFLINE="1", PYTHONPATH=str(code))
    proc = subprocess.Popen([sys.executable, "-m", "songlens.cli.main", "serve", "--config",
                             str(cfg), "--port", str(port)], env=env, cwd=str(code),
                            stdout=log.open("wb"), stderr=subprocess.STDOUT)
    return proc, f"http://127.0.0.1:{port}"


def http(where: Path, cat: Any, spec: Any, rev: str, args: argparse.Namespace
         ) -> dict[str, Any]:
    """The in-process breakdown (on a copy of the store), then the two servers."""
    import httpx

    tmp = Path(tempfile.mkdtemp(prefix="lookupspeed-"))
    old_code = tmp / "old"
    old_code.mkdir()
    subprocess.run(f"git -C {ROOT} archive {rev} songlens configs pyproject.toml | "
                   f"tar -x -C {old_code}", shell=True, check=True)
    servers: dict[str, Any] = {}
    steps = []
    try:
        for name in ("before", "after"):
            (tmp / name).mkdir()
            src = Path(args.before_store) if name == "before" and args.before_store else \
                where / "qdrant"
            shutil.copytree(src, tmp / name / "qdrant")
        steps = breakdown(tmp / "after", spec, cat.n)
        for name, code in (("before", old_code), ("after", ROOT)):
            servers[name] = _serve(code, tmp / name, tmp / f"{name}.log")
        clients = {name: httpx.Client(base_url=url, timeout=120) for name, (_, url) in
                   servers.items()}
        t0 = time.perf_counter()
        for name, c in clients.items():
            while True:
                if servers[name][0].poll() is not None or time.perf_counter() - t0 > 900:
                    raise SystemExit((tmp / f"{name}.log").read_text()[-2000:])
                try:
                    if c.get("/healthz").status_code == 200:
                        break
                except httpx.HTTPError:
                    time.sleep(0.5)
        rng = np.random.default_rng(args.seed)
        warm = _requests(cat, rng, 20, 10, 5)
        reqs = _requests(cat, rng, args.similar, args.playlists, args.ref)
        times: dict[str, dict[str, list[float]]] = {"before": {}, "after": {}}
        same: dict[str, list[bool]] = {}
        errors = []
        for i, (kind, method, url, body) in enumerate(warm + reqs):
            order = ("before", "after") if i % 2 else ("after", "before")
            answers = {}
            for name in order:
                t1 = time.perf_counter()
                r = clients[name].request(method, url, json=body)
                dt = time.perf_counter() - t1
                if r.status_code != 200:
                    errors.append(f"{name} {kind} {url} {r.status_code} {r.text[:200]}")
                ok = r.status_code == 200 and (method == "POST" or "similar" in url)
                answers[name] = [it["song_id"] for it in r.json()["items"]] if ok else None
                if i >= len(warm):
                    times[name].setdefault(kind, []).append(dt)
            if i >= len(warm) and None not in (answers["before"], answers["after"]):
                same.setdefault(kind, []).append(answers["before"] == answers["after"])
        mem = {name: _proc_mem(p.pid)["VmRSS"] for name, (p, _) in servers.items()}
        for c in clients.values():
            c.close()
    finally:
        for p, _ in servers.values():
            p.terminate()
            try:
                p.wait(timeout=60)
            except subprocess.TimeoutExpired:
                p.kill()
        shutil.rmtree(tmp, ignore_errors=True)
    rows = []
    for kind in sorted(times["after"]):
        b, a = (1000 * np.asarray(times[x][kind]) for x in ("before", "after"))
        rows.append({"kind": kind, "n": len(a), "before": (np.percentile(b, 50),
                                                           np.percentile(b, 99)),
                     "after": (np.percentile(a, 50), np.percentile(a, 99)),
                     "same": (sum(same.get(kind, [])), len(same.get(kind, [])))})
    return {"rows": rows, "errors": errors, "rss_mib": mem, "steps": steps}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--against", default="5a7f08c", help="the earlier revision")
    ap.add_argument("--similar", type=int, default=300)
    ap.add_argument("--playlists", type=int, default=100)
    ap.add_argument("--ref", type=int, default=50)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--base", type=int, default=160, help="real base windows")
    ap.add_argument("--before-store", default=None,
                    help="the qdrant folder REV serves (default: a copy of this code's): the "
                         "same catalogue as REV wrote it, when this code stores it otherwise")
    ap.add_argument("--profile", action="store_true",
                    help="only cProfile this code in-process (no servers)")
    args = ap.parse_args()
    load0 = " ".join(open("/proc/loadavg").read().split()[:3])
    t0 = time.perf_counter()
    where, cat, spec = build_realistic(args.n, base_n=args.base)
    if args.profile:
        print(profile(where, cat))
        return
    res = http(where, cat, spec, args.against, args)
    steps = res["steps"]
    load1 = " ".join(open("/proc/loadavg").read().split()[:3])
    print(f"`{' '.join(sys.argv)}` — {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, "
          f"{time.perf_counter() - t0:.0f} s, load {load0} → {load1}, {cat.n} songs\n")
    print("| step of one similar-song lookup (in-process) | before ms | after ms |\n|---|---|---|")
    for name, b, a in steps:
        print(f"| {name} | {b:.2f} | {a:.2f} |")
    print(f"\n| over HTTP, alternating ({args.against} → this) | n | p50 before → after | "
          "p99 before → after | p99 ratio | identical answers |\n|---|---|---|---|---|---|")
    for r in res["rows"]:
        (b50, b99), (a50, a99) = r["before"], r["after"]
        s, t = r["same"]
        print(f"| {r['kind']} | {r['n']} | {b50:.1f} → {a50:.1f} ms | {b99:.1f} → {a99:.1f} ms | "
              f"{b99 / a99:.2f}x | {f'{s}/{t}' if t else '—'} |")
    print(f"\nserver RSS after the requests (MiB): {res['rss_mib']}; errors: "
          f"{len(res['errors'])} {res['errors'][:3]}")


if __name__ == "__main__":
    main()
