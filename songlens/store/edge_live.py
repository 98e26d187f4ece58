"""The embedded store's index kept current while it serves: the methods of
:class:`~songlens.store.edge.EdgeStore` that build it out of process and swap it in (the
procedure and why: :mod:`songlens.store.edge_index`)."""

from __future__ import annotations

import logging
import os
import shutil
import threading
import time
from typing import Any

import qdrant_edge as qe

from songlens.errors import StoreError
from songlens.store.base import CollectionSpec
from songlens.store.edge_index import (
    WORK,
    IndexState,
    copy_folder,
    read_state,
    run_build,
    write_state,
)

__all__ = ["LiveIndexMixin"]

log = logging.getLogger("songlens.store.edge")


class LiveIndexMixin:
    """Needs ``path``, ``_lock``, ``_gate``, ``_shards``, ``_index``, ``_journals``,
    ``_shard()``, ``_read()``, ``_config()`` and ``measure_args()`` from the store it is
    mixed into."""

    def _initial_state(self, name: str, shard: qe.EdgeShard) -> IndexState:
        last = read_state(self.path, name)
        n = int(shard.count(qe.CountRequest(exact=True)))
        indexed = last.get("indexed_points")
        return IndexState(unindexed=max(0, n - int(indexed)) if indexed is not None else n,
                          indexed_points=indexed, last_build_at=last.get("built_at"),
                          last_build_s=last.get("build_s"), hnsw_ef=last.get("hnsw_ef"),
                          recall=last.get("recall"), float32=last.get("float32"))

    def _built(self, name: str, points: int, seconds: float, *, unindexed: int,
               measured: dict[str, dict] | None = None) -> None:
        """Record a build; ``measured``: the beam widths it measured (edge_recall.py), which
        searches use from now on (None: the last ones stand)."""
        st = self._index[name]
        st.indexed_points, st.unindexed = points, unindexed
        st.last_build_at, st.last_build_s, st.builds = time.time(), seconds, st.builds + 1
        st.last_error = None
        if measured:
            st.hnsw_ef = {v: int(m["hnsw_ef"]) for v, m in measured.items()}
            st.recall = {v: float(m["recall"]) for v, m in measured.items()}
            st.float32 = sorted(v for v, m in measured.items() if not m.get("int8", True))
        write_state(self.path, name, indexed_points=points, built_at=st.last_build_at,
                    build_s=seconds, hnsw_ef=st.hnsw_ef, recall=st.recall, float32=st.float32)

    def index_state(self, spec: CollectionSpec) -> IndexState | None:
        self._shard(spec)
        state = self._index[spec.name].to_dict()
        if not getattr(self, "_auto_ef", False):  # widths measured earlier are not in use
            state.update(hnsw_ef=None, recall=None, float32=None)
        return IndexState(**state)

    def rebuild_index(self, spec: CollectionSpec, cancel: threading.Event | None = None, *,
                      nice: int = 10) -> bool:
        """Build the collection's index out of process and swap it in (edge_index.py): reads
        go on throughout except during the swap itself, writes wait while the folder is copied
        and swapped. True when a new index was swapped in; False when one is already being
        built or the engine found nothing to index. Raises StoreError when the build failed
        (the live collection is unchanged) and InterruptedError when ``cancel`` was set.
        ``nice``: the child's niceness (the server keeps the CPU first)."""
        name, st = spec.name, None
        work = self.path / WORK
        build = work / name
        with self._lock:
            self._shard(spec)
            st = self._index[name]
            if st.building:
                return False
            st.building = True
            try:
                if build.exists():
                    shutil.rmtree(build)
                work.mkdir(exist_ok=True)
                self._read(spec, "flush", lambda s: s.flush())
                t0 = time.perf_counter()
                copy_folder(self.path / name, build)
                self._journals[name] = []
                log.info("index of %s: copied in %.2fs, building out of process", name,
                         time.perf_counter() - t0)
            except BaseException as exc:
                st.building = False
                shutil.rmtree(build, ignore_errors=True)
                if isinstance(exc, OSError):  # a full disk: the live collection is untouched
                    st.last_error = f"copy failed: {exc}"
                    raise StoreError(f"qdrant edge: copying {name!r} for an index build "
                                     f"failed: {exc}") from exc
                raise
        t0 = time.perf_counter()
        try:
            try:
                result = run_build(build, cancel or threading.Event(), nice=nice,
                                   measure=self.measure_args(spec))
            except RuntimeError as exc:
                st.last_error = str(exc)
                raise StoreError(f"qdrant edge: {exc}") from exc
            with self._lock:
                journal = self._journals.pop(name)
                pending = sum(n for _, n in journal)
                if not result["optimized"]:
                    self._built(name, int(result["points"]), time.perf_counter() - t0,
                                unindexed=pending, measured=result.get("measured"))
                    return False
                swap_s = self._swap(spec, journal)
                # the swap time first: a reader that sees the build counted sees its swap too
                st.last_swap_s = swap_s
                self._built(name, int(result["points"]), time.perf_counter() - t0,
                            unindexed=pending, measured=result.get("measured"))
            if result.get("measure_error"):
                log.warning("index of %s: measuring the beam width failed (%s); the last "
                            "widths stay in use", name, result["measure_error"])
            log.info("index of %s rebuilt in %.1fs, swapped in %.2fs (%d writes replayed)",
                     name, time.perf_counter() - t0, swap_s, len(journal))
            return True
        finally:
            with self._lock:
                self._journals.pop(name, None)
                st.building = False
            shutil.rmtree(build, ignore_errors=True)
            shutil.rmtree(work / f"trash-{name}", ignore_errors=True)

    def _swap(self, spec: CollectionSpec, journal: list[tuple[Any, int]]) -> float:
        """Put the built copy in place of the live folder, replay ``journal`` into it, commit.
        Called under the lock; reads wait meanwhile. On failure the old folder is back."""
        name, work = spec.name, self.path / WORK
        live, old = self.path / name, work / f"old-{name}"
        t0 = time.perf_counter()
        with self._gate.exclusive():
            shard = self._shards.pop(name)
            shard.flush()
            shard.close()
            os.rename(live, old)
            os.rename(work / name, live)
            new = None
            try:
                new = qe.EdgeShard.load(str(live), self._config(spec))
                for op, _ in journal:
                    new.update(op)
                new.flush()
            except Exception as exc:  # noqa: BLE001 - put the old folder back
                if new is not None:
                    new.close()
                os.rename(live, work / f"failed-{name}")
                os.rename(old, live)
                self._shards[name] = qe.EdgeShard.load(str(live), self._config(spec))
                shutil.rmtree(work / f"failed-{name}", ignore_errors=True)
                self._index[name].last_error = f"swap failed: {exc}"
                raise StoreError(f"qdrant edge: swapping in the rebuilt index of {name!r} "
                                 f"failed: {exc}") from exc
            os.rename(old, work / f"trash-{name}")  # the commit
            self._shards[name] = new
        return time.perf_counter() - t0
