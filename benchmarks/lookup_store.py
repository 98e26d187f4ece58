"""The realistic catalogue of ``lookup_recall.py`` and ``lookup_speed.py``: ``lookup.py``'s
synthetic songs (real base windows, realistic payloads) in the songs collection with every
payload index, HNSW built with the settings' m / ef_construct, kept in
``benchmarks/out/lookupspeed/realistic-n<N>/`` with what exact search and the requests need."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
from lookup_catalogue import Catalogue, NoiseModel, fill, load_base

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "benchmarks" / "out" / "lookupspeed"


def settings_store(path: Any, **overrides: Any) -> Any:
    """The embedded store at ``path`` as ``songlens serve`` opens it with the default settings
    (``configured_store``), with ``overrides`` of ``qdrant`` settings (``hnsw_m``, ``hnsw_ef``…)."""
    from songlens.settings import load_settings
    from songlens.store import configured_store

    return configured_store(load_settings(None, qdrant={"path": str(path), **overrides}))


def index_config() -> dict[str, Any]:
    """What an index build depends on in the settings (a catalogue built otherwise is indexed
    again)."""
    from songlens.settings import load_settings

    q = load_settings(None).qdrant
    return {"hnsw": [q.hnsw_m, q.hnsw_ef_construct], "quantization": q.quantization,
            "hnsw_ef": q.hnsw_ef, "recall_target": q.recall_target}


def build_realistic(n: int, *, base_n: int = 160, seed: int = 7) -> tuple[Path, Catalogue, Any]:
    """The data folder (``<dir>/qdrant``), the catalogue and the collection spec."""
    from songlens.catalog.record import songs_spec
    from songlens.settings import load_settings

    where = OUT / f"realistic-n{n}-base{base_n}"
    base = load_base(base_n, 2 if base_n > 20 else 1, 15.0, seed)
    settings = load_settings(None, data_dir=str(where))
    dims = base.meta["dims"]
    spec = songs_spec(settings.qdrant.collection, audio_dim=dims["audio"], text_dim=dims["text"],
                      tags_dim=dims["tags"], segment_dim=base.meta["segment_dim"])
    info_file = where / "catalogue.json"
    if not info_file.exists():
        noise = NoiseModel.fit(base, kind="cov", step=0.5, neighbours=min(5, base_n - 2),
                               scale=1.0)
        store = settings_store(settings.qdrant_path)
        store.ensure_collection(spec)
        cat = fill(store, spec, base, noise, n, seed + n, settings)
        t0 = time.perf_counter()
        store.optimize(spec)
        optimize_s = time.perf_counter() - t0
        store.close()
        np.savez(where / "catalogue.npz", tempo=cat.tempo, **cat.vectors)
        info_file.write_text(json.dumps(
            {"n": n, "language": cat.language, "top_tags": cat.top_tags, "upsert_s": cat.upsert_s,
             "synth_s": cat.synth_s, "optimize_s": optimize_s, "packed": True,
             "index": index_config()}, ensure_ascii=False), encoding="utf-8")
    info = json.loads(info_file.read_text(encoding="utf-8"))
    if not info.get("packed"):
        info["repack_s"] = repack(settings.qdrant_path, spec)
        info["packed"] = True
        info_file.write_text(json.dumps(info, ensure_ascii=False), encoding="utf-8")
    if info.get("index") != index_config():
        # other settings than the catalogue's build (an older one: float32 vectors, m 32):
        # opened with these, the engine rebuilds every segment's index at the next optimise
        store = settings_store(settings.qdrant_path)
        t0 = time.perf_counter()
        store.optimize(spec)
        info["reindex_s"] = time.perf_counter() - t0
        info["measured"] = store.index_state(spec).to_dict()
        store.close()
        info["index"] = index_config()
        info_file.write_text(json.dumps(info, ensure_ascii=False), encoding="utf-8")
    arrays = np.load(where / "catalogue.npz")
    cat = Catalogue(n=info["n"], vectors={s: arrays[s] for s in ("fused", "audio", "tags")},
                    language=info["language"], tempo=arrays["tempo"], top_tags=info["top_tags"],
                    upsert_s=info["upsert_s"], synth_s=info["synth_s"])
    cat.optimize_s = info["optimize_s"]  # type: ignore[attr-defined]
    return where, cat, spec


def repack(qdrant_path: Any, spec: Any, page: int = 500) -> float:
    """Rewrite the payloads of a catalogue built before payloads were packed, as the pipeline
    writes them now (the tags' evidence apart, the packed fields in one value); returns the
    seconds it took. The engine copies a point out of an indexed segment when its payload
    changes, so every point ends up unindexed and the HNSW graph is built again (here: as long
    as the first build)."""
    import qdrant_edge as qe

    from songlens.catalog.record import SongRecord
    from songlens.store.base import PACKED_FIELD, stored_payload

    shard = qe.EdgeShard.load(str(Path(qdrant_path) / spec.name), None)
    t0, offset, done = time.perf_counter(), None, 0
    try:
        while True:
            recs, offset = shard.scroll(qe.ScrollRequest(offset=offset, limit=page,
                                                         with_payload=True, with_vector=False))
            for r in recs:
                old = dict(r.payload)
                if PACKED_FIELD in old:
                    continue
                new = stored_payload(spec, old[spec.key_field],
                                     SongRecord.from_payload(old).to_payload())
                shard.update(qe.UpdateOperation.overwrite_payload([r.id], new))
            done += len(recs)
            print(f"\rrepack {done}", end="", file=sys.stderr)
            if offset is None:
                break
        shard.flush()
        shard.optimize()
    finally:
        shard.close()
    print(file=sys.stderr)
    return time.perf_counter() - t0


def filters(cat: Catalogue, queries: np.ndarray) -> tuple[np.ndarray, list[Any]]:
    """lookup.py's filter for each query song (its language tag, its tempo ±10 %): the mask
    of songs passing it and the engine's filter; queries without one pass everything."""
    import qdrant_edge as qe
    from lookup import _filter_for

    lang_sets = [set(x) for x in cat.language]
    masks, flts = [], []
    for q in queries:
        f = _filter_for(cat, int(q))
        if f is None:
            masks.append(np.ones(cat.n, bool))
            flts.append(None)
            continue
        lang, lo, hi = f
        mask = (cat.tempo >= lo) & (cat.tempo <= hi)
        mask &= np.fromiter((lang in ls for ls in lang_sets), bool, cat.n)
        masks.append(mask)
        flts.append(qe.Filter(must=[
            qe.FieldCondition(key="tag_language", match=qe.MatchValue(lang)),
            qe.FieldCondition(key="tempo_bpm", range=qe.RangeFloat(gte=lo, lte=hi))]))
    return np.stack(masks), flts


def run_realistic(args: Any, table: Any, sweep: Any) -> str:
    from lookup_recall import held_out

    from songlens.settings import load_settings

    where, cat, spec = build_realistic(args.n, base_n=args.base)
    q = load_settings(None).qdrant
    store = settings_store(where / "qdrant")
    queries = held_out(cat.n, args.queries, args.seed)
    masks, flts = filters(cat, queries)
    keys = [f"lk{i:07d}" for i in range(cat.n)]
    rows = sweep(store, spec, cat.vectors, keys, queries, args.ef, ("fused", "audio"),
                 filters={"none": (None, None), "language + tempo ±10 %": (masks, flts)})
    store.close()
    passing = float(masks.mean())
    return table(f"realistic, n={cat.n}, m {q.hnsw_m}, ef_construct {q.hnsw_ef_construct}, "
                 f"{q.quantization} "
                 f"(base {args.base} real windows, upsert {cat.upsert_s:.0f} s, HNSW build "
                 f"{cat.optimize_s:.0f} s; the filter leaves {100 * passing:.1f} % of the songs on "
                 "average)", rows)
