"""The markdown report of ``benchmarks/lookup.py`` (and the server guidance it prints)."""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
from lookup_catalogue import Base, NoiseModel


def _machine() -> str:
    cpu = next((line.split(":", 1)[1].strip() for line in
                Path("/proc/cpuinfo").read_text().splitlines() if line.startswith("model name")),
               platform.processor())
    mem = next(int(line.split()[1]) for line in Path("/proc/meminfo").read_text().splitlines()
               if line.startswith("MemTotal"))
    return (f"{cpu}, {os.cpu_count()} cores, {mem / 2**20:.0f} GiB RAM, {platform.system()} "
            f"{platform.machine()}, Python {platform.python_version()}")


def _command() -> str:
    return " ".join([".venv/bin/python", "benchmarks/lookup.py", *sys.argv[1:]])


def _fmt_latency(h: dict[str, Any], ref: str = "GET /healthz") -> list[str]:
    lines = ["| request | n | p50 ms | p99 ms | mean ms | p50 / healthz p50 | items |",
             "|---|---|---|---|---|---|---|"]
    r = h["latency"].get(ref, {}).get("p50") or float("nan")
    for kind, v in h["latency"].items():
        items = "" if v["items"] is None else f"{v['items']:.1f}"
        lines.append(f"| {kind} | {v['n']} | {v['p50']:.1f} | {v['p99']:.1f} | {v['mean']:.1f} "
                     f"| {v['p50'] / r:.1f}x | {items} |")
    return lines


