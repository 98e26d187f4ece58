"""The same operations through both backends (Qdrant Edge, and qdrant-client's local mode standing
in for a server) give the same results."""

from __future__ import annotations

import numpy as np
import pytest

from songlens.errors import ConfigError, StoreError
from songlens.store import (
    CollectionSpec,
    Filter,
    Match,
    Point,
    Prefetch,
    Range,
    open_store,
)
from songlens.store.server import ServerStore

SPEC = CollectionSpec(
    name="songs", key_field="song_id", dense={"audio": 8, "text": 6}, sparse=("lyrics",),
    indexes={"artist": "keyword", "tempo_bpm": "float", "tag_style": "keyword"},
    multi={"segments": 8},
)


def _points(n: int = 40) -> list[Point]:
    rng = np.random.default_rng(7)
    centres = rng.normal(size=(4, 8))
    pts = []
    for i in range(n):
        audio = centres[i % 4] + 0.3 * rng.normal(size=8)
        pts.append(Point(
            key=f"song-{i}",
            vectors={"audio": audio, "text": rng.normal(size=6),
                     "segments": audio + 0.5 * rng.normal(size=(2 + i % 4, 8))},
            sparse={"lyrics": ([i % 7, 100 + i % 5, 1000 + i], [1.0, 0.5, 2.0])},
            payload={"artist": f"artist-{i % 5}", "tempo_bpm": 60.0 + 3 * i,
                     "tag_style": ["摇滚", "流行", "民谣"][i % 3:], "title": f"第{i}首"},
        ))
    return pts


@pytest.fixture(params=["edge", "server-local"])
def store(request, tmp_path):
    s = open_store(path=tmp_path / "q") if request.param == "edge" else ServerStore(
        location=":memory:")
    s.ensure_collection(SPEC)
    s.upsert(SPEC, _points())
    yield s
    s.close()


@pytest.fixture(scope="module")
def both(tmp_path_factory):
    edge = open_store(path=tmp_path_factory.mktemp("edge"))
    local = ServerStore(location=":memory:")
    for s in (edge, local):
        s.ensure_collection(SPEC)
        s.upsert(SPEC, _points())
    yield edge, local
    edge.close()
    local.close()


def _keys(hits):
    return [h.key for h in hits]


def _ranked(hits):
    """Keys by score, ties broken by key: backends may order equal scores differently."""
    return [h.key for h in sorted(hits, key=lambda h: (-round(h.score, 5), h.key))]


QUERY = np.random.default_rng(1).normal(size=8)
FILTERS = [
    None,
    Filter(must=(Match("artist", ("artist-1", "artist-2")),)),
    Filter(must=(Range("tempo_bpm", gte=90, lte=150),), must_not=(Match("tag_style", ("摇滚",)),)),
    Filter(exclude_keys=("song-0", "song-4", "song-8")),
]


@pytest.mark.parametrize("flt", FILTERS, ids=["none", "match-any", "range-not", "exclude"])
def test_dense_search_is_congruent(both, flt):
    edge, local = both
    a = edge.search(SPEC, using="audio", vector=QUERY, limit=10, filter=flt)
    b = local.search(SPEC, using="audio", vector=QUERY, limit=10, filter=flt)
    assert _keys(a) == _keys(b)
    np.testing.assert_allclose([h.score for h in a], [h.score for h in b], atol=1e-5)
    if flt and flt.exclude_keys:
        assert not set(flt.exclude_keys) & set(_keys(a))


def test_a_score_threshold_keeps_exactly_the_hits_that_reach_it(both):
    for st in both:
        full = st.search(SPEC, using="audio", vector=QUERY, limit=30)
        floor = full[9].score - 1e-6  # a hit exactly at the threshold may fall either side
        cut = st.search(SPEC, using="audio", vector=QUERY, limit=30, score_threshold=floor)
        assert _keys(cut) == [h.key for h in full if h.score >= floor] and len(cut) >= 10
        liked = st.recommend(SPEC, using="audio", positive=[QUERY], limit=30,
                             score_threshold=floor)
        assert liked and all(h.score >= floor for h in liked)


