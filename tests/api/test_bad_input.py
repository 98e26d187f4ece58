"""A corpus of bad requests, one per row, against every endpoint: each must be a clean JSON 4xx
with the right error code, no traceback or server path in the message, and nothing stored."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import pytest

from songlens.api.app import create_app
from tests.conftest import local_client

FAKE_AUDIO = b"RIFF\x24\x00\x00\x00WAVEfmt not really audio"
DEEP_LIST = "[" * 100_000 + "]" * 100_000
DEEP_OBJ = '{"a":' * 100_000 + "1" + "}" * 100_000
HOSTILE_NAME = "<script>alert(1)</script>\x1b[31m" + "A" * 300 + "/../../etc/passwd.mp3"


@dataclass
class Case:
    id: str
    method: str
    path: str
    status: int
    code: str | tuple[str, ...]
    kw: dict[str, Any] = field(default_factory=dict)


def song(meta: Any, *, audio: bytes | None = FAKE_AUDIO, filename: str = "x.wav") -> dict:
    """multipart kwargs for POST /v1/songs; ``meta`` a dict (JSON-encoded) or a raw string."""
    data = {}
    if meta is not None:
        data["metadata"] = meta if isinstance(meta, str) else json.dumps(meta)
    files = {"audio": (filename, audio, "audio/wav")} if audio is not None else None
    return {"data": data, "files": files}


def clip(**fields: str) -> dict:
    """multipart kwargs for POST /v1/similar with a (bad) audio clip."""
    return {"data": fields, "files": {"audio": ("q.wav", FAKE_AUDIO, "audio/wav")}}


def raw(body: bytes | str, ctype: str) -> dict:
    return {"content": body.encode() if isinstance(body, str) else body,
            "headers": {"content-type": ctype}}


def js(obj: Any) -> dict:
    return raw(json.dumps(obj), "application/json")


def js_raw(text: str) -> dict:
    return raw(text, "application/json")


MULTI_NO_BOUNDARY = raw(b"--x\r\nContent-Disposition: form-data; name=\"metadata\"\r\n\r\n{}\r\n"
                        b"--x--\r\n", "multipart/form-data")
MULTI_WRONG_BOUNDARY = raw(b"--x\r\nContent-Disposition: form-data; name=\"metadata\"\r\n\r\n"
                           b"{}\r\n--x--\r\n", "multipart/form-data; boundary=yyy")
MULTI_TRUNCATED = raw(b"--b\r\nContent-Disposition: form-data; name=\"audio\"; "
                      b"filename=\"a.wav\"\r\nContent-Type: audio/wav\r\n\r\nRIFF....",
                      "multipart/form-data; boundary=b")
MULTI_BAD_HEADER = raw(b"--b\r\nnot a header line\r\n\r\nzz\r\n--b--\r\n",
                       "multipart/form-data; boundary=b")
MULTI_NO_DISPOSITION = raw(b"--b\r\nContent-Type: text/plain\r\n\r\nzz\r\n--b--\r\n",
                           "multipart/form-data; boundary=b")
MULTI_MANY_FIELDS = raw("".join(f"--b\r\nContent-Disposition: form-data; name=\"f{i}\"\r\n\r\n"
                                f"x\r\n" for i in range(1100)) + "--b--\r\n",
                        "multipart/form-data; boundary=b")

TEMPO = {"min_tempo": 90}
EV = {"user_id": "u", "song_id": "s", "event": "play", "ts": 1_700_000_000}

SONGS, SIMILAR, PLAYLISTS = "/v1/songs", "/v1/similar", "/v1/playlists"
META, JSONERR = "invalid_metadata", "invalid_json"
INVALID = "invalid_input"
MISSING = "missing_field"
MULTIPART = "invalid_multipart"

CASES = [
    # --- POST /v1/songs: the metadata part --------------------------------------------------
    Case("meta-deep-list", "POST", SONGS, 422, META, song(DEEP_LIST)),
    Case("meta-deep-object", "POST", SONGS, 422, META, song(DEEP_OBJ)),
    Case("meta-not-json", "POST", SONGS, 422, META, song("{title: x")),
    Case("meta-array", "POST", SONGS, 422, META, song("[]")),
    Case("meta-string", "POST", SONGS, 422, META, song('"a title"')),
    Case("meta-number", "POST", SONGS, 422, META, song("1e999")),
    Case("meta-no-title", "POST", SONGS, 422, META, song({"artist": "x"})),
    Case("meta-title-number", "POST", SONGS, 422, META, song({"title": 5})),
    Case("meta-title-blank", "POST", SONGS, 422, META, song({"title": "   "})),
    Case("meta-title-zero-width", "POST", SONGS, 422, META,
         song({"title": "\u200b\u202e\u2066"})),
    Case("meta-title-list", "POST", SONGS, 422, META, song({"title": ["a"]})),
    Case("song-id-dotdot", "POST", SONGS, 422, META, song({"title": "t", "song_id": ".."})),
    Case("song-id-dot", "POST", SONGS, 422, META, song({"title": "t", "song_id": "."})),
    Case("song-id-dots", "POST", SONGS, 422, META, song({"title": "t", "song_id": "..."})),
    Case("song-id-traversal", "POST", SONGS, 422, META,
         song({"title": "t", "song_id": "../../etc/passwd"})),
    Case("song-id-slash", "POST", SONGS, 422, META, song({"title": "t", "song_id": "a/b"})),
    Case("song-id-backslash", "POST", SONGS, 422, META,
         song({"title": "t", "song_id": "..\\a"})),
    Case("song-id-nul", "POST", SONGS, 422, META, song({"title": "t", "song_id": "a\x00b"})),
    Case("song-id-too-long", "POST", SONGS, 422, META, song({"title": "t", "song_id": "a" * 129})),
    Case("song-id-number", "POST", SONGS, 422, META, song({"title": "t", "song_id": 7})),
    Case("comments-too-many", "POST", SONGS, 422, META,
         song({"title": "t", "comments": [{"text": "x"}] * 5001})),
    Case("comments-not-list", "POST", SONGS, 422, META, song({"title": "t", "comments": "x"})),
    Case("comment-negative-likes", "POST", SONGS, 422, META,
         song({"title": "t", "comments": [{"text": "x", "likes": -1}]})),
    Case("comment-huge-likes", "POST", SONGS, 422, META,
         song({"title": "t", "comments": [{"text": "x", "likes": 10**30}]})),
    Case("language-unknown", "POST", SONGS, 422, META, song({"title": "t", "language": "Klingon"})),
    Case("lyrics-too-long", "POST", SONGS, 422, META,
         song({"title": "t", "lyrics": "啦" * 200_001})),
    Case("meta-part-over-limit", "POST", SONGS, 413, "payload_too_large",
         song('{"title": "t", "lyrics": "' + "x" * (9 * 2**20) + '"}')),
    Case("meta-missing", "POST", SONGS, 422, MISSING, song(None)),
    Case("meta-empty", "POST", SONGS, 422, (META, MISSING), song("")),
    # --- POST /v1/songs: the audio part and the body ------------------------------------------
    Case("audio-missing", "POST", SONGS, 422, MISSING, song({"title": "t"}, audio=None)),
    Case("audio-garbage", "POST", SONGS, 415, "unsupported_audio", song({"title": "t"})),
    Case("audio-hostile-filename", "POST", SONGS, 415, "unsupported_audio",
         song({"title": "t"}, filename=HOSTILE_NAME)),
    Case("audio-empty", "POST", SONGS, 400, "empty_audio", song({"title": "t"}, audio=b"")),
    Case("audio-as-text-field", "POST", SONGS, 422, (MISSING, INVALID),
         {"data": {"metadata": '{"title": "t"}', "audio": "not a file"}}),
    Case("songs-json-body", "POST", SONGS, 422, MISSING, js({"title": "t"})),
    Case("songs-urlencoded", "POST", SONGS, 422, MISSING,
         raw("metadata=%7B%22title%22%3A%22t%22%7D", "application/x-www-form-urlencoded")),
    Case("songs-empty-body", "POST", SONGS, 422, MISSING, raw(b"", "multipart/form-data; "
                                                                "boundary=b")),
    Case("songs-no-boundary", "POST", SONGS, 400, MULTIPART, MULTI_NO_BOUNDARY),
    Case("songs-wrong-boundary", "POST", SONGS, 400, MULTIPART, MULTI_WRONG_BOUNDARY),
    # a body cut short ends the parts it had: the missing ones are named
    Case("songs-truncated", "POST", SONGS, 422, MISSING, MULTI_TRUNCATED),
    Case("songs-bad-part-header", "POST", SONGS, 400, MULTIPART, MULTI_BAD_HEADER),
    Case("songs-no-disposition", "POST", SONGS, 400, MULTIPART, MULTI_NO_DISPOSITION),
    Case("songs-too-many-fields", "POST", SONGS, 400, MULTIPART, MULTI_MANY_FIELDS),
    Case("songs-put", "PUT", SONGS, 405, "method_not_allowed"),
    # --- GET/DELETE /v1/songs/{id} --------------------------------------------------------------
    Case("get-unknown", "GET", SONGS + "/no-such-song", 404, "not_found"),
    Case("get-dotdot-encoded", "GET", SONGS + "/%2E%2E", 404, "not_found"),
    Case("get-long-id", "GET", SONGS + "/" + "a" * 5000, 422, INVALID),
    Case("delete-unknown", "DELETE", SONGS + "/no-such-song", 404, "not_found"),
    Case("similar-k-zero", "GET", SONGS + "/x/similar?k=0", 422, INVALID),
    Case("similar-k-text", "GET", SONGS + "/x/similar?k=ten", 422, INVALID),
    Case("similar-k-huge", "GET", SONGS + "/x/similar?k=1" + "0" * 40, 422, INVALID),
    Case("similar-space-bogus", "GET", SONGS + "/x/similar?space=mood", 422, INVALID),
    Case("similar-min-tempo-nan", "GET", SONGS + "/x/similar?min_tempo=nan", 422, INVALID),
    Case("similar-max-tempo-inf", "GET", SONGS + "/x/similar?max_tempo=inf", 422, INVALID),
    Case("similar-days-inf", "GET", SONGS + "/x/similar?days=inf", 422, INVALID),
    Case("similar-days-nan", "GET", SONGS + "/x/similar?days=nan", 422, INVALID),
    Case("similar-unknown-song", "GET", SONGS + "/no-such-song/similar", 404, "not_found"),
    # --- POST /v1/similar: multipart --------------------------------------------------------------
    Case("clip-no-audio", "POST", SIMILAR, 422, INVALID, {"data": {"k": "3"},
                                                          "files": {"x": ("a", b"a")}}),
    Case("clip-k-text", "POST", SIMILAR, 422, INVALID, clip(k="ten")),
    Case("clip-k-zero", "POST", SIMILAR, 422, INVALID, clip(k="0")),
    Case("clip-k-huge", "POST", SIMILAR, 422, INVALID, clip(k="9" * 50)),
    Case("clip-filters-unknown-key", "POST", SIMILAR, 422, INVALID,
         clip(filters='{"mood": "sad"}')),
    Case("clip-filters-typo", "POST", SIMILAR, 422, INVALID,
         clip(filters='{"languages": ["华语"]}')),
    Case("clip-filters-nan", "POST", SIMILAR, 422, INVALID, clip(filters='{"min_tempo": NaN}')),
    Case("clip-filters-deep", "POST", SIMILAR, 422, INVALID, clip(filters=DEEP_OBJ)),
    Case("clip-filters-not-json", "POST", SIMILAR, 422, INVALID, clip(filters="{")),
    Case("clip-filters-list", "POST", SIMILAR, 422, INVALID, clip(filters="[]")),
    Case("clip-garbage-audio", "POST", SIMILAR, 415, "unsupported_audio", clip()),
    Case("clip-no-boundary", "POST", SIMILAR, 400, MULTIPART, MULTI_NO_BOUNDARY),
    Case("clip-truncated", "POST", SIMILAR, 422, INVALID, MULTI_TRUNCATED),
    # --- POST /v1/similar: JSON -------------------------------------------------------------------
    Case("sim-deep-list", "POST", SIMILAR, 422, JSONERR, js_raw(DEEP_LIST)),
    Case("sim-deep-object", "POST", SIMILAR, 422, JSONERR, js_raw(DEEP_OBJ)),
    Case("sim-not-json", "POST", SIMILAR, 422, JSONERR, js_raw("{text: 1")),
    Case("sim-xml", "POST", SIMILAR, 422, JSONERR, raw("<q>hi</q>", "application/xml")),
    Case("sim-empty", "POST", SIMILAR, 422, INVALID, js_raw("")),
    Case("sim-null", "POST", SIMILAR, 422, INVALID, js(None)),
    Case("sim-list", "POST", SIMILAR, 422, INVALID, js(["text"])),
    Case("sim-no-query", "POST", SIMILAR, 422, INVALID, js({})),
    Case("sim-text-empty", "POST", SIMILAR, 422, INVALID, js({"text": ""})),
    Case("sim-text-long", "POST", SIMILAR, 422, INVALID, js({"text": "x" * 2001})),
    Case("sim-text-number", "POST", SIMILAR, 422, INVALID, js({"text": 42})),
    Case("sim-k-zero", "POST", SIMILAR, 422, INVALID, js({"text": "x", "k": 0})),
    Case("sim-k-float", "POST", SIMILAR, 422, INVALID, js({"text": "x", "k": 2.5})),
    Case("sim-k-huge", "POST", SIMILAR, 422, INVALID, js_raw('{"text": "x", "k": 1e400}')),
    Case("sim-positive-too-many", "POST", SIMILAR, 422, INVALID,
         js({"positive": [f"s{i}" for i in range(51)]})),
    Case("sim-space-bogus", "POST", SIMILAR, 422, INVALID, js({"text": "x", "space": "mood"})),
    Case("sim-extra-key", "POST", SIMILAR, 422, INVALID, js({"text": "x", "mood": "sad"})),
    Case("sim-filters-unknown-key", "POST", SIMILAR, 422, INVALID,
         js({"text": "x", "filters": {"mood": "sad"}})),
    Case("sim-filters-typo", "POST", SIMILAR, 422, INVALID,
         js({"text": "x", "filters": {"languages": ["华语"]}})),
    Case("sim-filters-nan", "POST", SIMILAR, 422, INVALID,
         js_raw('{"text": "x", "filters": {"min_tempo": NaN}}')),
    Case("sim-filters-inf", "POST", SIMILAR, 422, INVALID,
         js_raw('{"text": "x", "filters": {"max_tempo": Infinity}}')),
    Case("sim-filters-days-inf", "POST", SIMILAR, 422, INVALID,
         js_raw('{"text": "x", "filters": {"days": Infinity}}')),
    Case("sim-filters-unknown-tag", "POST", SIMILAR, 422, "unknown_tag",
         js({"text": "x", "filters": {"style": ["no-such-style"]}})),
    Case("sim-positive-unknown", "POST", SIMILAR, 404, "not_found", js({"positive": ["nope"]})),
    Case("sim-body-too-large", "POST", SIMILAR, 413, "payload_too_large",
         js({"text": "x", "negative": ["y" * (3 * 2**20)]})),
    # --- POST /v1/playlists ---------------------------------------------------------------------
    Case("pl-seed-negative", "POST", PLAYLISTS, 422, INVALID, js({**TEMPO, "seed": -1})),
    Case("pl-seed-huge", "POST", PLAYLISTS, 422, INVALID, js({**TEMPO, "seed": 2**70})),
    Case("pl-min-nan", "POST", PLAYLISTS, 422, INVALID, js_raw('{"min_energy": NaN}')),
    Case("pl-max-nan", "POST", PLAYLISTS, 422, INVALID, js_raw('{"max_tempo": NaN}')),
    Case("pl-min-inf", "POST", PLAYLISTS, 422, INVALID, js_raw('{"min_tempo": Infinity}')),
    Case("pl-max-neg-inf", "POST", PLAYLISTS, 422, INVALID, js_raw('{"max_tempo": -Infinity}')),
    Case("pl-min-overflow", "POST", PLAYLISTS, 422, INVALID, js_raw('{"min_tempo": 1e400}')),
    Case("pl-target-nan", "POST", PLAYLISTS, 422, INVALID, js_raw('{"target_energy": NaN}')),
    Case("pl-preferred-nan", "POST", PLAYLISTS, 422, INVALID,
         js_raw('{"preferred": {"style": {"摇滚": NaN}}}')),
    Case("pl-preferred-inf", "POST", PLAYLISTS, 422, INVALID,
         js_raw('{"preferred": {"style": {"摇滚": Infinity}}}')),
    Case("pl-diversity-nan", "POST", PLAYLISTS, 422, INVALID,
         js_raw('{"min_tempo": 90, "diversity": NaN}')),
    Case("pl-unknown-field", "POST", PLAYLISTS, 422, INVALID, js({**TEMPO, "mood": "sad"})),
    Case("pl-unknown-attribute", "POST", PLAYLISTS, 422, INVALID, js({"min_sadness": 1})),
    Case("pl-min-above-max", "POST", PLAYLISTS, 422, INVALID,
         js({"min_tempo": 150, "max_tempo": 90})),
    Case("pl-attribute-string", "POST", PLAYLISTS, 422, INVALID, js({"min_energy": "high"})),
    Case("pl-attribute-bool", "POST", PLAYLISTS, 422, INVALID, js({"min_energy": True})),
    Case("pl-length-zero", "POST", PLAYLISTS, 422, INVALID, js({**TEMPO, "length": 0})),
    Case("pl-length-huge", "POST", PLAYLISTS, 422, INVALID, js({**TEMPO, "length": 10**9})),
    Case("pl-tags-string", "POST", PLAYLISTS, 422, INVALID, js({"tags": {"style": "摇滚"}})),
    Case("pl-tags-unknown-dim", "POST", PLAYLISTS, 422, "unknown_tag",
         js({"tags": {"mood": ["sad"]}})),
    Case("pl-exclude-too-many", "POST", PLAYLISTS, 422, INVALID,
         js({**TEMPO, "exclude_songs": ["x"] * 1001})),
    Case("pl-text-long", "POST", PLAYLISTS, 422, INVALID, js({"text": "x" * 501})),
    Case("pl-nothing-asked", "POST", PLAYLISTS, 422, INVALID, js({})),
    Case("pl-deep", "POST", PLAYLISTS, 422, JSONERR, js_raw(DEEP_OBJ)),
    Case("pl-not-json", "POST", PLAYLISTS, 422, JSONERR, js_raw("{min_tempo: 1")),
    Case("pl-unicode-junk-key", "POST", PLAYLISTS, 422, INVALID, js({"\ud83c\udfb5\u202e": 1})),
    # --- POST /v1/feedback ----------------------------------------------------------------------
    Case("fb-no-events", "POST", "/v1/feedback", 422, INVALID, js({"events": []})),
    Case("fb-events-object", "POST", "/v1/feedback", 422, INVALID, js({"events": {"a": 1}})),
    Case("fb-missing", "POST", "/v1/feedback", 422, MISSING, js({})),
    Case("fb-extra-key", "POST", "/v1/feedback", 422, INVALID, js({"events": [EV], "x": 1})),
    Case("fb-too-many", "POST", "/v1/feedback", 413, "payload_too_large",
         js({"events": [{}] * 5001})),
    Case("fb-deep", "POST", "/v1/feedback", 422, JSONERR, js_raw('{"events": ' + DEEP_LIST + "}")),
    Case("fb-body-too-large", "POST", "/v1/feedback", 413, "payload_too_large",
         js({"events": [EV], "pad": "x" * (3 * 2**20)})),
    # --- /v1/users, /v1/recall, /v1/rank ----------------------------------------------------------
    Case("user-unknown", "GET", "/v1/users/nobody", 404, "not_found"),
    Case("recall-no-mode", "POST", "/v1/recall", 422, INVALID, js({"song_id": "x"})),
    Case("recall-bad-mode", "POST", "/v1/recall", 422, INVALID, js({"mode": "everything"})),
    Case("recall-k-zero", "POST", "/v1/recall", 422, INVALID,
         js({"mode": "song_audience", "song_id": "x", "k": 0})),
    Case("recall-window-nan", "POST", "/v1/recall", 422, INVALID,
         js_raw('{"mode": "user_new_songs", "user_id": "u", "window_days": NaN}')),
    Case("recall-window-inf", "POST", "/v1/recall", 422, INVALID,
         js_raw('{"mode": "user_new_songs", "user_id": "u", "window_days": Infinity}')),
    Case("recall-unknown-song", "POST", "/v1/recall", 404, "not_found",
         js({"mode": "song_audience", "song_id": "nope"})),
    Case("rank-too-many", "POST", "/v1/rank", 422, INVALID,
         js({"user_id": "u", "song_ids": ["x"] * 501})),
    Case("rank-hour", "POST", "/v1/rank", 422, INVALID, js({"user_id": "u", "song_ids": ["x"],
                                                            "hour": 24})),
    Case("rank-empty-user", "POST", "/v1/rank", 422, INVALID, js({"user_id": "",
                                                                  "song_ids": ["x"]})),
    Case("rank-missing", "POST", "/v1/rank", 422, MISSING, js({"user_id": "u"})),
    Case("unknown-path", "GET", "/v1/nothing-here", 404, "not_found"),
]


@pytest.fixture(scope="module")
def client(catalog):
    app = create_app(catalog.settings, catalog=catalog)
    with local_client(app, raise_server_exceptions=False) as c:
        yield c


def test_the_corpus_is_large_and_ids_are_unique():
    assert len(CASES) >= 60
    assert len({c.id for c in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input_is_a_clean_json_4xx(client, catalog, case: Case):
    log = client.app.state.coldstart.log
    songs_before, events_before = catalog.count(), log.count()
    r = client.request(case.method, case.path, **case.kw)
    assert r.headers["content-type"].startswith("application/json"), r.text[:300]
    body = r.json()
    assert r.status_code == case.status, body
    codes = case.code if isinstance(case.code, tuple) else (case.code,)
    assert set(body) == {"error"} and body["error"]["code"] in codes, body
    message = body["error"]["message"]
    assert isinstance(message, str) and 0 < len(message) <= 2000, message[:300]
    for leak in ("Traceback", 'File "', "/work/", "site-packages", ".py\"", "<script>", "\x1b"):
        assert leak not in message, message
    assert catalog.count() == songs_before
    assert log.count() == events_before


def test_an_event_id_reused_for_another_event_is_rejected_not_dropped(client):
    log = client.app.state.coldstart.log
    first = {**EV, "user_id": "u-conflict", "event_id": "e-1"}
    r = client.post("/v1/feedback", json={"events": [first]})
    assert r.status_code == 200 and r.json()["new"] == 1, r.text
    n = log.count()
    other = {**first, "song_id": "another-song"}
    retry_and_clash = [first, other, {**first, "event_id": "e-2"}, {**first, "event_id": "e-2",
                                                                     "event": "like"}]
    body = client.post("/v1/feedback", json={"events": retry_and_clash}).json()
    assert body["accepted"] == 2 and body["new"] == 1 and body["duplicates"] == 1, body
    assert [(p["index"], p["code"]) for p in body["rejected"]] == [
        (1, "event_id_conflict"), (3, "event_id_conflict")]
    assert "e-1" in body["rejected"][0]["reason"]
    assert log.count() == n + 1


def test_a_metadata_part_within_the_documented_limits_is_not_refused_for_its_size(client):
    # 200,000 characters of lyrics escaped as \\uXXXX are 1.2 MB: over starlette's default part
    # limit (1 MiB), within api.max_metadata_mb; the garbage audio is what fails
    meta = json.dumps({"title": "t", "lyrics": "啦" * 200_000}, ensure_ascii=True)
    assert len(meta) > 2**20
    r = client.post(SONGS, **song(meta))
    assert r.status_code == 415 and r.json()["error"]["code"] == "unsupported_audio", r.text


def test_a_hostile_file_name_is_echoed_only_sanitised(client):
    r = client.post(SONGS, **song({"title": "t"}, filename=HOSTILE_NAME))
    message = r.json()["error"]["message"]
    assert "passwd.mp3" in message and "<" not in message and ".." not in message


class FakePanic(BaseException):
    """Like pyo3's PanicException: a BaseException, not an Exception."""


@pytest.mark.parametrize("kind", ["async", "sync", "exception"])
def test_anything_a_route_raises_is_a_json_500(catalog, kind):
    app = create_app(catalog.settings, catalog=catalog)

    @app.get("/boom-async")
    async def boom_async() -> None:
        raise FakePanic("called `Option::unwrap()` on a `None` value at /src/lib.rs")

    @app.get("/boom-sync")
    def boom_sync() -> None:
        raise FakePanic("panicked at /src/lib.rs")

    @app.get("/boom-exception")
    def boom_exception() -> None:
        raise RuntimeError("secret at /work/x.py")

    with local_client(app, raise_server_exceptions=False) as c:
        r = c.get(f"/boom-{kind}")
        assert r.status_code == 500 and r.headers["content-type"] == "application/json", r.text
        assert r.json() == {"error": {"code": "internal_error",
                                      "message": "internal error; see the server log"}}
        assert c.get("/healthz").status_code == 200
