"""The v1 HTTP contract through FastAPI's TestClient, on real models and a real store."""

from __future__ import annotations

import io
import json
import re

import numpy as np
import pytest
import soundfile as sf

from songlens.api.app import create_app
from tests.conftest import local_client, wav_bytes

DIMENSIONS = ["language", "style", "scene", "emotion", "theme"]

LYRICS = """[00:01.00]作词：某人
[00:02.00]作曲：某人
[00:10.00]深夜一个人在图书馆自习 为了考研
[00:15.00]眼泪掉下来 分手以后我好孤独
[00:20.00]眼泪掉下来 分手以后我好孤独
"""


@pytest.fixture(scope="module")
def client(catalog):
    app = create_app(catalog.settings, catalog=catalog)
    with local_client(app) as c:
        yield c


def post_song(client, audio: bytes, meta: dict | str, filename: str = "song.ogg"):
    metadata = meta if isinstance(meta, str) else json.dumps(meta, ensure_ascii=False)
    return client.post("/v1/songs", files={"audio": (filename, audio, "audio/ogg")},
                       data={"metadata": metadata})


def assert_error(resp, status: int, code: str):
    assert resp.status_code == status, resp.text
    body = resp.json()
    assert body["error"]["code"] == code, body
    assert body["error"]["message"]


def test_ingest_returns_the_song_document(client, music_clips):
    meta = {"song_id": "chaos-god", "title": "Chaos God", "artist": "Muldjord",
            "lyrics": LYRICS, "comments": [{"text": "考研的时候天天听", "likes": 120},
                                           {"text": "打卡", "likes": 0}]}
    r = post_song(client, music_clips["chaos_god"], meta)
    assert r.status_code == 201, r.text
    doc = r.json()
    assert doc["song_id"] == "chaos-god"
    assert set(doc["tags"]) == set(DIMENSIONS)
    for tags in doc["tags"].values():
        scores = [t["score"] for t in tags]
        assert scores == sorted(scores, reverse=True)
        for t in tags:
            assert t["evidence"] and {"source", "cue"} <= set(t["evidence"][0])
    assert doc["tags"]["language"][0]["tag"] == "华语"
    assert "学习" in [t["tag"] for t in doc["tags"]["scene"]]
    feats = doc["audio_features"]
    assert 40 <= feats["tempo_bpm"] <= 250
    assert feats["key"] in ["C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B"]
    assert feats["mode"] in ("major", "minor")
    assert -40 < feats["loudness_db"] < 0
    assert 0 <= feats["energy"] <= 1
    assert abs(doc["duration_s"] - 10.0) < 0.1
    # and it is stored: GET returns the same document
    got = client.get("/v1/songs/chaos-god").json()
    assert got["tags"] == doc["tags"] and got["audio_features"] == feats


def test_catalogue_language_decides_over_the_lyrics(client, music_clips):
    # Cantopop is often written in standard Chinese: the lyrics alone read as 华语, and the
    # catalogue's language (yue) is what says 粤语
    meta = {"song_id": "canto-formal", "title": "明天", "artist": "x", "language": "yue",
            "lyrics": "明天的路 我们一起走过\n风雨之中 你给我温暖\n"}
    r = post_song(client, music_clips["feelings"], meta)
    assert r.status_code == 201, r.text
    lang = r.json()["language"]
    assert lang["primary"] == "粤语" and lang["source"] == "catalogue"
    assert max(lang["scores"], key=lang["scores"].get) == "华语"  # what the lyrics said
    top = r.json()["tags"]["language"][0]
    assert top["tag"] == "粤语"
    assert any(e["source"] == "metadata" for e in top["evidence"])
    assert client.get("/v1/songs/canto-formal").json()["language"] == lang


def test_reposting_replaces_never_duplicates(client, catalog, music_clips):
    meta = {"song_id": "feelings", "title": "Feelings", "artist": "Sectoid"}
    assert post_song(client, music_clips["feelings"], meta).status_code == 201
    n = catalog.count()
    meta["title"] = "Feelings (remaster)"
    assert post_song(client, music_clips["feelings"], meta).status_code == 201
    assert catalog.count() == n
    assert client.get("/v1/songs/feelings").json()["title"] == "Feelings (remaster)"
    # the same audio without an id maps to the existing song
    r = post_song(client, music_clips["feelings"], {"title": "Feelings", "artist": "Sectoid"})
    assert r.json()["song_id"] == "feelings" and catalog.count() == n
    # the same audio under a new id replaces the old point
    r = post_song(client, music_clips["feelings"], {"song_id": "feelings-2", "title": "F"})
    assert r.json()["replaced"] == ["feelings"]
    assert catalog.count() == n
    assert client.get("/v1/songs/feelings").status_code == 404


