"""GET /v1/songs: browse with facets, on real songs ingested through the real API; the facet
counts and filters are checked against the full song documents."""

from __future__ import annotations

import json

import pytest

from songlens.api.app import create_app
from songlens.content.taxonomy import DIMENSIONS
from tests.conftest import local_client

SONGS = {  # ingested in this order
    "b-chaos": ("chaos_god", "Chaos God", "Muldjord",
                "深夜一个人在图书馆自习 为了考研\n眼泪掉下来 分手以后我好孤独"),
    "b-feel": ("feelings", "Feelings", "Sectoid", "I miss you every night\nalone in the rain"),
    "b-army": ("armygeddon", "Armygeddon", "Muldjord", ""),
}


@pytest.fixture(scope="module")
def client(catalog, music_clips):
    with local_client(create_app(catalog.settings, catalog=catalog)) as c:
        for sid, (clip, title, artist, lyrics) in SONGS.items():
            meta = json.dumps({"song_id": sid, "title": title, "artist": artist,
                               "lyrics": lyrics})
            r = c.post("/v1/songs", files={"audio": ("a.ogg", music_clips[clip], "audio/ogg")},
                       data={"metadata": meta})
            assert r.status_code == 201, r.text
        yield c


@pytest.fixture(scope="module")
def docs(client) -> dict[str, dict]:
    return {sid: client.get(f"/v1/songs/{sid}").json() for sid in SONGS}


def tags_of(doc: dict, dim: str) -> set[str]:
    return {t["tag"] for t in doc["tags"].get(dim, [])}


def browse(client, **params):
    r = client.get("/v1/songs", params=params)
    assert r.status_code == 200, r.text
    return r.json()


def test_lists_every_song_newest_first_with_summaries(client, docs):
    page = browse(client)
    assert page["total"] == 3
    assert [s["song_id"] for s in page["songs"]] == ["b-army", "b-feel", "b-chaos"]
    for s in page["songs"]:
        doc = docs[s["song_id"]]
        assert (s["title"], s["artist"]) == (doc["title"], doc["artist"])
        feats = doc["audio_features"]
        assert (s["tempo_bpm"], s["key"], s["mode"], s["camelot"], s["energy"]) == (
            feats["tempo_bpm"], feats["key"], feats["mode"], feats["camelot"], feats["energy"])
        assert s["duration_s"] == doc["duration_s"] and s["audio_url"] == doc["audio_url"]
        for dim in DIMENSIONS:
            want = [{"tag": t["tag"], "en": t["en"], "score": t["score"]}
                    for t in doc["tags"].get(dim, [])[:3]]
            assert s["top_tags"][dim] == want


def test_facets_count_the_matching_songs(client, docs):
    page = browse(client)
    for dim in DIMENSIONS:
        expected = {}
        for doc in docs.values():
            for tag in tags_of(doc, dim):
                expected[tag] = expected.get(tag, 0) + 1
        got = {f["tag"]: f["count"] for f in page["facets"][dim]}
        assert got == expected, dim
        counts = [f["count"] for f in page["facets"][dim]]
        assert counts == sorted(counts, reverse=True)
    # with a filter, the counts are over the matching songs only
    study = browse(client, scene="学习")
    matching = [d for d in docs.values() if "学习" in tags_of(d, "scene")]
    assert study["total"] == len(matching) >= 1
    assert {f["tag"]: f["count"] for f in study["facets"]["scene"]}["学习"] == len(matching)


def test_every_given_tag_must_be_carried(client, docs):
    style = browse(client)["facets"]["style"]
    a, b = style[0]["tag"], style[1]["tag"]
    both = {sid for sid, d in docs.items() if {a, b} <= tags_of(d, "style")}
    page = browse(client, style=[a, b])
    assert {s["song_id"] for s in page["songs"]} == both and page["total"] == len(both)
    # English labels are accepted; an unknown tag is a 422
    en = style[0]["en"]
    assert browse(client, style=en)["total"] == style[0]["count"]
    r = client.get("/v1/songs", params={"style": "no-such-style"})
    assert r.status_code == 422 and r.json()["error"]["code"] == "unknown_tag"


