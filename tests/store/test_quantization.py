"""int8 copies of the dense vectors (``qdrant.quantization``): built with the index, searched,
and the candidates rescored with the float32 vectors, so scores and order stay exact; a store
written without them gets them at its next build; ``none`` searches the float32 vectors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from songlens.settings import load_settings
from songlens.store import CollectionSpec, Point, open_store
from songlens.store.server import ServerStore

SPEC = CollectionSpec(name="songs", key_field="song_id", dense={"fused": 48, "audio": 16})
N = 400


def _vectors(seed: int = 5) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    out = {}
    for name, dim in SPEC.dense.items():
        x = rng.normal(size=(N, dim)).astype(np.float32)
        out[name] = x / np.linalg.norm(x, axis=1, keepdims=True)
    return out


def _fill(store, vectors: dict[str, np.ndarray]) -> None:
    store.ensure_collection(SPEC)
    store.upsert(SPEC, [Point(key=f"k{i:04d}", vectors={n: v[i] for n, v in vectors.items()},
                              payload={"i": i}) for i in range(N)])


def _int8_files(root: Path) -> list[Path]:
    return sorted((root / SPEC.name / "segments").glob("*/vector_storage-*/quantized.data"))


def _open(root: Path, quantization: str | None):
    # indexing threshold 1 KB: these few points get an HNSW graph, as a large catalogue does
    return open_store(path=root, hnsw_m=16, hnsw_ef_construct=64, indexing_threshold_kb=1,
                      hnsw_ef=64, quantization=quantization)


def _assert_exact(store, vectors: dict[str, np.ndarray], queries=range(0, N, 37)) -> None:
    """Every answer is the exact top 10 with its float32 cosine (no int8 rounding left)."""
    for name, x in vectors.items():
        for q in queries:
            hits = store.search(SPEC, using=name, vector=x[q], limit=10)
            s = x @ x[q]
            want = np.sort(s)[::-1][:10]
            got = np.array([h.score for h in hits])
            np.testing.assert_allclose(got, want, atol=2e-6)
            np.testing.assert_allclose(got, [s[int(h.key[1:])] for h in hits], atol=2e-6)


def test_the_settings_default_is_int8_with_rescoring_and_a_measured_width():
    q = load_settings(None).qdrant
    assert q.quantization == "int8" and q.oversampling >= 1.0 and q.hnsw_ef == "auto"


@pytest.mark.parametrize("ef", [256, "auto", None])
def test_hnsw_ef_takes_a_width_auto_or_null(ef):
    assert load_settings(None, qdrant={"hnsw_ef": ef}).qdrant.hnsw_ef == ef


@pytest.mark.parametrize("ef", [0, 5000, "fast"])
def test_hnsw_ef_refuses_anything_else(ef):
    from songlens.errors import ConfigError

    with pytest.raises(ConfigError):
        load_settings(None, qdrant={"hnsw_ef": ef})


def test_int8_copies_are_built_and_answers_stay_exact(tmp_path):
    vectors = _vectors()
    store = _open(tmp_path, "int8")
    _fill(store, vectors)
    store.optimize(SPEC)
    assert {p.parent.name for p in _int8_files(tmp_path)} == {"vector_storage-fused",
                                                               "vector_storage-audio"}
    _assert_exact(store, vectors)
    store.close()


def test_a_store_written_without_int8_gets_it_at_its_next_build(tmp_path):
    vectors = _vectors(6)
    store = _open(tmp_path, None)
    _fill(store, vectors)
    store.optimize(SPEC)
    store.close()
    assert not _int8_files(tmp_path)
    store = _open(tmp_path, "int8")
    _assert_exact(store, vectors, queries=[3])  # before the build: served as it was
    store.optimize(SPEC)
    assert _int8_files(tmp_path)
    _assert_exact(store, vectors)
    store.close()


def test_none_searches_the_float32_vectors_of_a_store_with_int8_copies(tmp_path):
    vectors = _vectors(7)
    store = _open(tmp_path, "int8")
    _fill(store, vectors)
    store.optimize(SPEC)
    store.close()
    store = _open(tmp_path, "none")
    _assert_exact(store, vectors)
    assert _int8_files(tmp_path)  # kept: opening with "none" does not remove them
    store.close()


@pytest.mark.parametrize("quantization", ["int8", "none"])
def test_the_server_backend_takes_the_same_setting(quantization):
    vectors = _vectors(8)
    store = ServerStore(location=":memory:", quantization=quantization)
    _fill(store, vectors)
    _assert_exact(store, vectors, queries=[0, 5])
    store.close()


# -- the beam width measured after a build (hnsw_ef: auto) -------------------------------------

def _sparse_graph_store(root: Path, **kw):
    """400 uniform points on a deliberately poor graph (m 4, ef_construct 8): narrow beams miss
    true neighbours, so the width that reaches a target depends on the target."""
    from songlens.store.edge import EdgeStore

    store = EdgeStore(root, hnsw_m=4, hnsw_ef_construct=8, full_scan_threshold=1,
                      indexing_threshold_kb=1, **kw)
    _fill(store, _vectors(9))
    return store


def test_measure_picks_the_narrowest_width_that_reaches_the_target(tmp_path, monkeypatch):
    from songlens.store import edge_recall
    from songlens.store.edge_recall import LADDER, measure, search_params

    store = _sparse_graph_store(tmp_path)
    store.optimize(SPEC)
    shard = store._shard(SPEC)
    every = {"sample": N}  # every point a query: the same answer each time, no random sample

    strict = measure(shard, ["fused"], None, 2.0, target=1.0, **every)["fused"]
    loose = measure(shard, ["fused"], None, 2.0, target=0.5, **every)["fused"]
    assert loose["hnsw_ef"] == LADDER[0] and loose["recall"] >= 0.5
    assert strict["hnsw_ef"] > LADDER[0]  # the narrowest beam misses some on this graph
    assert strict["recall"] == 1.0 or strict["hnsw_ef"] == LADDER[-1]
    narrower = LADDER[LADDER.index(strict["hnsw_ef"]) - 1]
    monkeypatch.setattr(edge_recall, "search_params",
                        lambda ef, q, o: search_params(min(ef, narrower), q, o))
    assert measure(shard, ["fused"], None, 2.0, target=1.0, **every)["fused"]["recall"] < 1.0
    store.close()


def test_auto_width_is_measured_at_each_build_used_and_kept_across_restarts(tmp_path):
    store = _sparse_graph_store(tmp_path, hnsw_ef="auto", recall_target=0.99,
                                quantization="int8")
    assert store._params(SPEC, "fused").hnsw_ef == 128  # nothing measured yet
    store.optimize(SPEC)
    st = store.index_state(SPEC)
    assert set(st.hnsw_ef) == {"fused", "audio"}
    assert all(r >= 0.99 for r in st.recall.values())
    for name, ef in st.hnsw_ef.items():
        assert store._params(SPEC, name).hnsw_ef == ef
        assert store._params(SPEC, name).quantization is not None
    store.close()
    from songlens.store.edge import EdgeStore

    again = EdgeStore(tmp_path, hnsw_ef="auto", quantization="int8")
    assert again.index_state(SPEC).hnsw_ef == st.hnsw_ef
    again.upsert(SPEC, [Point(key="extra", vectors={n: v[0] for n, v in _vectors(1).items()},
                              payload={})])
    state = again._index[SPEC.name]
    state.hnsw_ef = state.recall = None  # forget them: only the child's measurement sets them
    assert again.rebuild_index(SPEC)  # out of process: the child measures, the server uses it
    rebuilt = again.index_state(SPEC)
    assert set(rebuilt.hnsw_ef) == {"fused", "audio"} and rebuilt.builds == 1
    assert all(r >= 0.99 for r in rebuilt.recall.values())
    again.close()


def test_a_vector_whose_int8_copies_miss_the_target_is_searched_in_float32(tmp_path):
    """Sparse tag-like vectors in tight clusters: neighbours differ by less than int8's step,
    so the int8 candidates miss true neighbours at any width (here a plain scan: the points
    are below full_scan_threshold) and the float32 vectors find them all."""
    from songlens.store.edge import EdgeStore

    rng = np.random.default_rng(1)
    base = np.zeros((4, 71), np.float32)
    for b in base:
        b[rng.choice(71, 5, replace=False)] = rng.uniform(0.2, 0.6, 5)
    x = base[rng.integers(0, 4, N)]
    x = x + (x > 0) * rng.normal(0, 0.003, x.shape).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    spec = CollectionSpec(name="t", key_field="k", dense={"tags": 71})
    store = EdgeStore(tmp_path, full_scan_threshold=100_000, indexing_threshold_kb=1,
                      quantization="int8", hnsw_ef="auto")
    store.upsert(spec, [Point(key=f"k{i:04d}", vectors={"tags": x[i]}, payload={})
                        for i in range(N)])
    store.optimize(spec)
    st = store.index_state(spec)
    assert st.float32 == ["tags"] and st.recall["tags"] >= 0.98
    assert store._params(spec, "tags").quantization.ignore
    for q in range(0, N, 50):
        hits = store.search(spec, using="tags", vector=x[q], limit=10)
        np.testing.assert_allclose([h.score for h in hits], np.sort(x @ x[q])[::-1][:10],
                                   atol=2e-6)
    store.close()


def test_a_failed_measurement_leaves_the_build_and_the_last_widths(tmp_path, monkeypatch):
    from songlens.store import edge

    store = _sparse_graph_store(tmp_path, hnsw_ef="auto", quantization="int8")
    store.optimize(SPEC)
    widths = store.index_state(SPEC).hnsw_ef
    assert widths

    def broken(*args, **kwargs):
        raise RuntimeError("engine went away")

    monkeypatch.setattr(edge, "measure", broken)
    store.upsert(SPEC, [Point(key="extra", vectors={n: v[0] for n, v in _vectors(2).items()},
                              payload={})])
    store.optimize(SPEC)  # no error: the index is built, the widths measured before stay
    st = store.index_state(SPEC)
    assert st.builds == 2 and st.unindexed == 0 and st.hnsw_ef == widths
    store.close()


def test_a_server_collection_keeps_narrow_vectors_in_float32():
    """Nothing measures a server's vectors after its builds: only those of 128 dimensions or
    more get int8 copies (the tag probabilities lose recall in int8)."""
    spec = CollectionSpec(name="songs", key_field="song_id", dense={"fused": 160, "tags": 71})
    store = ServerStore(location=":memory:", quantization="int8")
    store.ensure_collection(spec)
    have = store.client.get_collection("songs").config.params.vectors
    assert have["fused"].quantization_config is not None
    assert have["tags"].quantization_config is None
    store.close()