def test_release_date_and_what_a_repost_keeps(client, catalog, music_clips):
    meta = {"song_id": "dated", "title": "Dated", "artist": "Sectoid",
            "release_date": "1998-03-01"}
    r = post_song(client, music_clips["feelings"], meta)
    assert r.status_code == 201, r.text
    doc = r.json()
    assert doc["release_date"] == "1998-03-01" and "kept" not in doc
    assert doc["released_at"] == 888_796_799.0 < doc["ingested_at"]  # its day's last second
    # keep: the stored song as it was, 200, nothing analysed or written
    written = catalog.get("dated").updated_at
    again = post_song(client, music_clips["feelings"], meta | {"title": "Other",
                                                                "on_existing": "keep"})
    assert again.status_code == 200 and again.json()["kept"] is True
    assert again.json()["title"] == "Dated" and catalog.get("dated").updated_at == written
    # update (the default) replaces; a release_date not sent keeps the stored one
    r = post_song(client, music_clips["feelings"], {"song_id": "dated", "title": "Renamed"})
    assert r.status_code == 201 and r.json()["title"] == "Renamed"
    assert r.json()["release_date"] == "1998-03-01"
    # the same moment (the stored value comes back through the store's payload, whose last
    # digit can differ from the freshly computed one's in the JSON)
    assert r.json()["ingested_at"] == pytest.approx(doc["ingested_at"], abs=1e-3)
    r = post_song(client, music_clips["feelings"], {"song_id": "dated", "title": "Renamed",
                                                    "release_date": "2001"})
    assert r.json()["release_date"] == "2001"
    # keep without a song_id: the same audio is the same song
    r = post_song(client, music_clips["feelings"], {"title": "x", "on_existing": "keep"})
    assert r.status_code == 200 and r.json()["song_id"] == "dated"
    for bad in ("1998-02-30", "soon", "3000"):
        assert_error(post_song(client, music_clips["feelings"],
                               {"song_id": "dated", "title": "x", "release_date": bad}),
                     422, "invalid_metadata")
    assert client.get("/v1/songs/dated").json()["release_date"] == "2001"


def test_similar_filters_on_release(client, catalog, music_clips):
    post_song(client, music_clips["armygeddon"], {"song_id": "rel-new", "title": "New"})
    post_song(client, music_clips["chaos_god"], {"song_id": "rel-old", "title": "Old",
                                                 "release_date": "1975"})
    post_song(client, music_clips["feelings"], {"song_id": "rel-q", "title": "Q"})

    def similar(**params):
        r = client.get("/v1/songs/rel-q/similar", params={"k": 50, **params})
        assert r.status_code == 200, r.text
        return {it["song_id"] for it in r.json()["items"]}

    assert {"rel-new", "rel-old"} <= similar()
    recent = similar(days=7)  # a back-catalogue song ingested today is not new
    assert "rel-new" in recent and "rel-old" not in recent
    assert similar(released_before="1980") == {"rel-old"}
    assert "rel-old" not in similar(released_after="1980-01")
    r = client.post("/v1/similar", json={"positive": ["rel-q"], "k": 50,
                                         "filters": {"released_before": "1976-01-01"}})
    assert {it["song_id"] for it in r.json()["items"]} == {"rel-old"}
    # a year alone counts as that year's end (the latest it can be): before mid-1975 it is not
    assert similar(released_before="1975-06") == set()
    assert_error(client.get("/v1/songs/rel-q/similar", params={"released_after": "1980-13"}),
                 422, "invalid_input")
    assert_error(client.post("/v1/similar", json={"positive": ["rel-q"],
                                                  "filters": {"released_after": "x"}}),
                 422, "invalid_input")


