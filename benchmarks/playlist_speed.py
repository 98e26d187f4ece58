"""Playlist generation time, this code against an earlier revision's, on one synthetic catalogue.

    .venv/bin/python benchmarks/playlist_speed.py [--n 20000] [--against REV] [--requests 60]

The catalogue is ``benchmarks/lookup.py``'s (real base windows, synthetic songs with realistic
payloads, an embedded Qdrant Edge store; built once and kept in ``benchmarks/out/playlist/``).
The requests are lookup.py's five playlist kinds (tags, tags + arc, language + preferred scene +
target, seed song, emotion + tempo bounds). ``songlens.search.playlist`` at ``--against`` is
loaded beside the current one and both answer every request in the same process, alternating,
so the ratio is fair on a shared machine; the playlists must be identical.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import platform
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))
sys.path.insert(0, str(ROOT))

import lookup  # noqa: E402

OUT = ROOT / "benchmarks" / "out" / "playlist"


def build(n: int, seed: int = 7) -> tuple[Path, dict]:
    from songlens.catalog.record import songs_spec
    from songlens.settings import load_settings
    from songlens.store.edge import EdgeStore

    data_dir = OUT / f"n{n}"
    marker = data_dir / "filled.json"
    if not marker.exists():
        base = lookup.load_base(160, 2, 15.0, seed)
        noise = lookup.NoiseModel.fit(base, kind="cov", step=0.5, neighbours=5, scale=1.0)
        settings = load_settings(None, data_dir=str(data_dir))
        dims = base.meta["dims"]
        spec = songs_spec(settings.qdrant.collection, audio_dim=dims["audio"],
                          text_dim=dims["text"], tags_dim=dims["tags"],
                          segment_dim=base.meta["segment_dim"])
        store = EdgeStore(settings.qdrant_path)
        store.ensure_collection(spec)
        cat = lookup.fill(store, spec, base, noise, n, seed + n, settings)
        store.close()
        marker.write_text(json.dumps({"top_tags": cat.top_tags, "n": cat.n},
                                     ensure_ascii=False), "utf-8")
    return data_dir, json.loads(marker.read_text("utf-8"))


def load_revision(rev: str):
    # the module moved from coldstart/ to search/ with the package re-layout
    for where in ("songlens/search/playlist.py", "songlens/coldstart/playlist.py"):
        got = subprocess.run(["git", "show", f"{rev}:{where}"], cwd=ROOT, capture_output=True,
                             text=True)
        if got.returncode == 0:
            src = got.stdout
            break
    else:
        raise SystemExit(f"no playlist module at revision {rev}")
    path = OUT / f"playlist_{rev}.py"
    path.write_text(src, "utf-8")
    spec = importlib.util.spec_from_file_location(f"playlist_{rev}", path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod
    spec.loader.exec_module(mod)
    return mod


def _ids(playlist) -> list[str]:
    return [i.song_id for i in playlist.items]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=20_000)
    ap.add_argument("--against", default="HEAD", help="git revision to compare with (one with "
                    "the package layout of today: its playlist module imports this checkout's "
                    "songlens)")
    ap.add_argument("--requests", type=int, default=60)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    from songlens.api.app import open_catalog
    from songlens.search import playlist as current
    from songlens.settings import load_settings

    data_dir, info = build(args.n)
    old = load_revision(args.against)

    class _Cat:
        top_tags, n = info["top_tags"], info["n"]

    bodies = [b for _, _, _, b in lookup._requests(_Cat(), np.random.default_rng(7), 0,
                                                   args.requests, 0)]
    catalog = open_catalog(load_settings(None, data_dir=str(data_dir)))
    try:
        same = 0
        for b in bodies:  # also warms both
            a = _ids(current.generate_playlist(catalog,
                                               current.PlaylistRequest.model_validate(b)))
            o = _ids(old.generate_playlist(catalog, old.PlaylistRequest.model_validate(b)))
            same += a == o
        t_new, t_old = [], []
        for _ in range(args.rounds):
            for b in bodies:
                for mod, acc in ((current, t_new), (old, t_old)):
                    req = mod.PlaylistRequest.model_validate(b)
                    t0 = time.perf_counter()
                    mod.generate_playlist(catalog, req)
                    acc.append(1000 * (time.perf_counter() - t0))
    finally:
        catalog.store.close()
    load = " ".join(Path("/proc/loadavg").read_text().split()[:3])
    rows = [(f"`{args.against}`", t_old), ("this code", t_new)]
    print(f"# Playlist generation time\n\nCommand: `.venv/bin/python benchmarks/playlist_speed.py "
          f"--n {args.n} --against {args.against}`  \nDate: {time.strftime('%Y-%m-%d %H:%M')}, "
          f"Python {platform.python_version()}, 2-core x86_64, load {load}  \n"
          f"{args.n} synthetic songs (lookup.py's), {len(bodies)} requests × {args.rounds} rounds, "
          f"in process (no HTTP), exact search (no HNSW index)\n\n"
          f"Identical playlists: {same}/{len(bodies)}\n\n| code | mean ms | p50 ms | p90 ms |\n"
          "|---|---|---|---|")
    for name, ts in rows:
        print(f"| {name} | {np.mean(ts):.1f} | {np.median(ts):.1f} | "
              f"{np.percentile(ts, 90):.1f} |")
    print(f"\nRatio of means: {np.mean(t_old) / np.mean(t_new):.2f}x")


if __name__ == "__main__":
    main()