def test_numeric_key_and_artist_filters(client, docs):
    tempos = sorted(d["audio_features"]["tempo_bpm"] for d in docs.values())
    lo, hi = tempos[0], tempos[1]
    page = browse(client, min_tempo=lo, max_tempo=hi)
    assert {s["song_id"] for s in page["songs"]} == {
        sid for sid, d in docs.items() if lo <= d["audio_features"]["tempo_bpm"] <= hi}
    energetic = browse(client, min_energy=0.5)
    assert {s["song_id"] for s in energetic["songs"]} == {
        sid for sid, d in docs.items() if d["audio_features"]["energy"] >= 0.5}
    f = docs["b-feel"]["audio_features"]
    same_key = {sid for sid, d in docs.items()
                if d["audio_features"]["camelot"] == f["camelot"]}
    for key in (f"{f['key']} {f['mode']}", f["camelot"], f["camelot"].lower()):
        assert {s["song_id"] for s in browse(client, key=key)["songs"]} == same_key, key
    assert {s["song_id"] for s in browse(client, artist="MULDJORD")["songs"]} == {
        "b-chaos", "b-army"}
    r = client.get("/v1/songs", params={"key": "H dorian"})
    assert r.status_code == 422 and r.json()["error"]["code"] == "invalid_input"
    assert "Camelot" in r.json()["error"]["message"]


def test_pages(client):
    assert [s["song_id"] for s in browse(client, limit=1, offset=1)["songs"]] == ["b-feel"]
    page = browse(client, limit=2, offset=2)
    assert page["total"] == 3 and [s["song_id"] for s in page["songs"]] == ["b-chaos"]
    assert browse(client, offset=5)["songs"] == []
    for bad in ({"limit": 0}, {"limit": 201}, {"offset": -1}, {"min_energy": 2}):
        r = client.get("/v1/songs", params=bad)
        assert r.status_code == 422, bad


def test_instruments_in_the_document_and_as_a_filter(client, docs):
    """Each song names the instruments its audio has (zh + en, score, where they play); the
    instrument filter returns exactly the songs that name it, by id or by Chinese name."""
    named: dict[str, set[str]] = {}
    for sid, doc in docs.items():
        assert doc["voice"] is not None and 0.0 <= doc["voice"]["probability"] <= 1.0
        for inst in doc["instruments"]:
            assert inst["zh"] and inst["en"] and 0.0 < inst["score"] <= 1.0
            assert len(inst["timeline"]["values"]) == len(doc["voice"]["timeline"]["values"])
            assert inst["evidence"] and inst["evidence"][0]["why"]
            # the default musicnn encoder: the instrument head names all but the drums
            source = "MTT_musicnn" if inst["name"] == "drums" else "instrument_head"
            assert inst["evidence"][0]["model"] == source, inst
            named.setdefault(inst["name"], set()).add(sid)
    assert named, "no instrument heard in three band recordings"
    assert set(named) - {"drums"}, f"only drums heard in three band recordings: {named}"
    facet = {f["tag"]: f["count"] for f in browse(client)["facets"]["instrument"]}
    assert facet == {name: len(sids) for name, sids in named.items()}
    for name, sids in named.items():
        zh = next(i["zh"] for d in docs.values() for i in d["instruments"] if i["name"] == name)
        for value in (name, zh):
            page = browse(client, instrument=value)
            assert {s["song_id"] for s in page["songs"]} == sids, (value, page)
        r = client.post("/v1/playlists", json={"instruments": [zh], "length": 3})
        assert r.status_code == 200, r.text
        assert {it["song_id"] for it in r.json()["items"]} == sids
    r = client.get("/v1/songs", params={"instrument": "erhu"})
    assert r.status_code == 422 and r.json()["error"]["code"] == "unknown_tag"
    assert "piano" in r.json()["error"]["message"]
