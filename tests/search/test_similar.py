"""Similar songs on a synthetic catalogue whose answers are known by construction: filters,
the hybrid space, and queries by positive and negative example songs, in code and over HTTP."""

from __future__ import annotations

import json
import time

import numpy as np
import pytest

from songlens.api.app import create_app
from songlens.catalog.pipeline import fuse_vectors
from songlens.catalog.record import SongRecord
from songlens.embeddings.encoders import l2_normalise
from songlens.search.similar import (
    SimilarFilters,
    similar_to_audio,
    similar_to_examples,
    similar_to_song,
)
from songlens.store import Point
from tests.conftest import local_client

LANGS = [("华语", "Mandarin"), ("欧美", "Western")]
STYLES = [("摇滚", "Rock"), ("民谣", "Folk"), ("电子", "Electronic")]


def _tag(tag: str, en: str) -> list[dict]:
    return [{"tag": tag, "en": en, "score": 0.9, "evidence": []}]


@pytest.fixture(scope="module")
def synth(catalog):
    """36 songs s00..s35 in three sound clusters (i % 3); song i: language i % 2, style i % 3,
    tempo 80 + 2i, artist i % 4, ingested i days ago. The text vectors follow the clusters too;
    sparse lyrics vectors tie s00 to s03 only."""
    rng = np.random.default_rng(11)
    spec = catalog.spec
    centres = {s: rng.normal(size=(3, spec.dense[s])) for s in ("audio", "text")}
    now = time.time()
    points = []
    for i in range(36):
        audio = l2_normalise(centres["audio"][i % 3] + 0.35 * rng.normal(size=spec.dense["audio"]))
        text = l2_normalise(centres["text"][i % 3] + 0.35 * rng.normal(size=spec.dense["text"]))
        record = SongRecord(
            song_id=f"s{i:02d}", title=f"歌{i}", artist=f"歌手{i % 4}", audio_hash=f"h{i}",
            tags={"language": _tag(*LANGS[i % 2]), "style": _tag(*STYLES[i % 3]),
                  "scene": [], "emotion": [], "theme": []},
            language={"primary": LANGS[i % 2][0], "scores": {}},
            audio_features={"tempo_bpm": 80.0 + 2 * i, "camelot": "8A"},
            ingested_at=now - i * 86_400.0 - 60)
        sparse = ([7, 8], [1.0, 1.0]) if i in (0, 3) else ([100 + i], [1.0])
        vectors = {"audio": audio, "text": text,
                   "fused": fuse_vectors(audio, text, audio_weight=0.65, text_weight=0.35)}
        if "segments" in spec.multi:  # what a clip query re-ranks by
            vectors["segments"] = rng.normal(size=(3, spec.multi["segments"]))
        points.append(Point(key=record.song_id, payload=record.to_payload(), vectors=vectors,
                            sparse={"lyrics": sparse}))
    catalog.store.upsert(spec, points)
    yield catalog
    catalog.store.delete(spec, [p.key for p in points])


def _num(song_id: str) -> int:
    return int(song_id[1:])


def test_filters_keep_only_matching_songs(synth):
    everything = similar_to_song(synth, "s00", k=30)
    assert {_num(s.song_id) % 3 for s in everything[:8]} == {0}  # its own cluster first
    flt = SimilarFilters(language=["Western"], style=["摇滚"], min_tempo=90, max_tempo=150,
                         exclude_artists=["歌手1"], days=30).to_song_filter(synth.taxonomy)
    got = similar_to_song(synth, "s00", k=30, filter=flt)
    want = {f"s{i:02d}" for i in range(36) if i % 2 == 1 and i % 3 == 0 and 90 <= 80 + 2 * i
            <= 150 and i % 4 != 1 and i < 30}
    assert want == {"s15", "s27"}
    assert {s.song_id for s in got} == want  # every match, nothing else
    for s in got:
        assert s.reasons.shared_tags == {"style": ["摇滚"]}  # s00 is 华语, they are 欧美


def test_hybrid_fuses_dense_and_sparse_and_says_so(synth):
    got = similar_to_song(synth, "s00", k=5, space="hybrid")
    assert got[0].song_id == "s03"  # near in both dense spaces and the only lyrics match
    assert all(s.reasons.matched == "hybrid" for s in got)
    assert "s00" not in {s.song_id for s in got}


def test_positive_and_negative_examples(synth):
    got = similar_to_examples(synth, ["s00", "s03"], ["s01"], k=6, space="audio")
    assert {_num(s.song_id) % 3 for s in got} == {0}
    assert not {"s00", "s03", "s01"} & {s.song_id for s in got}
    only_style = SimilarFilters(style=["Folk"]).to_song_filter(synth.taxonomy)
    got = similar_to_examples(synth, ["s00"], k=5, filter=only_style)
    assert got and all(_num(s.song_id) % 3 == 1 for s in got)
    with pytest.raises(Exception, match="allowed: fused, audio, text, tags"):
        similar_to_examples(synth, ["s00"], space="hybrid")


def test_a_clip_query_honours_filters(synth, music_clips):
    western = SimilarFilters(language=["欧美"]).to_song_filter(synth.taxonomy)
    got = similar_to_audio(synth, music_clips["feelings"], filename="f.ogg", k=10, filter=western)
    assert got and all(_num(s.song_id) % 2 == 1 for s in got)


def test_the_same_over_http(synth, music_clips):
    app = create_app(synth.settings, catalog=synth)
    with local_client(app) as client:
        r = client.get("/v1/songs/s00/similar", params={
            "k": 30, "language": "欧美", "style": "Rock", "min_tempo": 90, "max_tempo": 150,
            "exclude_artist": "歌手1", "days": 30})
        assert r.status_code == 200, r.text
        assert {it["song_id"] for it in r.json()["items"]} == {"s15", "s27"}
        r = client.get("/v1/songs/s00/similar", params={"k": 3, "space": "hybrid"})
        assert r.json()["items"][0]["song_id"] == "s03"
        assert r.json()["items"][0]["reasons"]["matched"] == "hybrid"
        r = client.post("/v1/similar", json={"positive": ["s00", "s03"], "negative": ["s01"],
                                             "k": 4, "space": "audio",
                                             "filters": {"language": ["华语"]}})
        assert r.status_code == 200, r.text
        assert all(_num(it["song_id"]) % 6 == 0 for it in r.json()["items"])
        r = client.post("/v1/similar", json={"positive": ["s00"], "space": "hybrid"})
        assert r.status_code == 422
        r = client.post("/v1/similar", files={"audio": ("f.ogg", music_clips["feelings"])},
                        data={"k": "5", "filters": json.dumps({"language": ["欧美"]})})
        assert r.status_code == 200, r.text
        assert all(_num(it["song_id"]) % 2 == 1 for it in r.json()["items"])
        r = client.post("/v1/similar", files={"audio": ("f.ogg", music_clips["feelings"])},
                        data={"filters": "{not json"})
        assert r.status_code == 422 and r.json()["error"]["code"] == "invalid_input"