def report(args: argparse.Namespace, base: Base, noise: NoiseModel, structure: dict[str, Any],
           results: list[dict[str, Any]], baseline: dict[str, Any] | None,
           extra: list[dict[str, Any]], wall: float, load: tuple[str, str]) -> str:
    L: list[str] = []
    add = L.append
    add("# Lookup at catalogue scale: embedded store (Qdrant Edge), similar songs and playlists "
        "over HTTP")
    add("")
    add(f"Command: `{getattr(args, 'command', None) or _command()}`  ")
    add(f"Date: {getattr(args, 'date', None) or time.strftime('%Y-%m-%d %H:%M %Z')}; wall time "
        f"{wall / 60:.1f} min  ")
    add(f"Machine: {_machine()}  ")
    add(f"Load average at start / end: {load[0]} / {load[1]} (other work ran on the same 2 "
        "cores: absolute times are pessimistic, ratios within one run are comparable)  ")
    m = base.meta
    add(f"Models: audio `{m['audio_model']}` ({m['dims']['audio']}-d), text `{m['text_model']}` "
        f"({m['dims']['text']}-d); fused {m['dims']['fused']}-d, tags {m['dims']['tags']}-d  ")
    add(f"Store settings (configs/default.yaml): hnsw_m {results[0]['hnsw'][0]}, "
        f"hnsw_ef_construct {results[0]['hnsw'][1]}, full_scan_threshold 10000 KB, search "
        "threads one per CPU")
    add("")
    add("## Data")
    add("")
    add(f"- **Base**: {m['windows']} real {args.window_s:g} s windows of {m['recordings']} real "
        "recordings (Debian's fretsonfire-songs-*, wesnoth-1.16-music, drascula-music, "
        "hyperrogue-music, asc-music) through `Catalog.analyse` (musicnn, features, text, tags); "
        "60 % of windows carry 3-8 lines of real text from `benchmarks/data/lang_samples.jsonl` "
        f"(粤语, 华语, 韩语), the rest are instrumental. Analysis took {m['analyse_s']:.0f} s "
        "(cached in `benchmarks/out/lookup/`).")
    add(f"- **Synthetic songs** (noise model `{noise.kind}`): a random base window's audio and "
        f"text vectors, each moved U(0, {noise.step:g}) of the way towards one of its "
        f"{noise.neighbours} nearest real windows of *other* recordings, plus Gaussian noise "
        "with the covariance of the real vectors (`cov`; `iso` = isotropic noise instead), "
        "re-normalised; `fused` recomputed from them with the configured weights and `tags` "
        "from the perturbed tags, as the pipeline does. Noise magnitude: the noise alone puts "
        f"two siblings of one base window {noise.scale:g} x the median cosine distance of a "
        "real window to its nearest real window of another recording apart "
        f"({noise.ref['audio']:.3f} audio, {noise.ref['text']:.3f} text), i.e. each synthetic "
        "song differs from its siblings about as much as real neighbouring songs differ, and "
        "is no near-duplicate. Covariance-shaped noise keeps the low intrinsic dimension of "
        "real song vectors; isotropic noise of the same size fills all 400/384 dimensions and "
        "makes neighbourhoods look like uniform random data (table below). No `segments` "
        "multivector (only `POST /v1/similar` with an audio upload uses it); sparse `lyrics` "
        "from the base window.")
    add("- **Payloads**: the base window's full payload (tags with evidence, features, "
        "tag_probs, language detail, keywords) with a new title, an artist drawn Zipf(1.1) "
        "from 5,000, album, unique `audio_hash`, `ingested_at` uniform over the last year, "
        "style/scene/emotion/theme tags randomly swapped (30 %) or added (15 %) per dimension, "
        "scores ±10 %, energy/valence/… ±0.05, tempo ±5 %, loudness ±1.5 dB, duration "
        "log-normal around 220 s.")
    add("")
    add("Structure check (300 queries against the whole set; LID = local intrinsic "
        "dimensionality, Levina-Bickel MLE over 10 neighbours; real embedding data sets "
        "typically measure 10-30, uniform random vectors about their dimension). The real set "
        "is small, so its NN distance is large and its LID estimate low.")
    add("")
    add("| space | set | vectors | median NN cosine distance | LID |")
    add("|---|---|---|---|---|")
    for s, rows in structure.items():
        for name, v in rows.items():
            add(f"| {s} | {name} | {v['n']:,} | {v['nn_dist']:.3f} | {v['lid']:.1f} |")
    add("")
    add("## Store: fill, index, size")
    add("")
    add("Upsert: `VectorStore.upsert` in batches of 500 (the synthesis of the points is timed "
        "apart). `optimize()`: `EdgeShard.optimize()`, which builds the HNSW graphs; songlens "
        "never calls it. Search ms: `VectorStore.search` on `fused`, limit 20 (as the similar "
        "endpoint asks), payloads included, median of 50.")
    add("")
    add("| songs | index | upsert s (songs/s) | synthesis s | segments / indexed vectors as "
        "shipped | disk MiB as shipped | search ms as shipped | optimize() s | segments / "
        "indexed vectors after | disk MiB after | search ms after |")
    add("|---|---|---|---|---|---|---|---|---|---|---|")
    for r in results + [x for x in extra if x["data"] == noise.kind]:
        ip, io = r.get("info_plain", {}), r["info_opt"]
        add(f"| {r['n']:,} | m{r['hnsw'][0]}/efc{r['hnsw'][1]} | {r['upsert_s']:.1f} "
            f"({r['n'] / r['upsert_s']:.0f}) | {r['synth_s']:.1f} | {ip.get('segments', '')} / "
            f"{ip.get('indexed_vectors', '')} | {r['disk_plain']:.0f} | "
            f"{r.get('store_ms_plain', float('nan')):.1f} | {r['optimize_s']:.1f} | "
            f"{io['segments']} / {io['indexed_vectors']} | {r['disk_opt']:.0f} | "
            f"{r['store_ms_opt']:.1f} |")
    add("")
    add("## Recall@10 against exact search")
    add("")
    add("Self excluded; a result counts when its exact cosine reaches the 10th exact score, so "
        "tied scores are not misses. Filter: the query song's `tag_language` and its tempo "
        "±10 % (the `language`, `min_tempo`, `max_tempo` filters of the similar endpoint); "
        "'passing' is the share of the catalogue the filter lets through. `ef` = search-time "
        "`hnsw_ef` (songlens sends none: '-').")
    add("")
    add("| songs | data | index | space | filter | passing | ef | recall@10 | queries | "
        "engine p50 ms |")
    add("|---|---|---|---|---|---|---|---|---|---|")
    for r in results + extra:
        tag = f"m{r['hnsw'][0]}/efc{r['hnsw'][1]}"
        for key, name in (("recall_plain", "none (as shipped)"), ("recall_opt", f"HNSW {tag}")):
            for row in r.get(key, []):
                add(f"| {r['n']:,} | {r['data']} | {name} | {row['space']} | "
                    f"{'yes' if row['filtered'] else 'no'} | {100 * row['passing']:.1f} % | "
                    f"{row['ef'] or '-'} | {row['recall']:.3f} | {row['queries']} | "
                    f"{row['p50_ms']:.2f} |")
    add("")
    add("## End to end over HTTP")
    add("")
    add(f"`songlens serve` (uvicorn, one process) on the store; one client, sequential requests "
        f"over one keep-alive connection (httpx), in random order after a warm-up of 50: "
        f"{args.similar_requests} similar-song lookups (k=10; 4/6 fused, 1/6 fused with the "
        f"filter above, 1/6 audio), {args.playlist_requests} playlists (length 20, five kinds) "
        f"and {args.ref_requests} each of `GET /healthz` (HTTP overhead plus an exact count) "
        "and `GET /v1/songs/{id}` (one point read) as references. `items`: mean results "
        "returned.")
    for r in results:
        for key, name in (("http_plain", "as shipped (no optimizer run: full scans)"),
                          ("http_opt", "after optimize() (HNSW)")):
            h = r.get(key)
            if not h:
                continue
            add("")
            add(f"### {r['n']:,} songs, {name}")
            add("")
            L.extend(_fmt_latency(h))
            mi, ma = h["mem_idle"], h["mem_after"]
            add("")
            add(f"Server start-up {h['startup_s']:.1f} s. Memory (MiB): idle RSS "
                f"{mi['VmRSS']:.0f} (anon {mi['RssAnon']:.0f}, file {mi['RssFile']:.0f}); after "
                f"the requests RSS {ma['VmRSS']:.0f} (anon {ma['RssAnon']:.0f}, file "
                f"{ma['RssFile']:.0f}), peak {ma['VmHWM']:.0f}.")
            if h["errors"]:
                add(f"Errors: {len(h['errors'])}, e.g. `{h['errors'][0]}`")
    if baseline:
        mi = baseline["mem_idle"]
        add("")
        add(f"Reference: the same server on an empty store, idle: RSS {mi['VmRSS']:.0f} MiB "
            f"(anon {mi['RssAnon']:.0f}, file {mi['RssFile']:.0f}); start-up "
            f"{baseline['startup_s']:.1f} s. That is the models (musicnn, MiniLM, torch).")
    if len(results) >= 2 and baseline and all("http_opt" in r for r in results):
        L.extend(scaling(results[0], results[-1], baseline, args))
    L.extend(SERVER_GUIDE.splitlines())
    return "\n".join(L) + "\n"


