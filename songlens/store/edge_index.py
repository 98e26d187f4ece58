"""Keeping the embedded store's search index current while it serves.

Qdrant Edge has no background optimizer, and ``EdgeShard.optimize()`` holds the GIL for the
whole build (20k 128-d points: 13.9 s during which another Python thread ran twice; at 100k
songs the build takes many minutes): run in the serving process, it freezes every request. So
the index is built out of process and swapped in (:meth:`EdgeStore.rebuild_index
<songlens.store.edge.EdgeStore.rebuild_index>`):

1. writes wait (reads go on) while the collection's folder is flushed and copied to
   ``<store>/.rebuild/<name>``; from then on every write to the collection is also journalled;
2. a child process (``python -m songlens.store.edge_index <folder>``, niced) opens the copy,
   runs the optimizer, flushes and exits; the server keeps answering from the live shard;
3. writes and reads wait while the live shard is closed, the live folder renamed to
   ``.rebuild/old-<name>``, the copy renamed into its place, opened, and the journal replayed
   (re-ingestion is an upsert by the same point id: replaying it is harmless);
4. the commit: ``old-<name>`` becomes ``trash-<name>`` (one rename) and is deleted afterwards.

The build indexes what was written since the last one and leaves the segments already indexed
alone: by default the engine's optimizer merges the new points into the indexed segment and so
rebuilds the whole index every time (61 songs posted to a 100k-song store started a full
rebuild, still running after 12 minutes; that store's first build took 53), so the child first
caps the segment size it may create below the largest indexed segment
(:func:`keep_indexed_segments`; the same 61 songs then took 2.1 s, loading included).

A crash before the commit leaves ``old-<name>``, which :func:`recover` puts back on the next
open (it holds every write: the journalled ones were applied to it too); after it, the new
folder is complete. Nothing half-built is ever opened as the collection.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

__all__ = ["IndexState", "SwapGate", "copy_folder", "keep_indexed_segments", "recover", "run_build",
           "state_path"]

WORK = ".rebuild"


@dataclass
class IndexState:
    """One collection's index, as the store knows it. ``unindexed``: points written since the
    last index build (after a restart: the points beyond those the last build indexed)."""

    unindexed: int = 0
    indexed_points: int | None = None
    building: bool = False
    last_build_at: float | None = None
    last_build_s: float | None = None
    last_swap_s: float | None = None
    builds: int = 0
    last_error: str | None = None
    #: per named vector, the beam width searches use and the recall@10 it reached when
    #: measured after the last build (``hnsw_ef: auto``; edge_recall.py)
    hnsw_ef: dict[str, int] | None = None
    recall: dict[str, float] | None = None
    #: named vectors searched in float32 although they have int8 copies (those missed the
    #: target at every width)
    float32: list[str] | None = None

    def to_dict(self) -> dict:
        return asdict(self)


class SwapGate:
    """Readers share, a swap is alone: a minimal readers-writer lock (writer first, so a swap
    waiting cannot be starved by a stream of reads)."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._readers = 0
        self._writer = False
        self._waiting = 0

    @contextmanager
    def shared(self) -> Iterator[None]:
        with self._cond:
            while self._writer or self._waiting:
                self._cond.wait()
            self._readers += 1
        try:
            yield
        finally:
            with self._cond:
                self._readers -= 1
                if not self._readers:
                    self._cond.notify_all()

    @contextmanager
    def exclusive(self) -> Iterator[None]:
        with self._cond:
            self._waiting += 1
            while self._writer or self._readers:
                self._cond.wait()
            self._waiting -= 1
            self._writer = True
        try:
            yield
        finally:
            with self._cond:
                self._writer = False
                self._cond.notify_all()


def state_path(root: Path, name: str) -> Path:
    """Where the last build of collection ``name`` is recorded (beside its folder)."""
    return root / f"{name}.index.json"


def read_state(root: Path, name: str) -> dict:
    try:
        return json.loads(state_path(root, name).read_text("utf-8"))
    except (OSError, ValueError):
        return {}


def write_state(root: Path, name: str, **fields: object) -> None:
    tmp = state_path(root, name).with_suffix(".tmp")
    tmp.write_text(json.dumps(fields), encoding="utf-8")
    os.replace(tmp, state_path(root, name))


def copy_folder(src: Path, dest: Path) -> None:
    """Copy a shard folder with GNU cp: the engine's preallocated files are sparse (469 MiB
    apparent, 42 MiB allocated for 1,500 songs), and cp keeps their holes where
    ``shutil.copytree`` would write every zero (a clone on file systems that can)."""
    import subprocess

    res = subprocess.run(["cp", "-a", "--sparse=always", "--reflink=auto", str(src), str(dest)],
                         capture_output=True, text=True)
    if res.returncode != 0:
        raise OSError(f"copying the collection failed: {res.stderr.strip()[:300]}")


