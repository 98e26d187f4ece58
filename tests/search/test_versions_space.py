"""space=versions end to end: ingested through the real pipeline into a real Qdrant Edge store,
searched in code and over HTTP; a store written before the space existed keeps working and
answers space=versions with a clear 4xx."""

from __future__ import annotations

import pytest

from songlens.api.app import create_app
from songlens.catalog.pipeline import Catalog
from songlens.catalog.record import songs_spec
from songlens.content.metadata import SongMetadata
from songlens.content.text.vectors import tag_profile_dim
from songlens.errors import InvalidInput
from songlens.search.similar import similar_to_song
from songlens.store import open_store
from tests.conftest import local_client, wav_bytes
from tests.embeddings.test_versions import SR, play, score


@pytest.fixture(scope="module")
def versions_catalog(catalog):
    """Score 0 as written and as another version (timbre, +3 semitones, 12 % faster), score 1
    and score 2 once each."""
    songs = {"v0a": play(score(0), bpm=100, shift=0, harmonics=(1, 0.3), decay=0.8, drums=True),
             "v0b": play(score(0), bpm=112, shift=3, harmonics=(1, 0.5, 0.25, 0.1), decay=2.0,
                         drums=False),
             "v1a": play(score(1), bpm=100, shift=0, harmonics=(1, 0.3), decay=0.8, drums=True),
             "v2a": play(score(2), bpm=100, shift=0, harmonics=(1, 0.3), decay=0.8, drums=True)}
    for song_id, y in songs.items():
        catalog.ingest(wav_bytes(y, SR), SongMetadata(song_id=song_id, title=f"Piece {song_id}"))
    return catalog


def test_other_version_comes_first(versions_catalog):
    for query, other in (("v0a", "v0b"), ("v0b", "v0a")):
        items = similar_to_song(versions_catalog, query, k=3, space="versions")
        assert items[0].song_id == other
        assert items[0].reasons.matched == "versions"
        assert all(isinstance(it.reasons.covers, bool) for it in items)


def test_covers_needs_a_result_that_stands_out_from_the_candidates():
    """One genre of real recordings sits at cosine 0.93-0.97 in the versions space: none of them
    is called a cover. A result well above the query's other candidates is."""
    from songlens.search.similar import _songs
    from songlens.store.base import Hit

    def hits(scores):
        return [Hit(key=f"s{i}", score=x, payload={}) for i, x in enumerate(scores)]

    same_genre = hits([0.967, 0.966, 0.964, 0.95, 0.941, 0.936, 0.93, 0.93])
    assert not any(it.reasons.covers for it in _songs(same_genre, None, "versions"))
    version = hits([0.97, 0.88, 0.87, 0.86, 0.86, 0.85, 0.84])
    flags = [it.reasons.covers for it in _songs(version, None, "versions")]
    assert flags == [True] + [False] * 6
    # candidates beyond the answer count: the same top result among ones as high is no cover
    assert _songs(version[:1], None, "versions", candidates=same_genre)[0].reasons.covers is False
    assert _songs(version, None, "fused")[0].reasons.covers is None  # versions space only


def test_versions_over_http(versions_catalog):
    app = create_app(versions_catalog.settings, catalog=versions_catalog)
    with local_client(app) as client:
        r = client.get("/v1/songs/v0b/similar", params={"space": "versions", "k": 2})
        assert r.status_code == 200, r.text
        assert r.json()["items"][0]["song_id"] == "v0a"
        assert r.json()["items"][0]["reasons"]["matched"] == "versions"


def test_store_without_versions_keeps_working(test_settings_factory, models, resources):
    settings = test_settings_factory()
    store = open_store(path=settings.qdrant_path)
    try:
        old = songs_spec(settings.qdrant.collection, audio_dim=models.audio.dim,
                         text_dim=models.text.dim, tags_dim=tag_profile_dim(resources.taxonomy),
                         segment_dim=models.audio.segment_dim)  # as written before versions
        store.ensure_collection(old)
        cat = Catalog(settings=settings, store=store, models=models, resources=resources)
        assert "versions" not in cat.spec.dense
        y = play(score(0), bpm=100, shift=0, harmonics=(1, 0.3), decay=0.8, drums=True)
        cat.ingest(wav_bytes(y, SR), SongMetadata(song_id="old1", title="Old piece"))
        assert similar_to_song(cat, "old1", k=3, space="audio") == []  # alone, but it works
        with pytest.raises(InvalidInput, match="re-ingest"):
            similar_to_song(cat, "old1", space="versions")
        app = create_app(settings, catalog=cat)
        with local_client(app) as client:
            r = client.get("/v1/songs/old1/similar", params={"space": "versions"})
            assert 400 <= r.status_code < 500
            assert "re-ingest" in r.json()["error"]["message"]
    finally:
        store.close()
