"""The synthetic catalogue of ``benchmarks/lookup.py``: real base windows analysed by the real
pipeline, a noise model fitted to them, songs made from both with realistic payloads (built
through :class:`songlens.catalog.record.SongRecord`), and their upsert into a store."""

from __future__ import annotations

import hashlib
import json
import shutil
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