def recover(root: Path, name: str) -> None:
    """Undo a swap interrupted before its commit and clear leftovers of earlier builds."""
    work, live = root / WORK, root / name
    old = work / f"old-{name}"
    if old.exists():
        if live.exists():
            shutil.rmtree(live)
        os.rename(old, live)
    for leftover in (work / name, work / f"trash-{name}", work / f"failed-{name}"):
        if leftover.exists():
            shutil.rmtree(leftover, ignore_errors=True)


def run_build(folder: Path, cancel: threading.Event, *, nice: int = 10,
              poll_s: float = 0.25, measure: list[str] | None = None) -> dict:
    """Optimise the shard copy at ``folder`` in a child process; its JSON answer, or raises
    RuntimeError (failed) / InterruptedError (``cancel`` set: the child is stopped).
    ``measure``: the child's arguments for measuring the beam width afterwards
    (``EdgeStore.measure_args``)."""
    import subprocess

    proc = subprocess.Popen([sys.executable, "-m", "songlens.store.edge_index", str(folder),
                             "--nice", str(nice), *(measure or [])], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        while proc.poll() is None:
            if cancel.wait(poll_s):
                raise InterruptedError("index build cancelled")
        out, errs = proc.communicate()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    if proc.returncode != 0:
        last = (errs or "").strip().splitlines()[-1:] or [f"exit status {proc.returncode}"]
        raise RuntimeError(f"index build failed: {last[0][:300]}")
    return json.loads(out.strip().splitlines()[-1])


def _allocated_kb(folder: Path) -> int:
    return sum(f.stat().st_blocks * 512 for f in folder.rglob("*") if f.is_file()) // 1024


def keep_indexed_segments(folder: Path) -> int | None:
    """Cap, in the shard copy at ``folder``, the size of the segments its optimizer may build
    (``optimizers.max_segment_size``, which the engine compares with a segment's largest
    vector: one named vector's data, not their sum) at half that of its largest indexed
    segment, so that new points are indexed in segments of their own instead of being merged
    into it;
    small segments still merge with each other. The cap in KB, or None (nothing indexed yet:
    the first build makes one segment of everything, as before). The live folder never gets
    the cap: the server opens the swapped-in copy with its own configuration."""
    indexed = []
    for meta in (folder / "segments").glob("*/segment.json"):
        try:
            config = json.loads(meta.read_text("utf-8"))["config"]["vector_data"]
        except (OSError, ValueError, KeyError):
            continue
        if any(v.get("index", {}).get("type") == "hnsw" and v["index"]["options"].get("m")
               for v in config.values()):
            indexed.append(max(_allocated_kb(d) for d in meta.parent.glob("vector_storage-*")))
    if not indexed or max(indexed) < 2:
        return None
    cap = max(indexed) // 2
    path = folder / "edge_config.json"
    config = json.loads(path.read_text("utf-8"))
    optimizers = dict.fromkeys(("deleted_threshold", "vacuum_min_vector_number",
                                "default_segment_number", "max_segment_size",
                                "indexing_threshold", "prevent_unoptimized"))
    optimizers |= config.get("optimizers") or {}
    optimizers["max_segment_size"] = cap
    config["optimizers"] = optimizers
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(config), encoding="utf-8")
    os.replace(tmp, path)
    return cap


def _main(argv: list[str]) -> int:
    """The child: open the copy, optimise it, flush, say what happened as one JSON line."""
    import argparse

    import qdrant_edge as qe

    ap = argparse.ArgumentParser(prog="python -m songlens.store.edge_index")
    ap.add_argument("folder")
    ap.add_argument("--nice", type=int, default=10)
    ap.add_argument("--measure", default="", help="named vectors whose beam width to measure")
    ap.add_argument("--recall-target", type=float, default=0.98)
    ap.add_argument("--quantization", default="")
    ap.add_argument("--oversampling", type=float, default=2.0)
    args = ap.parse_args(argv)
    if args.nice:
        os.nice(args.nice)  # the server it builds for keeps the CPU first
    t0 = time.perf_counter()
    cap = keep_indexed_segments(Path(args.folder))
    shard = qe.EdgeShard.load(args.folder)
    optimized = bool(shard.optimize())
    shard.flush()
    points = int(shard.count(qe.CountRequest(exact=True)))
    measured, measure_error = None, None
    if args.measure:
        from songlens.store.edge_recall import measure

        try:  # the build stands without it: the last widths stay in use
            measured = measure(shard, args.measure.split(","), args.quantization or None,
                               args.oversampling, target=args.recall_target)
        except Exception as exc:  # noqa: BLE001 - reported in the answer
            measure_error = f"{type(exc).__name__}: {exc}"[:300]
    shard.close()
    print(json.dumps({"optimized": optimized, "points": points, "max_segment_kb": cap,
                      "measured": measured, "measure_error": measure_error,
                      "seconds": time.perf_counter() - t0}))
    return 0


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