def _similar(h: dict[str, Any], stat: str = "p50") -> float:
    return h["latency"]["similar fused"][stat]


def scaling(small: dict[str, Any], big: dict[str, Any], baseline: dict[str, Any],
            args: argparse.Namespace) -> list[str]:
    """Per-song costs from the two sizes, and where they cross the limits of this machine."""
    dn = big["n"] - small["n"]
    mem = {k: (big["http_opt"]["mem_after"][k] - small["http_opt"]["mem_after"][k]) / dn
           for k in ("VmRSS", "RssAnon", "RssFile")}
    models_mib = baseline["mem_idle"]["VmRSS"]
    disk = (big["disk_opt"] - small["disk_opt"]) / dn
    total_ram = next(int(line.split()[1]) for line in
                     Path("/proc/meminfo").read_text().splitlines()
                     if line.startswith("MemTotal")) / 1024
    lat = {}
    for key in ("http_plain", "http_opt"):
        a, b = (_similar(small[key], "p99"), _similar(big[key], "p99"))
        lat[key] = (a, b, (b - a) / dn)
    opt_a, opt_b = small["optimize_s"], big["optimize_s"]
    L = ["", "## Scaling", "",
         f"From {small['n']:,} to {big['n']:,} songs (after optimize(), after the requests): "
         f"server RSS grows {1024 * mem['VmRSS']:.1f} KiB per song (anonymous "
         f"{1024 * mem['RssAnon']:.1f}, file-backed {1024 * mem['RssFile']:.1f}), the store "
         f"on disk {1024 * disk:.1f} KiB per song; the models take {models_mib:.0f} MiB. "
         f"p99 of a fused similar-song lookup: as shipped (full scans) {lat['http_plain'][0]:.0f}"
         f" → {lat['http_plain'][1]:.0f} ms ({lat['http_plain'][1] / lat['http_plain'][0]:.1f}x "
         f"for {big['n'] / small['n']:.0f}x the songs); with HNSW {lat['http_opt'][0]:.0f} → "
         f"{lat['http_opt'][1]:.0f} ms. optimize() {opt_a:.0f} → {opt_b:.0f} s "
         f"({opt_b / max(opt_a, 1e-9):.1f}x).", "",
         "Extrapolated: memory, disk and full-scan latency linearly, HNSW latency with log n, "
         "optimize() with n log n (it grew faster than that here: see the notes):", "",
         "| songs | server RSS GiB | disk GiB | similar p99 ms as shipped | similar p99 ms with "
         "HNSW | optimize() min |", "|---|---|---|---|---|---|"]
    for n in (100_000, 250_000, 500_000, 1_000_000, 2_000_000, 5_000_000):
        rss = (models_mib + mem["VmRSS"] * n) / 1024
        p_plain = lat["http_plain"][0] + lat["http_plain"][2] * (n - small["n"])
        p_opt = lat["http_opt"][0] + (lat["http_opt"][1] - lat["http_opt"][0]) * \
            np.log(n / small["n"]) / np.log(big["n"] / small["n"])
        opt = opt_b * (n * np.log(n)) / (big["n"] * np.log(big["n"])) / 60
        L.append(f"| {n:,} | {rss:.1f} | {disk * n / 1024:.1f} | {p_plain:.0f} | {p_opt:.0f} | "
                 f"{opt:.0f} |")
    n_ram = (0.5 * total_ram - models_mib) / max(mem["VmRSS"], 1e-9)
    n_lat = small["n"] + (args.budget_ms - lat["http_plain"][0]) / max(lat["http_plain"][2], 1e-9)
    L += ["", f"On this machine ({total_ram / 1024:.0f} GiB): the server's RSS reaches half the "
          f"RAM at about {n_ram:,.0f} songs; as shipped, the fused similar-song p99 passes "
          f"{args.budget_ms:.0f} ms at about {max(n_lat, 0):,.0f} songs."]
    return L