def test_similar_by_song_and_by_clip_and_text(client, music_clips):
    post_song(client, music_clips["armygeddon"], {"song_id": "armygeddon",
                                                  "title": "Armygeddon", "artist": "Muldjord"})
    post_song(client, music_clips["chaos_god"], {"song_id": "chaos-god", "title": "Chaos God",
                                                 "artist": "Muldjord", "lyrics": LYRICS})
    for space in ("fused", "audio", "text"):
        r = client.get("/v1/songs/armygeddon/similar", params={"k": 5, "space": space})
        assert r.status_code == 200, r.text
        items = r.json()["items"]
        assert items and all(it["song_id"] != "armygeddon" for it in items)
        assert items[0]["reasons"]["matched"] == space
        assert [it["score"] for it in items] == sorted((it["score"] for it in items),
                                                       reverse=True)
    # an excerpt of a catalogued recording, quieter and re-encoded as MP3, finds it first
    y, sr = sf.read(io.BytesIO(music_clips["armygeddon"]), dtype="float32")
    excerpt = wav_bytes(0.5 * y[int(3.7 * sr): int(9.9 * sr)], sr, fmt="MP3")
    r = client.post("/v1/similar", files={"audio": ("q.mp3", excerpt)})
    assert r.status_code == 200, r.text
    assert r.json()["items"][0]["song_id"] == "armygeddon"
    assert r.json()["items"][0]["reasons"]["matched"] == "audio+segments"
    r = client.post("/v1/similar", json={"text": "图书馆 考研 自习", "k": 3})
    assert r.status_code == 200, r.text
    assert r.json()["items"][0]["song_id"] == "chaos-god"


def test_delete(client, music_clips):
    post_song(client, music_clips["armygeddon"], {"song_id": "to-delete", "title": "x"})
    assert client.delete("/v1/songs/to-delete").status_code == 204
    assert_error(client.get("/v1/songs/to-delete"), 404, "not_found")
    assert_error(client.delete("/v1/songs/to-delete"), 404, "not_found")
    assert_error(client.get("/v1/songs/nope/similar"), 404, "not_found")


def _silence():
    return wav_bytes(np.zeros(16000 * 10, dtype=np.float32), 16000)


def _truncated_mp3(music_clips):
    import io

    import soundfile as sf

    y, sr = sf.read(io.BytesIO(music_clips["chaos_god"]), dtype="float32")
    mp3 = wav_bytes(y, sr, fmt="MP3")
    return mp3[:300]


def _too_long():
    t = np.arange(8000 * 40) / 8000
    return wav_bytes((0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32), 8000,
                     subtype="PCM_16")


def _too_big():
    rng = np.random.default_rng(0)
    return wav_bytes((0.1 * rng.standard_normal((44100 * 7, 2))).astype(np.float32), 44100,
                     subtype="PCM_16")


@pytest.mark.parametrize("case,status,code", [
    ("not-audio", 415, "unsupported_audio"),
    ("truncated-mp3", 415, "unsupported_audio"),
    ("zero-bytes", 400, "empty_audio"),
    ("silence", 422, "silent_audio"),
    ("too-long", 413, "audio_too_long"),
    ("too-big", 413, "payload_too_large"),
])
def test_bad_audio_is_refused_and_nothing_stored(client, catalog, music_clips, case, status,
                                                 code):
    audio = {
        "not-audio": lambda: "<html>这不是音频</html>".encode() * 50,
        "truncated-mp3": lambda: _truncated_mp3(music_clips),
        "zero-bytes": lambda: b"",
        "silence": _silence,
        "too-long": _too_long,
        "too-big": _too_big,
    }[case]()
    n = catalog.count()
    r = post_song(client, audio, {"song_id": f"bad-{case}", "title": "bad"}, "x.mp3")
    assert_error(r, status, code)
    assert catalog.count() == n
    assert client.get(f"/v1/songs/bad-{case}").status_code == 404


@pytest.mark.parametrize("metadata,code", [
    ("{not json", "invalid_metadata"),
    ('["a list"]', "invalid_metadata"),
    ('{"artist": "no title"}', "invalid_metadata"),
    ('{"title": "x", "song_id": "has/slash"}', "invalid_metadata"),
    ('{"title": "x", "comments": [{"likes": 3}]}', "invalid_metadata"),
    ('{"title": "x", "language": "Klingon"}', "invalid_metadata"),
])
def test_bad_metadata(client, catalog, music_clips, metadata, code):
    n = catalog.count()
    assert_error(post_song(client, music_clips["feelings"], metadata), 422, code)
    assert catalog.count() == n


def test_missing_parts(client, music_clips):
    assert_error(client.post("/v1/songs", data={"metadata": '{"title": "x"}'}), 422,
                 "missing_field")
    assert_error(client.post("/v1/songs", files={"audio": ("a.ogg", music_clips["feelings"])}),
                 422, "missing_field")
    assert_error(client.post("/v1/similar", content=b"{oops",
                             headers={"content-type": "application/json"}), 422, "invalid_json")
    assert_error(client.post("/v1/similar", json={"txt": "x"}), 422, "invalid_input")
    assert_error(client.get("/v1/songs/x/similar", params={"space": "nope"}), 422,
                 "invalid_input")


