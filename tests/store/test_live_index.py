"""The embedded store rebuilds its index out of process and swaps it in while it serves; an
interrupted swap is undone on the next open; a failed or cancelled build changes nothing."""

from __future__ import annotations

import json
import shutil
import threading

import numpy as np
import pytest

from songlens.store import CollectionSpec, Point
from songlens.store.edge import EdgeStore
from songlens.store.edge_index import WORK

SPEC = CollectionSpec(name="c", key_field="k", dense={"v": 16}, indexes={"tag": "keyword"})


def points(lo: int, hi: int, *, tag: str = "a", seed: int = 0) -> list[Point]:
    rng = np.random.default_rng(seed + lo)
    return [Point(key=f"p{i}", vectors={"v": rng.normal(size=16)}, payload={"tag": tag, "i": i})
            for i in range(lo, hi)]


def index_kinds(store: EdgeStore, name: str = "c") -> set[str]:
    """The vector index type of each segment of the live folder (plain or hnsw)."""
    return {json.loads(p.read_text())["config"]["vector_data"]["v"]["index"]["type"]
            for p in (store.path / name / "segments").glob("*/segment.json")}


@pytest.fixture
def store(tmp_path):
    # a 1 KB indexing threshold: the engine builds an HNSW graph for these few points
    s = EdgeStore(tmp_path, full_scan_threshold=1, indexing_threshold_kb=1)
    s.upsert(SPEC, points(0, 1500))
    yield s
    s.close()


def test_rebuild_swaps_in_an_index_while_reads_and_writes_go_on(store):
    assert index_kinds(store) == {"plain"}
    assert store.index_state(SPEC).unindexed == 1500
    stop, reads, written, errors = threading.Event(), [0], [], []

    def reader() -> None:
        q = np.ones(16)
        while not stop.is_set():
            try:
                assert len(store.search(SPEC, using="v", vector=q, limit=5)) == 5
                reads[0] += 1
            except Exception as exc:  # noqa: BLE001 - reported below
                errors.append(exc)

    def writer() -> None:
        i = 1500
        while not stop.is_set():
            # a new song and a re-ingest, in one write: the build's copy cannot fall between them
            store.upsert(SPEC, points(i, i + 1, tag="new")
                         + points(i % 100, i % 100 + 1, tag=f"again{i}"))
            written.append(i)
            i += 1
            stop.wait(0.005)

    threads = [threading.Thread(target=reader), threading.Thread(target=writer)]
    for t in threads:
        t.start()
    try:
        assert store.rebuild_index(SPEC) is True
    finally:
        stop.set()
        for t in threads:
            t.join()
    assert not errors and reads[0] > 0
    assert "hnsw" in index_kinds(store)
    # every write made during the build is there, once: the journal was replayed
    assert store.count(SPEC) == 1500 + len(written)
    last = written[-1]
    assert store.get(SPEC, [f"p{last}"])[0].payload["tag"] == "new"
    assert store.get(SPEC, [f"p{last % 100}"])[0].payload["tag"] == f"again{last}"
    st = store.index_state(SPEC)
    assert not st.building and st.builds == 1 and st.indexed_points >= 1500
    # two points written per round after the copy; the rounds before it were indexed
    assert st.unindexed == 2 * (1500 + len(written) - st.indexed_points)
    assert list((store.path / WORK).iterdir()) == []
    # the state survives a restart: only what the build did not index counts as unindexed
    store.close()
    again = EdgeStore(store.path)
    assert again.index_state(SPEC).unindexed == again.count(SPEC) - st.indexed_points
    again.close()


def test_an_interrupted_swap_is_undone_on_open(tmp_path):
    s = EdgeStore(tmp_path)
    s.upsert(SPEC, points(0, 50))
    s.close()
    copy = tmp_path / "copy"
    shutil.copytree(tmp_path / "c", copy)  # the build's copy, made before the last write
    s = EdgeStore(tmp_path)
    s.upsert(SPEC, points(50, 51, tag="last"))
    s.close()
    # the crash: live folder moved aside, the copy in its place, no commit
    (tmp_path / WORK).mkdir()
    (tmp_path / "c").rename(tmp_path / WORK / "old-c")
    copy.rename(tmp_path / "c")
    s = EdgeStore(tmp_path)
    assert s.count(SPEC) == 51
    assert s.get(SPEC, ["p50"])[0].payload["tag"] == "last"
    assert not (tmp_path / WORK / "old-c").exists()
    s.close()


def test_a_cancelled_build_leaves_the_collection_as_it_was(store):
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(InterruptedError):
        store.rebuild_index(SPEC, cancel=cancel)
    store.upsert(SPEC, points(1500, 1501))  # writes are not journalled any more
    assert store.count(SPEC) == 1501 and index_kinds(store) == {"plain"}
    st = store.index_state(SPEC)
    assert not st.building and st.builds == 0 and st.unindexed == 1501
    assert not (store.path / WORK / "c").exists()


def test_nothing_to_index_resets_the_count_without_a_swap(tmp_path):
    s = EdgeStore(tmp_path)  # the engine's own threshold: 200 small points need no graph
    s.upsert(SPEC, points(0, 200))
    assert s.rebuild_index(SPEC) is False
    st = s.index_state(SPEC)
    assert st.unindexed == 0 and st.indexed_points == 200 and st.last_swap_s is None
    assert index_kinds(s) == {"plain"}
    s.close()


def test_a_later_build_indexes_the_new_points_and_leaves_the_indexed_segments_alone(store):
    def hnsw_segments() -> set[str]:
        return {p.parent.name for p in (store.path / "c" / "segments").glob("*/segment.json")
                if json.loads(p.read_text())["config"]["vector_data"]["v"]["index"]["type"]
                == "hnsw"}

    assert store.rebuild_index(SPEC) is True
    first = hnsw_segments()
    assert first
    store.upsert(SPEC, points(1500, 1600, tag="later"))
    assert store.rebuild_index(SPEC) is True
    # the segments indexed by the first build are still there, untouched, beside a new one
    # holding the later points (the engine's default would merge them all into one again)
    assert first < hnsw_segments()
    assert store.count(SPEC) == 1600 and store.index_state(SPEC).unindexed == 0
    later = points(1500, 1600)[50].vectors["v"]  # p1550's vector
    assert [h.key for h in store.search(SPEC, using="v", vector=later, limit=1)] == ["p1550"]
