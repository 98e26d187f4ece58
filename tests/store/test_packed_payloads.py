"""Packed payload fields (CollectionSpec.packed): stored as one value, read back as written, on
both backends; points written before packing read as they were."""

from __future__ import annotations

import numpy as np
import pytest

from songlens.store import CollectionSpec, Filter, Match, Point, open_store
from songlens.store.base import PACKED_FIELD, point_id
from songlens.store.server import ServerStore

SPEC = CollectionSpec(name="songs", key_field="song_id", dense={"audio": 4},
                      indexes={"artist": "keyword"}, packed=frozenset({"timeline", "probs"}))


def _payload(i: int) -> dict:
    return {"artist": f"歌手{i % 2}", "title": f"第{i}首",
            "timeline": {"hop_s": 1.5, "tags": [{"tag": "摇滚", "p": [0.1, 0.9 * i]}]},
            "probs": {"MTT_musicnn": {"guitar": 0.25 + i / 100}}}


@pytest.fixture(params=["edge", "server-local"])
def store(request, tmp_path):
    s = open_store(path=tmp_path / "q") if request.param == "edge" else ServerStore(
        location=":memory:")
    s.ensure_collection(SPEC)
    s.upsert(SPEC, [Point(key=f"s{i}", vectors={"audio": np.eye(4)[i % 4] + 0.1 * i},
                          payload=_payload(i)) for i in range(6)])
    yield s
    s.close()


def test_a_packed_payload_reads_back_as_written(store):
    got = store.get(SPEC, ["s3"])[0].payload
    assert got == {**_payload(3), "song_id": "s3"}
    assert PACKED_FIELD not in got


def test_fields_read_only_what_is_named_packed_or_not(store):
    assert store.get(SPEC, ["s2"], fields=["title"])[0].payload == {"song_id": "s2",
                                                                   "title": "第2首"}
    assert store.get(SPEC, ["s2"], fields=["probs"])[0].payload == {
        "song_id": "s2", "probs": _payload(2)["probs"]}
    hits = store.search(SPEC, using="audio", vector=np.eye(4)[1], limit=3,
                        fields=["artist", "timeline.hop_s"])
    assert hits and all(set(h.payload) == {"song_id", "artist", "timeline"} for h in hits)
    page, _ = store.scroll(SPEC, limit=10, fields=())
    assert all(h.payload == {"song_id": h.key} for h in page)


def test_a_filter_on_a_packed_field_is_refused_not_silently_empty(store):
    with pytest.raises(ValueError, match="packed"):
        store.scroll(SPEC, filter=Filter(must=(Match("probs.MTT_musicnn", ("x",)),)))
    assert len(store.scroll(SPEC, filter=Filter(must=(Match("artist", ("歌手1",)),)))[0]) == 3


def test_the_engine_holds_one_packed_value_and_older_points_read_as_they_were(tmp_path):
    import qdrant_edge as qe

    store = open_store(path=tmp_path / "q")
    store.ensure_collection(SPEC)
    store.upsert(SPEC, [Point(key="new", vectors={"audio": np.ones(4)}, payload=_payload(1))])
    shard = store._shards[SPEC.name]
    raw = dict(shard.retrieve([point_id("songs", "new")], True, False)[0].payload)
    assert set(raw) == {"song_id", "artist", "title", PACKED_FIELD}
    # a point written before its collection packed anything: every field inline
    shard.update(qe.UpdateOperation.upsert_points([qe.Point(
        id=point_id("songs", "old"), vector={"audio": [1.0, 0.0, 0.0, 0.0]},
        payload={**_payload(4), "song_id": "old"})]))
    assert store.get(SPEC, ["old"])[0].payload == {**_payload(4), "song_id": "old"}
    assert store.get(SPEC, ["old"], fields=["probs"])[0].payload["probs"] == _payload(4)["probs"]
    store.close()


def test_a_spec_cannot_pack_an_indexed_field():
    with pytest.raises(ValueError, match="packed"):
        CollectionSpec(name="x", key_field="k", dense={"a": 2}, indexes={"artist": "keyword"},
                       packed=frozenset({"artist"}))