def test_payload_fields_and_vector_names_are_selected_alike(both):
    results = []
    for st in both:
        light = st.search(SPEC, using="audio", vector=QUERY, limit=5, fields=())
        titled = st.recommend(SPEC, using="audio", positive=[QUERY], limit=5, fields=["title"])
        page, _ = st.scroll(SPEC, limit=5, fields=["tempo_bpm"])
        full = st.search(SPEC, using="audio", vector=QUERY, limit=5)
        [one] = st.get(SPEC, ["song-3"], with_vectors=["audio"])
        [part] = st.get(SPEC, ["song-3"], fields=["title", "tag_style"])
        assert part.payload == {"song_id": "song-3", "title": "第3首",
                                "tag_style": ["摇滚", "流行", "民谣"]}
        assert all(h.payload == {"song_id": h.key} for h in light)
        assert all(set(h.payload) == {"song_id", "title"} for h in titled)
        assert all(set(h.payload) == {"song_id", "tempo_bpm"} for h in page)
        assert _keys(light) == _keys(full) and set(full[0].payload) > {"song_id", "title"}
        assert set(one.vectors) == {"audio"}
        results.append((_keys(light), _keys(titled), sorted(_keys(page))))
    assert results[0] == results[1]


def test_sparse_hybrid_recommend_count_congruent(both):
    edge, local = both
    sparse = ([3, 1002], [1.0, 1.0])
    a = edge.search(SPEC, using="lyrics", vector=sparse, limit=5)
    b = local.search(SPEC, using="lyrics", vector=sparse, limit=5)
    # IDF-weighted scores agree; equal scores may come in either order
    np.testing.assert_allclose([h.score for h in a], [h.score for h in b], rtol=1e-5)
    assert a[0].key == b[0].key == "song-2"  # the only song with both query terms
    pre = [Prefetch("audio", QUERY, 20), Prefetch("lyrics", ([1002], [1.0]), 20)]
    a, b = edge.hybrid(SPEC, prefetch=pre, limit=5), local.hybrid(SPEC, prefetch=pre, limit=5)
    assert _ranked(a) == _ranked(b)
    np.testing.assert_allclose([h.score for h in a], [h.score for h in b], rtol=1e-5)
    pos, neg = [_points()[0].vectors["audio"]], [_points()[1].vectors["audio"]]
    assert _keys(edge.recommend(SPEC, using="audio", positive=pos, negative=neg, limit=5)) == \
        _keys(local.recommend(SPEC, using="audio", positive=pos, negative=neg, limit=5))
    for flt in FILTERS:
        assert edge.count(SPEC, filter=flt) == local.count(SPEC, filter=flt)


def test_multivector_rerank_finds_the_segment_and_is_congruent(both):
    edge, local = both
    target = _points()[13]
    query = target.vectors["segments"][1:3] + 0.01  # two of its segments, slightly changed
    pre = Prefetch("audio", target.vectors["audio"], limit=20)
    a = edge.rerank(SPEC, prefetch=pre, using="segments", vectors=query, limit=5)
    b = local.rerank(SPEC, prefetch=pre, using="segments", vectors=query, limit=5)
    assert a[0].key == "song-13"
    assert [h.key for h in a] == [h.key for h in b]
    assert np.allclose([h.score for h in a], [h.score for h in b], atol=1e-2)  # float16 rows
    assert a[0].score == pytest.approx(2.0, abs=0.01)  # MaxSim: two rows, each cosine ~1
    only = edge.rerank(SPEC, prefetch=pre, using="segments", vectors=query, limit=5,
                       filter=Filter(must=(Match("artist", ("artist-0",)),)))
    assert {h.payload["artist"] for h in only} == {"artist-0"}


def test_search_time_hnsw_ef_reaches_every_nearest_neighbour_query(both, tmp_path):
    """``hnsw_ef`` goes with search, recommend, hybrid and rerank prefetches on both backends
    (the engines reject a malformed parameter) and, exact below the indexing threshold, changes
    no answer."""
    edge = open_store(path=tmp_path / "q", hnsw_ef=64)
    local = ServerStore(location=":memory:", hnsw_ef=64)
    for st, ref in zip((edge, local), both, strict=True):
        st.ensure_collection(SPEC)
        st.upsert(SPEC, _points())
        for call in (lambda s: s.search(SPEC, using="audio", vector=QUERY, limit=10),
                     lambda s: s.recommend(SPEC, using="audio", positive=[QUERY], limit=10),
                     lambda s: s.hybrid(SPEC, prefetch=[Prefetch("audio", QUERY, 20),
                                                        Prefetch("text", np.ones(6), 20)],
                                        limit=10),
                     lambda s: s.rerank(SPEC, prefetch=Prefetch("audio", QUERY, 20),
                                        using="segments", vectors=QUERY[None, :], limit=5)):
            assert _ranked(call(st)) == _ranked(call(ref))
        st.close()