SERVER_GUIDE = """
## Running against a Qdrant server

The API, the CLI and this benchmark's HTTP part run unchanged against a Qdrant server: set
`qdrant.url` (and `qdrant.api_key`) in the config file, or `SONGLENS_QDRANT__URL` /
`SONGLENS_QDRANT__API_KEY` in the environment; `open_store` then picks `ServerStore`
(qdrant-client) instead of the embedded Edge shard, and `data_dir` keeps only the feedback log
and ranker snapshots. `configs/production.example.yaml` is such a config
(`songlens serve --config configs/production.example.yaml`). No Qdrant server can be reached
from this machine, so the numbers above are embedded-only.

On first start songlens creates the collection: the four dense vectors (cosine, in RAM), the
`segments` multivector (float16, on disk, no graph), the sparse `lyrics` vector (IDF), HNSW
with `qdrant.hnsw_m` / `qdrant.hnsw_ef_construct`, and the payload indexes of `songs_spec`.
An existing collection is only checked for vector sizes: let songlens create it (that is what
creates the payload indexes), then change storage settings in place. The server's optimizer
builds the HNSW graphs in the background; nothing has to call `optimize()`.

Settings for a large catalogue, as Qdrant documents them (guides "Optimize performance" and
"Quantization"):

- **HNSW**: `hnsw_m: 32`, `hnsw_ef_construct: 256` (as in `production.example.yaml`): more
  links per node and a wider build search raise recall at the cost of build time and graph
  memory. Search-time `hnsw_ef` is not set by songlens (the engine default applies).
- **Scalar int8 quantisation, kept in RAM, with rescoring**: a 4x smaller copy of every dense
  vector (`quantization_config: scalar, type int8, quantile 0.99, always_ram true`); the search
  walks the graph on the int8 copy and re-scores the candidates with the originals
  (`rescore: true`; `oversampling` such as 2.0 fetches more candidates first).
- **Originals and payload on disk**: `on_disk: true` per dense vector and
  `on_disk_payload: true`, so RAM holds the int8 vectors, the graphs and the payload indexes,
  and the page cache the rest.
- **Payload indexes** on every filtered field: songlens creates them (`tag_*`, `language`,
  `artist_key`, `audio_hash`, `title_key`, `mode`, `camelot`, the float features,
  `ingested_at`); keep them, the filtered search plans on them.

Applied to the collection songlens created (qdrant-client):

```python
from qdrant_client import QdrantClient, models

client = QdrantClient(url="http://qdrant:6333", api_key=None)
client.update_collection(
    "songs",
    vectors_config={v: models.VectorParamsDiff(on_disk=True)
                    for v in ("audio", "text", "fused", "tags")},
    quantization_config=models.ScalarQuantization(scalar=models.ScalarQuantizationConfig(
        type=models.ScalarType.INT8, quantile=0.99, always_ram=True)),
    hnsw_config=models.HnswConfigDiff(m=32, ef_construct=256),
    collection_params=models.CollectionParamsDiff(on_disk_payload=True),
)
```

songlens sends no search params, so rescoring and oversampling stay at the server's defaults;
passing `SearchParams(quantization=QuantizationSearchParams(rescore=True, oversampling=2.0))`
from `ServerStore` would need a setting that does not exist yet.
"""


