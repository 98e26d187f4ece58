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
import hashlib
import json
import os
import platform
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
CACHE = ROOT / "benchmarks" / "out" / "lookup"
LANG_SAMPLES = ROOT / "benchmarks" / "data" / "lang_samples.jsonl"
SOURCES = {
    "wesnoth": "/usr/share/games/wesnoth/1.16/data/core/music",
    "drascula": "/usr/share/scummvm/drascula/audio",
    "hyperrogue": "/usr/share/hyperrogue/music",
    "asc": "/usr/share/games/asc/music",
}
DEMO = "/usr/share/games/fretsonfire/data/songs"
SPACES = ("audio", "text", "fused", "tags")


# -- 1. real base points ----------------------------------------------------------------------
@dataclass
class Base:
    group: np.ndarray                 # recording index of each window
    vectors: dict[str, np.ndarray]    # audio, text, fused, tags: (n_base, dim) float32
    sparse: list[tuple[list[int], list[float]] | None]
    payloads: list[dict[str, Any]]
    meta: dict[str, Any]              # dims, model names, seconds spent


def _recordings() -> list[tuple[str, Path | None, Any]]:
    """(name, file or None, demo song or None), interleaving sources so any cut stays varied."""
    from songlens.catalog.demo import find_demo_songs

    per_source: list[list[tuple[str, Path | None, Any]]] = []
    for name, root in SOURCES.items():
        files = sorted(p for p in Path(root).glob("**/*") if p.suffix in (".ogg", ".mp3")
                       and p.stat().st_size > 200_000) if Path(root).exists() else []
        per_source.append([(f"{name}-{p.stem}", p, None) for p in files])
    per_source.append([(d.song_id, None, d) for d in find_demo_songs([DEMO])])
    out = []
    while any(per_source):
        for lst in per_source:
            if lst:
                out.append(lst.pop(0))
    return out


def _lyrics_pool() -> dict[str, list[str]]:
    pool: dict[str, list[str]] = {}
    for line in LANG_SAMPLES.read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        pool.setdefault(row["lang"], []).append(row["text"])
    return pool


