"""Shard snapshots of the embedded store: a consistent copy while the store is open, restored
by the engine itself; a Qdrant server store says to use the server's snapshots."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from songlens.errors import StoreBusy, StoreError
from songlens.store import CollectionSpec, Point, open_store
from songlens.store.edge import EdgeStore
from songlens.store.edge_snapshots import restore_snapshot
from songlens.store.server import ServerStore

SPEC = CollectionSpec(name="things", key_field="thing_id", dense={"v": 4},
                      indexes={"n": "float"})


def _points(keys: range) -> list[Point]:
    return [Point(key=f"k{i}", vectors={"v": np.array([1.0, i, 0.5, -i], np.float32)},
                  payload={"n": float(i)}) for i in keys]


def test_snapshot_of_an_open_store_restores_as_it_was(tmp_path):
    with open_store(path=tmp_path / "q") as store:
        store.ensure_collection(SPEC)
        store.upsert(SPEC, _points(range(30)))
        store.delete(SPEC, ["k3"])
        assert store.snapshot("things", tmp_path / "things.snapshot") == 29
        store.upsert(SPEC, _points(range(30, 40)))  # after the snapshot: not in it
        assert store.snapshot("absent", tmp_path / "absent.snapshot") is None
        want = store.search(SPEC, using="v", vector=np.array([1, 2, 0.5, -2]), limit=5)
    # the engine preallocates sparse files: the snapshot keeps their holes, and so does a restore
    files = [p.stat() for p in (tmp_path / "q" / "things").rglob("*") if p.is_file()]
    apparent = sum(st.st_size for st in files)
    assert (tmp_path / "things.snapshot").stat().st_size < apparent / 10
    assert restore_snapshot(tmp_path / "things.snapshot", tmp_path / "r" / "things",
                            max_bytes=1 << 30) == 29
    restored = [p.stat() for p in (tmp_path / "r" / "things").rglob("*") if p.is_file()]
    assert sum(st.st_size for st in restored) > apparent / 2  # the files' full lengths
    assert sum(st.st_blocks * 512 for st in restored) < apparent / 10
    with EdgeStore(tmp_path / "r") as restored:
        assert restored.count(SPEC) == 29 and not restored.get(SPEC, ["k3", "k35"])
        got = restored.search(SPEC, using="v", vector=np.array([1, 2, 0.5, -2]), limit=5)
        assert [(h.key, h.payload) for h in got] == [(h.key, h.payload) for h in want]


def test_a_collection_held_by_another_process_is_busy(tmp_path):
    with open_store(path=tmp_path / "q") as store:
        store.ensure_collection(SPEC)
        store.upsert(SPEC, _points(range(3)))
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, qdrant_edge as qe; "
         f"s = qe.EdgeShard.load({str(tmp_path / 'q' / 'things')!r}); print('held', flush=True); "
         "sys.stdin.read()"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(StoreBusy, match="open in another process"):
            EdgeStore(tmp_path / "q").snapshot("things", tmp_path / "s.snapshot")
    finally:
        holder.stdin.close()
        holder.wait(timeout=30)


def test_a_server_store_points_to_the_servers_snapshots(tmp_path):
    store = ServerStore(location=":memory:")
    with pytest.raises(StoreError, match="embedded store only"):
        store.snapshot("things", tmp_path / "s.snapshot")
