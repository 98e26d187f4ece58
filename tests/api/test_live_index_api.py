"""A song posted to a running service gets indexed without a restart, and the service keeps
answering searches while the index is rebuilt (out of process) and swapped in."""

from __future__ import annotations

import json
import time

import pytest

from songlens.api.app import create_app
from tests.conftest import local_client


@pytest.fixture(scope="module")
def live(test_settings_factory, models, resources):
    """A service whose store indexes small segments (a 1 KB engine threshold), checking for
    unindexed songs every 0.2 s and rebuilding after 2."""
    from songlens.catalog.pipeline import Catalog
    from songlens.store.edge import EdgeStore

    settings = test_settings_factory(qdrant={"index_upkeep_points": 2,
                                             "index_upkeep_every_s": 0.2})
    store = EdgeStore(settings.qdrant_path, full_scan_threshold=1, indexing_threshold_kb=1)
    cat = Catalog(settings=settings, store=store, models=models, resources=resources)
    with local_client(create_app(settings, catalog=cat)) as c:
        yield c, cat
    store.close()


def post(client, audio: bytes, song_id: str):
    return client.post("/v1/songs", files={"audio": ("s.ogg", audio, "audio/ogg")},
                       data={"metadata": json.dumps({"song_id": song_id, "title": song_id})})


def index_kinds(cat) -> set[str]:
    return {json.loads(p.read_text())["config"]["vector_data"]["fused"]["index"]["type"]
            for p in (cat.store.path / cat.spec.name / "segments").glob("*/segment.json")}


def test_posted_songs_get_indexed_while_searches_go_on(live, music_clips):
    client, cat = live
    before = client.get("/healthz").json()["index"]["songs"]
    assert before["builds"] == 0 and not before["building"]
    clips = sorted(music_clips.items())
    for name, audio in clips[:2]:
        assert post(client, audio, name).status_code == 201
    assert client.get("/healthz").json()["index"]["songs"]["unindexed"] >= 2
    served_while_building, deadline = 0, time.monotonic() + 120
    while True:
        was = client.get("/healthz").json()["index"]["songs"]
        r = client.get(f"/v1/songs/{clips[0][0]}/similar?k=5")
        assert r.status_code == 200, r.text
        assert [i["song_id"] for i in r.json()["items"]] == [clips[1][0]]
        now = client.get("/healthz").json()["index"]["songs"]
        served_while_building += was["building"] and now["building"]
        if now["builds"] >= 1:
            break
        assert time.monotonic() < deadline, now
    assert served_while_building > 0  # a search answered from start to end during the build
    assert now["unindexed"] == 0 and now["last_error"] is None and now["last_swap_s"] >= 0
    assert "hnsw" in index_kinds(cat)
    # two songs are too few to measure a beam width on (tests/store/test_quantization.py)
    assert now["hnsw_ef"] is None and now["recall"] is None and now["float32"] is None
    metrics = client.get("/metrics").text
    assert 'songlens_index_unindexed_points{collection="songs"} 0.0' in metrics
    assert 'songlens_index_last_build_seconds{collection="songs"}' in metrics
    assert cat.count() == 2  # (re-ingestion during a build: tests/store/test_live_index.py)