def test_odd_unicode_is_cleaned_not_crashing(client, music_clips):
    meta = {"song_id": "odd-unicode", "title": "Cafe\u0301 \u200b\u202e名字\ud800",
            "artist": "A\x00B", "lyrics": "🎵🎵🎵\n" + "ü" * 60000,
            "comments": [{"text": "\u202e" * 10 + "好听", "likes": 10**9}]}
    r = post_song(client, music_clips["armygeddon"],
                  json.dumps(meta, ensure_ascii=True))
    assert r.status_code == 201, r.text
    assert r.json()["title"] == "Café 名字?"
    assert r.json()["artist"] == "AB"


def test_start_up_objects_are_out_of_the_collectors_sight(client):
    """gc.freeze() after start-up: a full collection skips the models and the catalog."""
    import gc

    assert gc.get_freeze_count() > 0


def test_healthz_and_docs(client):
    h = client.get("/healthz").json()
    assert h["status"] == "ok" and h["store"] == "edge" and h["audio_model"] == "musicnn"
    assert client.get("/docs").status_code == 200
    spec = client.get("/openapi.json").json()
    paths = spec["paths"]
    assert {"/v1/songs", "/v1/songs/{song_id}", "/v1/songs/{song_id}/similar",
            "/v1/similar"} <= set(paths)
    # every reference resolves inside the document (client generators need that)
    refs = set(re.findall(r'"\$ref": "([^"]+)"', json.dumps(spec)))
    assert refs and all(r.startswith("#/components/schemas/") for r in refs), refs
    assert {r.rsplit("/", 1)[-1] for r in refs} <= set(spec["components"]["schemas"])
    # every JSON answer is described by a named model (the audio file is the one non-JSON one)
    for path, ops in paths.items():
        for method, op in ops.items():
            for status, resp in op["responses"].items():
                if path == "/v1/songs/{song_id}/audio" and status in ("200", "206"):
                    assert set(resp["content"]) == {"audio/*"}
                elif path == "/v1/admin/backup" and status.startswith("2"):  # a tar archive
                    assert list(resp["content"]) == ["application/x-tar"]
                elif status.startswith("2") and status != "204":
                    schema = resp["content"]["application/json"]["schema"]
                    named = [schema] if "$ref" in schema else schema.get("oneOf", [])
                    assert named and all("$ref" in s for s in named), (method, path, schema)


def test_playlists_over_http(client, music_clips):
    for sid in ("feelings", "chaos_god"):
        meta = {"song_id": f"pl-{sid}", "title": sid, "artist": sid, "lyrics": LYRICS}
        assert post_song(client, music_clips[sid], meta).status_code == 201
    r = client.post("/v1/playlists", json={"tags": {"language": ["zh"]}, "length": 5,
                                           "max_energy": 1.0, "target_tempo": 120})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["items"] and all(set(i) >= {"song_id", "reasons"} for i in body["items"])
    # the derived fields are not inputs: sending them is a 422, never a 500
    for bad in ({"tags": {"language": ["华语"]}, "targets": {"x": 1}},
                {"tags": {"language": ["华语"]}, "bounds": {"tempo": [1, 2]}},
                {"tags": {"language": ["华语"]}, "target_energy": "high"},
                {"tags": {"language": ["华语"]}, "min_tempo": 150, "max_tempo": 90},
                {"tags": {"language": ["Klingon"]}}):
        r = client.post("/v1/playlists", json=bad)
        assert r.status_code == 422, (bad, r.text)
        assert r.json()["error"]["code"] in ("invalid_input", "unknown_tag")


def test_a_partly_decoded_upload_says_so(client, music_clips):
    """A cut file that still decodes past audio.min_decoded_fraction is kept, and the document
    (in the 201 and on GET) says what was lost."""
    data = music_clips["armygeddon"]
    cut = data[: int(len(data) * 0.75)]
    r = post_song(client, cut, {"song_id": "cut-75", "title": "Cut"})
    assert r.status_code == 201, r.text
    doc = r.json()
    assert doc["warnings"] and doc["warnings"][0].startswith("truncated")
    assert doc["source"]["container"] == "ogg"
    assert client.get("/v1/songs/cut-75").json()["warnings"] == doc["warnings"]
    whole = post_song(client, data, {"song_id": "whole", "title": "Whole"}).json()
    assert "warnings" not in whole  # nothing to say: left out
    assert client.delete("/v1/songs/cut-75").status_code == 204
    assert client.delete("/v1/songs/whole").status_code == 204