def build_base(n_windows: int, per_track: int, window_s: float, seed: int) -> Base:
    """Real points from ``Catalog.analyse`` on ``window_s`` windows; nothing is stored."""
    from songlens.catalog.demo import load_demo_song
    from songlens.catalog.pipeline import Catalog
    from songlens.content.audio_io import DecodedAudio, audio_hash, load_audio_file
    from songlens.content.metadata import SongMetadata
    from songlens.embeddings.models import load_models
    from songlens.settings import load_settings
    from songlens.store import open_store

    rng = np.random.default_rng(seed)
    tmp = tempfile.mkdtemp(prefix="lookup-base-")
    settings = load_settings(None, data_dir=tmp, audio={"threads": 2})
    t0 = time.perf_counter()
    catalog = Catalog(settings=settings, store=open_store(path=settings.qdrant_path),
                      models=load_models(settings))
    load_s = time.perf_counter() - t0
    pool = _lyrics_pool()
    langs = sorted(pool)
    group, vecs, sparse, payloads = [], {s: [] for s in SPACES}, [], []
    tracks = _recordings()
    t0 = time.perf_counter()
    for gi, (name, path, demo) in enumerate(tracks):
        if len(payloads) >= n_windows:
            break
        try:
            audio = load_demo_song(demo) if demo else load_audio_file(path, max_duration_s=1200)
        except Exception as exc:  # noqa: BLE001 - a bad file must not stop the benchmark
            print(f"skip {name}: {exc}", file=sys.stderr)
            continue
        sr, total = audio.sr, audio.duration_s
        if total < 10:
            continue
        n_win = max(1, min(per_track, int(total // window_s)))
        starts = np.linspace(0, max(total - window_s, 0), n_win + 2)[1:-1] if n_win > 1 and \
            total > 2 * window_s else [max(0.0, (total - window_s) / 2)]
        for start in starts:
            if len(payloads) >= n_windows:
                break
            y = audio.y[int(start * sr): int((start + window_s) * sr)]
            win = DecodedAudio(y=y, sr=sr, source_sr=audio.source_sr, source_channels=1,
                               duration_s=y.size / sr, content_hash=audio_hash(y))
            lyrics = None
            if rng.random() < 0.6:  # 60 % with lyrics-like text, the rest instrumental
                lines = pool[langs[rng.integers(len(langs))]]
                i = int(rng.integers(len(lines) - 8))
                lyrics = "\n".join(lines[i: i + int(rng.integers(3, 9))])
            meta = SongMetadata(title=f"{name} {start:.0f}s", artist=name.split("-")[0],
                                lyrics=lyrics)
            record, point = catalog.analyse(win, meta)
            group.append(gi)
            for s in SPACES:
                v = point.vectors.get(s)
                vecs[s].append(np.zeros(_dims(catalog)[s], np.float32) if v is None
                               else np.asarray(v, np.float32))
            sp = point.sparse.get("lyrics")
            sparse.append((list(map(int, sp[0])), list(map(float, sp[1]))) if sp else None)
            payloads.append(json.loads(json.dumps(record.to_payload(), default=float)))
            print(f"\rbase windows: {len(payloads)}/{n_windows}", end="", file=sys.stderr)
    print(file=sys.stderr)
    meta = {"dims": _dims(catalog), "segment_dim": catalog.models.audio.segment_dim,
            "audio_model": catalog.models.audio.name, "text_model": catalog.models.text.name,
            "model_load_s": load_s, "analyse_s": time.perf_counter() - t0,
            "recordings": int(len(set(group))), "windows": len(payloads)}
    catalog.store.close()
    shutil.rmtree(tmp, ignore_errors=True)
    return Base(group=np.asarray(group), vectors={s: np.stack(v) for s, v in vecs.items()},
                sparse=sparse, payloads=payloads, meta=meta)


def _dims(catalog: Any) -> dict[str, int]:
    return dict(catalog.spec.dense)


def load_base(n_windows: int, per_track: int, window_s: float, seed: int) -> Base:
    stem = CACHE / f"base-{n_windows}-{per_track}-{window_s:g}-{seed}"
    if stem.with_suffix(".json").exists():
        data = json.loads(stem.with_suffix(".json").read_text(encoding="utf-8"))
        arrays = np.load(stem.with_suffix(".npz"))
        return Base(group=arrays["group"], vectors={s: arrays[s] for s in SPACES},
                    sparse=[tuple(s) if s else None for s in data["sparse"]],
                    payloads=data["payloads"], meta=data["meta"])
    base = build_base(n_windows, per_track, window_s, seed)
    CACHE.mkdir(parents=True, exist_ok=True)
    np.savez(stem.with_suffix(".npz"), group=base.group, **base.vectors)
    stem.with_suffix(".json").write_text(json.dumps(
        {"sparse": base.sparse, "payloads": base.payloads, "meta": base.meta},
        ensure_ascii=False), encoding="utf-8")
    return base


# -- 2. synthetic catalogue -------------------------------------------------------------------
def _unit(x: np.ndarray) -> np.ndarray:
    return x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), 1e-12)


def _knn_other(x: np.ndarray, group: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Each row's ``k`` nearest rows (cosine) among windows of *other* recordings, and the
    cosine distance to the nearest one."""
    s = _unit(x) @ _unit(x).T
    s[group[:, None] == group[None, :]] = -np.inf
    order = np.argsort(-s, axis=1)[:, :k]
    return order, 1.0 - s[np.arange(len(x)), order[:, 0]]


def _lid(x: np.ndarray, k: int = 10, n_queries: int = 500, seed: int = 0) -> float:
    """Local intrinsic dimensionality (Levina-Bickel MLE over ``k`` neighbours, averaged as in
    MacKay-Ghahramani), of unit rows under Euclidean distance."""
    rng = np.random.default_rng(seed)
    k = min(k, len(x) - 2)
    q = rng.choice(len(x), size=min(n_queries, len(x)), replace=False)
    d2 = np.maximum(2.0 - 2.0 * (x[q] @ x.T), 0.0)
    d2[np.arange(len(q)), q] = np.inf
    d = np.sqrt(np.partition(d2, k, axis=1)[:, :k])
    d = np.sort(d, axis=1)
    d = np.maximum(d, 1e-9)
    inv = np.mean(np.log(d[:, -1:] / d[:, :-1]), axis=1)
    return float(1.0 / np.mean(inv))


@dataclass
class NoiseModel:
    """How a synthetic song's audio and text vectors are made from a real base window's.

    ``cov`` (default): the base vector moved a uniform fraction in ``[0, step]`` of the way
    towards one of its ``neighbours`` nearest real windows (of other recordings), plus Gaussian
    noise with the covariance of the real vectors (so it varies along the directions real songs
    vary along), re-normalised. ``iso``: the same with isotropic Gaussian noise. ``uniform``:
    random unit vectors (the misleading worst case). The noise magnitude is set from ``ref``, the
    median cosine distance of a real window to its nearest real window of another recording:
    the noise alone puts two siblings of one base window ``scale`` x ``ref`` apart."""

    kind: str
    step: float
    neighbours: int
    scale: float
    ref: dict[str, float]
    gain: dict[str, float]
    nbrs: dict[str, np.ndarray]
    centred: dict[str, np.ndarray]

    @classmethod
    def fit(cls, base: Base, *, kind: str = "cov", step: float, neighbours: int,
            scale: float) -> NoiseModel:
        ref, gain, nbrs, centred = {}, {}, {}, {}
        for s in ("audio", "text"):
            x = base.vectors[s]
            nbrs[s], nn = _knn_other(x, base.group, neighbours)
            ref[s] = float(np.median(nn[nn > 1e-4]))
            r = ref[s] * scale
            centred[s] = (x - x.mean(0)) / np.sqrt(len(x) - 1)
            # siblings b + g1, b + g2 with E|g|^2 = T have cosine ~ 1 / (1 + T): distance r
            # needs T = r / (1 - r); T = gain^2 * trace(covariance) (or gain^2 * dim, iso)
            trace = float((centred[s] ** 2).sum()) if kind == "cov" else float(x.shape[1])
            gain[s] = float(np.sqrt(r / (1.0 - r) / trace))
        return cls(kind=kind, step=step, neighbours=neighbours, scale=scale, ref=ref, gain=gain,
                   nbrs=nbrs, centred=centred)

    def vectors(self, base: Base, idx: np.ndarray, rng: np.random.Generator, settings: Any
                ) -> dict[str, np.ndarray]:
        from songlens.catalog.pipeline import fuse_vectors

        out = {}
        for s in ("audio", "text"):
            x = base.vectors[s]
            if self.kind == "uniform":
                out[s] = _unit(rng.normal(size=(len(idx), x.shape[1]))).astype(np.float32)
                continue
            other = self.nbrs[s][idx, rng.integers(self.neighbours, size=len(idx))]
            t = rng.uniform(0.0, self.step, size=(len(idx), 1)).astype(np.float32)
            v = (1 - t) * x[idx] + t * x[other]
            if self.kind == "cov":
                z = rng.normal(size=(len(idx), len(x))).astype(np.float32)
                v += self.gain[s] * (z @ self.centred[s])
            else:
                v += rng.normal(0.0, self.gain[s], size=v.shape).astype(np.float32)
            out[s] = _unit(v).astype(np.float32)
        fa, ft = settings.fusion.audio_weight, settings.fusion.text_weight
        out["fused"] = np.stack([fuse_vectors(a, t, audio_weight=fa, text_weight=ft)
                                 for a, t in zip(out["audio"], out["text"], strict=True)]
                                ).astype(np.float32)
        return out


SYLLABLES = ("lin", "chen", "wei", "mei", "jun", "hao", "xin", "yu", "an", "li", "zhou", "ming",
             "kai", "lan", "ye", "song", "min", "jae", "hyun", "soo", "ka", "wing", "yan", "tak")
WORDS = ("夜", "风", "海", "光", "梦", "雨", "城", "心", "路", "歌", "星", "花", "时间", "青春",
         "Love", "Night", "Road", "Summer", "Blue", "Home", "Dream", "Light", "Rain", "Fire",
         "사랑", "밤", "하늘", "너", "Forever", "Run", "Echo", "Gold", "Ocean", "Heart")
JITTER = ("energy", "danceability", "valence", "acousticness", "instrumentalness",
          "speechiness")


class Payloads:
    """Realistic payloads: a real base payload with a new identity (title, Zipf-distributed
    artist, album, audio hash, ``ingested_at`` over the last year), tags with random swaps and
    additions, and audio features with jitter."""

    def __init__(self, base: Base, rng: np.random.Generator, *, artists: int = 5000,
                 zipf: float = 1.1) -> None:
        from songlens.content.taxonomy import load_taxonomy

        self.base_json = [json.dumps(p, ensure_ascii=False) for p in base.payloads]
        self.taxonomy = load_taxonomy()
        self.rng = rng
        names = set()
        while len(names) < artists:
            k = int(rng.integers(2, 4))
            names.add(" ".join(SYLLABLES[j].title() for j in rng.integers(len(SYLLABLES),
                                                                          size=k)))
        self.artists = sorted(names)
        p = 1.0 / np.arange(1, artists + 1) ** zipf
        self.artist_p = p / p.sum()
        self.now = time.time()

    def make(self, i: int, b: int) -> tuple[dict[str, Any], np.ndarray]:
        from songlens.catalog.record import SongRecord
        from songlens.content.taxonomy import DIMENSIONS
        from songlens.content.text.vectors import tag_profile_vector

        rng, tx = self.rng, self.taxonomy
        rec = SongRecord.from_payload(json.loads(self.base_json[b]))
        song_id = f"lk{i:07d}"
        artist = self.artists[int(rng.choice(len(self.artists), p=self.artist_p))]
        title = " ".join(WORDS[j] for j in rng.integers(len(WORDS), size=int(rng.integers(1, 4))))
        if rng.random() < 0.03:
            title += " (Live)"
        rec.song_id, rec.title, rec.artist = song_id, title, artist
        rec.album = f"{artist} {int(rng.integers(1, 9))}"
        rec.audio_hash = hashlib.sha256(song_id.encode()).hexdigest()
        rec.ingested_at = rec.updated_at = self.now - float(rng.uniform(0, 365 * 86400))
        tags = rec.tags
        for dim in DIMENSIONS[1:]:  # language stays: the text vector was made from it
            lst = tags.setdefault(dim, [])
            have = {t["tag"] for t in lst}
            spare = [t for t in tx.tags[dim] if t not in have]
            if lst and spare and rng.random() < 0.3:
                new = spare[int(rng.integers(len(spare)))]
                lst[int(rng.integers(len(lst)))] = {"tag": new, "en": tx.en[(dim, new)],
                                                    "score": round(float(rng.uniform(.3, .8)), 4),
                                                    "evidence": []}
            elif spare and rng.random() < 0.15:
                new = spare[int(rng.integers(len(spare)))]
                lst.append({"tag": new, "en": tx.en[(dim, new)],
                            "score": round(float(rng.uniform(0.3, 0.6)), 4), "evidence": []})
            for t in lst:
                t["score"] = round(min(1.0, float(t["score"]) * float(rng.uniform(0.9, 1.1))), 4)
            lst.sort(key=lambda t: -t["score"])
        feats = rec.audio_features
        for f in JITTER:
            if isinstance(feats.get(f), int | float):
                feats[f] = round(float(np.clip(feats[f] + rng.normal(0, 0.05), 0, 1)), 4)
        if isinstance(feats.get("tempo_bpm"), int | float):
            feats["tempo_bpm"] = round(feats["tempo_bpm"] * float(np.exp(rng.normal(0, 0.05))), 2)
        if isinstance(feats.get("loudness_db"), int | float):
            feats["loudness_db"] = round(feats["loudness_db"] + float(rng.normal(0, 1.5)), 2)
        rec.duration_s = feats["duration_s"] = round(
            float(np.clip(rng.lognormal(np.log(220), 0.3), 60, 900)), 3)
        return rec.to_payload(), tag_profile_vector(tags, tx)


@dataclass
class Catalogue:
    """What the exact search needs about the synthetic songs."""

    n: int
    vectors: dict[str, np.ndarray]   # fused, audio, tags
    language: list[list[str]]        # tag_language per song
    tempo: np.ndarray                # tempo_bpm (nan when missing)
    top_tags: dict[str, list[str]]   # most frequent tags per dimension
    upsert_s: float
    synth_s: float


def fill(store: Any, spec: Any, base: Base, noise: NoiseModel, n: int, seed: int,
         settings: Any, batch: int = 500) -> Catalogue:
    """Synthesise ``n`` songs and upsert them in batches; returns what recall needs."""
    from collections import Counter

    from songlens.store import Point

    rng = np.random.default_rng(seed)
    payloads = Payloads(base, rng)
    keep = {s: np.zeros((n, base.vectors[s].shape[1]), np.float32) for s in ("fused", "audio",
                                                                             "tags")}
    language: list[list[str]] = []
    tempo = np.full(n, np.nan, np.float32)
    counts: dict[str, Counter] = {d: Counter() for d in ("language", "style", "scene", "emotion",
                                                         "theme")}
    upsert_s = synth_s = 0.0
    for lo in range(0, n, batch):
        t0 = time.perf_counter()
        idx = rng.integers(len(base.payloads), size=min(batch, n - lo))
        vecs = noise.vectors(base, idx, rng, settings)
        points = []
        for j, b in enumerate(idx):
            i = lo + j
            payload, tags_vec = payloads.make(i, int(b))
            v = {s: vecs[s][j] for s in ("audio", "text", "fused")}
            if np.any(tags_vec):
                v["tags"] = tags_vec
                keep["tags"][i] = tags_vec
            keep["fused"][i], keep["audio"][i] = vecs["fused"][j], vecs["audio"][j]
            language.append(list(payload.get("tag_language", [])))
            if isinstance(payload.get("tempo_bpm"), int | float):
                tempo[i] = payload["tempo_bpm"]
            for d, c in counts.items():
                c.update(payload.get(f"tag_{d}", []))
            sp = base.sparse[int(b)]
            points.append(Point(key=payload["song_id"], vectors=v, payload=payload,
                                sparse={"lyrics": sp} if sp else {}))
        t1 = time.perf_counter()
        store.upsert(spec, points)
        t2 = time.perf_counter()
        synth_s += t1 - t0
        upsert_s += t2 - t1
        print(f"\rupsert {lo + len(idx)}/{n}", end="", file=sys.stderr)
    print(file=sys.stderr)
    return Catalogue(n=n, vectors=keep, language=language, tempo=tempo,
                     top_tags={d: [t for t, _ in c.most_common(6)] for d, c in counts.items()},
                     upsert_s=upsert_s, synth_s=synth_s)


# -- 3. recall against exact search -----------------------------------------------------------
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


def synthetic_structure(base: Base, models: list[NoiseModel], n: int, seed: int,
                        settings: Any) -> dict[str, Any]:
    """Median NN distance and local intrinsic dimensionality of the real windows and of ``n``
    synthetic songs from each noise model."""
    out: dict[str, Any] = {}
    for s in ("audio", "fused"):
        row = {"real windows": _unit(base.vectors[s])}
        for nm in models:
            rng = np.random.default_rng(seed)
            idx = rng.integers(len(base.payloads), size=n)
            row[f"synthetic ({nm.kind})"] = nm.vectors(base, idx, rng, settings)[s]
        out[s] = {}
        for name, x in row.items():
            m = min(300, len(x))
            sims = x[:m] @ x.T
            sims[np.arange(m), np.arange(m)] = -np.inf
            out[s][name] = {"n": len(x), "nn_dist": float(np.median(1 - sims.max(1))),
                            "lid": _lid(x, k=10, n_queries=m, seed=seed)}
    return out


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