def test_optimize_builds_the_index_without_changing_answers(tmp_path):
    from songlens.store.edge import EdgeStore

    s = EdgeStore(tmp_path / "q", hnsw_m=8, hnsw_ef_construct=32, full_scan_threshold=1)
    s.ensure_collection(SPEC)
    s.upsert(SPEC, _points())
    before = [h.key for h in s.search(SPEC, using="audio", vector=QUERY, limit=10)]
    # (40 points stay below the engine's indexing threshold; benchmarks/lookup.py shows the
    # graphs being built at 10k and 100k songs)
    s.optimize(SPEC)
    s.optimize(SPEC)  # idempotent
    assert s.count(SPEC) == 40
    assert [h.key for h in s.search(SPEC, using="audio", vector=QUERY, limit=10)] == before
    s.upsert(SPEC, [Point(key="late", vectors={"audio": QUERY, "text": np.ones(6)},
                          payload={"artist": "x"})])  # writes after an optimize still land
    assert s.search(SPEC, using="audio", vector=QUERY, limit=1)[0].key == "late"
    s.close()


def test_scroll_pages_cover_everything_once(store):
    seen, offset = [], None
    while True:
        hits, offset = store.scroll(SPEC, limit=7, offset=offset)
        seen += _keys(hits)
        if offset is None:
            break
    assert sorted(seen) == sorted(p.key for p in _points())


def test_facet_counts_each_point_once_per_value(store):
    # tag_style of song i: ["摇滚", "流行", "民谣"][i % 3:]; 40 songs, tempo 60 + 3i
    assert store.facet(SPEC, "tag_style") == [("民谣", 40), ("流行", 27), ("摇滚", 14)]
    slow = Filter(must=(Range("tempo_bpm", lte=90.0),))  # songs 0..10
    assert store.facet(SPEC, "tag_style", filter=slow) == [("民谣", 11), ("流行", 8),
                                                            ("摇滚", 4)]
    rock = Filter(must=(Match("tag_style", ("摇滚",)), Match("artist", ("artist-0",))))
    assert store.facet(SPEC, "artist", filter=rock) == [("artist-0", 3)]  # songs 0, 15, 30
    assert store.facet(SPEC, "tag_style", limit=1) == [("民谣", 40)]


def test_ordered_pages_by_a_float_field(store):
    page = store.ordered(SPEC, order_by="tempo_bpm", descending=True, offset=2, limit=3,
                         fields=["title", "tag_style"])
    assert _keys(page) == ["song-37", "song-36", "song-35"]  # tempo 60 + 3i, highest first
    assert page[0].payload == {"song_id": "song-37", "title": "第37首",
                               "tag_style": ["流行", "民谣"]}
    assert page[0].vectors is None
    rock = Filter(must=(Match("tag_style", ("摇滚",)),))  # songs 0, 3, 6, ...
    assert _keys(store.ordered(SPEC, order_by="tempo_bpm", filter=rock, limit=3)) == [
        "song-0", "song-3", "song-6"]
    assert store.ordered(SPEC, order_by="tempo_bpm", offset=40, limit=5) == []


def test_get_roundtrip_replace_and_delete(store):
    [hit] = store.get(SPEC, ["song-3"], with_vectors=True)
    assert hit.payload["title"] == "第3首" and hit.payload["song_id"] == "song-3"
    np.testing.assert_allclose(
        hit.vectors["audio"], _points()[3].vectors["audio"] / np.linalg.norm(
            _points()[3].vectors["audio"]), atol=1e-5)
    p = _points()[3]
    p.payload = {"artist": "new", "tempo_bpm": 1.0, "tag_style": [], "title": "换了"}
    store.upsert(SPEC, [p])
    assert store.count(SPEC) == 40  # replaced, not duplicated
    assert store.get(SPEC, ["song-3"])[0].payload["title"] == "换了"
    store.delete(SPEC, ["song-3", "never-existed"])
    assert store.get(SPEC, ["song-3", "song-4"])[0].key == "song-4"
    assert store.count(SPEC) == 39


def test_errors_become_ours(store):
    with pytest.raises(StoreError, match="failed"):
        store.search(SPEC, using="audio", vector=np.ones(3), limit=3)  # wrong dimension
    with pytest.raises(StoreError, match="failed"):
        store.search(SPEC, using="no-such-vector", vector=QUERY, limit=3)


def test_edge_reopens_and_refuses_changed_dimensions(tmp_path):
    s = open_store(path=tmp_path)
    s.upsert(SPEC, _points(5))
    s.close()
    s = open_store(path=tmp_path)
    assert s.count(SPEC) == 5
    s.close()
    other = CollectionSpec("songs", "song_id", {"audio": 9, "text": 6}, ("lyrics",))
    with pytest.raises(ConfigError, match="vector dimensions changed"):
        open_store(path=tmp_path).ensure_collection(other)
