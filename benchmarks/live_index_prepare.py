"""The 100k synthetic catalogue of ``benchmarks/live_index.py``: the same construction as
``benchmarks/lookup.py`` (real base windows analysed by the real pipeline, songs synthesised from
them, upserted through :class:`~songlens.store.edge.EdgeStore`), written once to a folder and
left unindexed, as a catalogue grown by posts to a running server is."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from lookup_catalogue import NoiseModel, fill, load_base  # noqa: E402


def prepare(root: Path, n: int, *, base_n: int, seed: int) -> dict:
    from songlens.catalog.record import songs_spec
    from songlens.settings import load_settings
    from songlens.store.edge import EdgeStore

    base = load_base(base_n, 1, 15.0, seed)
    noise = NoiseModel.fit(base, step=0.5, neighbours=min(5, base_n - 2), scale=1.0)
    settings = load_settings(None, data_dir=str(root))
    dims = base.meta["dims"]
    spec = songs_spec(settings.qdrant.collection, audio_dim=dims["audio"], text_dim=dims["text"],
                      tags_dim=dims["tags"], segment_dim=base.meta["segment_dim"])
    store = EdgeStore(settings.qdrant_path)
    store.ensure_collection(spec)
    t0 = time.perf_counter()
    cat = fill(store, spec, base, noise, n, seed, settings)
    store.close()
    info = {"n": n, "top_tags": cat.top_tags, "fill_s": time.perf_counter() - t0,
            "base": base.meta}
    (root / "catalogue.json").write_text(json.dumps(info, ensure_ascii=False, default=str))
    return info


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("root", type=Path)
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--base", type=int, default=24)
    ap.add_argument("--seed", type=int, default=7)
    a = ap.parse_args()
    print(prepare(a.root, a.n, base_n=a.base, seed=a.seed)["fill_s"])
