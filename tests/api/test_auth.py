"""Authentication, scopes, Origin checks, CORS and rate limits over real HTTP (TestClient), on a
real catalog. ``MATRIX`` is also what ``benchmarks/auth_matrix.py`` prints for RESULTS.md."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from fastapi.testclient import TestClient

from songlens.api.app import create_app
from songlens.api.security import KeyFile
from songlens.settings import SecuritySettings
from tests.conftest import LOCAL_CLIENT, local_client, wav_bytes

CREDS = ("no key", "bad key", "read", "write", "admin")
BAD_KEY = "sl_0123456789ab_" + "A" * 43
SR = 16000


def _clip(seed: int) -> bytes:
    rng = np.random.default_rng(seed)
    t = np.arange(3 * SR) / SR
    y = 0.3 * np.sin(2 * np.pi * 220 * t) + 0.05 * rng.standard_normal(t.size)
    return wav_bytes(y.astype(np.float32), SR)


def _song(song_id: str) -> dict:
    return {"files": {"audio": ("a.wav", _clip(7), "audio/wav")},
            "data": {"metadata": json.dumps({"song_id": song_id, "title": "t", "artist": "a"})}}


#: (endpoint, method, path, request kwargs, status for each of CREDS). ``{cred}`` in a path is
#: the credential's name, so each delete has its own song.
MATRIX: list[tuple[str, str, str, dict, tuple[int, ...]]] = [
    ("GET /healthz", "GET", "/healthz", {}, (200, 200, 200, 200, 200)),
    ("GET /readyz", "GET", "/readyz", {}, (200, 200, 200, 200, 200)),
    ("GET /metrics", "GET", "/metrics", {}, (401, 401, 200, 200, 200)),
    ("GET /openapi.json", "GET", "/openapi.json", {}, (401, 401, 200, 200, 200)),
    ("GET /docs", "GET", "/docs", {}, (401, 401, 200, 200, 200)),
    # the web app's shell and files hold no data: they load without a key, then ask for one
    ("GET / (web app)", "GET", "/", {}, (200, 200, 200, 200, 200)),
    ("GET /web/js/api.js", "GET", "/web/js/api.js", {}, (200, 200, 200, 200, 200)),
    ("GET /v1/songs/{id}", "GET", "/v1/songs/m-song", {}, (401, 401, 200, 200, 200)),
    ("GET /v1/songs/{id}/similar", "GET", "/v1/songs/m-song/similar?k=2", {},
     (401, 401, 200, 200, 200)),
    ("POST /v1/similar (text)", "POST", "/v1/similar", {"json": {"text": "夜晚 安静 钢琴"}},
     (401, 401, 200, 200, 200)),
    ("POST /v1/playlists", "POST", "/v1/playlists",
     {"json": {"seed_songs": ["m-song"], "length": 2}},
     (401, 401, 200, 200, 200)),
    ("POST /v1/recall (song_audience)", "POST", "/v1/recall",
     {"json": {"mode": "song_audience", "song_id": "m-song"}}, (401, 401, 200, 200, 200)),
    ("POST /v1/recall (onboarding, no user_id)", "POST", "/v1/recall",
     {"json": {"mode": "onboarding", "liked_song_ids": ["m-song"]}}, (401, 401, 200, 200, 200)),
    ("POST /v1/recall (onboarding + user_id: stores a profile)", "POST", "/v1/recall",
     {"json": {"mode": "onboarding", "liked_song_ids": ["m-song"], "user_id": "new-user"}},
     (401, 401, 403, 200, 200)),
    ("POST /v1/rank", "POST", "/v1/rank", {"json": {"user_id": "u1", "song_ids": ["m-song"]}},
     (401, 401, 200, 200, 200)),
    ("GET /v1/users/{id}", "GET", "/v1/users/u1", {}, (401, 401, 200, 200, 200)),
    ("POST /v1/feedback", "POST", "/v1/feedback",
     {"json": {"events": [{"user_id": "u2", "song_id": "m-song", "event": "like",
                           "ts": 1_700_000_000}]}}, (401, 401, 403, 200, 200)),
    ("POST /v1/songs", "POST", "/v1/songs", _song("posted"), (401, 401, 403, 201, 201)),
    ("DELETE /v1/songs/{id}", "DELETE", "/v1/songs/del-{cred}", {}, (401, 401, 403, 204, 204)),
    ("POST /v1/admin/backup", "POST", "/v1/admin/backup", {}, (401, 401, 403, 403, 200)),
    ("GET /v1/admin/ranker/snapshots", "GET", "/v1/admin/ranker/snapshots", {},
     (401, 401, 403, 403, 200)),
    ("POST /v1/admin/ranker/rollback (unknown id)", "POST", "/v1/admin/ranker/rollback",
     {"json": {"id": "no-such"}}, (401, 401, 403, 403, 404)),
    ("GET /v1/no-such-path", "GET", "/v1/no-such-path", {}, (401, 401, 404, 404, 404)),
]


@contextmanager
def secured_client(catalog, keys_file: Path, clips: dict[str, bytes],
                   **security) -> Iterator[SimpleNamespace]:
    """A TestClient on an app with one key per scope and the songs and user the matrix needs."""
    kf = KeyFile(keys_file)
    keys = {s: kf.create(f"{s}-key", [s])[1] for s in ("read", "write", "admin")}
    sec = SecuritySettings(keys_file=str(keys_file), key_reload_s=0, **security)
    app = create_app(catalog.settings.model_copy(update={"security": sec}), catalog=catalog)
    headers = {"no key": {}, "bad key": {"Authorization": f"Bearer {BAD_KEY}"},
               **{s: {"Authorization": f"Bearer {k}"} for s, k in keys.items()}}
    with local_client(app) as client:
        admin = headers["admin"]
        for song_id, clip in (("m-song", "chaos_god"), ("del-write", "armygeddon"),
                              ("del-admin", "feelings")):
            r = client.post("/v1/songs", headers=admin,
                            files={"audio": (f"{clip}.ogg", clips[clip], "audio/ogg")},
                            data={"metadata": json.dumps({"song_id": song_id, "title": song_id,
                                                          "artist": "x"})})
            assert r.status_code == 201, r.text
        r = client.post("/v1/feedback", headers=admin, json={"events": [
            {"user_id": "u1", "song_id": "m-song", "event": "like", "ts": time.time()}]})
        assert r.status_code == 200, r.text
        yield SimpleNamespace(client=client, app=app, keys=keys, headers=headers,
                              keys_file=keys_file)


def call(client: TestClient, case: tuple, cred: str, headers: dict):
    _, method, path, kwargs, _ = case
    return client.request(method, path.format(cred=cred.replace(" ", "-")),
                          headers=headers[cred], **kwargs)


@pytest.fixture(scope="module")
def secured(catalog, music_clips, tmp_path_factory):
    with secured_client(catalog, tmp_path_factory.mktemp("keys") / "api_keys.json",
                        music_clips, rate_limit_per_minute=0) as s:
        yield s


@pytest.mark.parametrize("cred", CREDS)
@pytest.mark.parametrize("case", MATRIX, ids=[m[0] for m in MATRIX])
def test_auth_matrix(secured, case, cred):
    r = call(secured.client, case, cred, secured.headers)
    expected = case[4][CREDS.index(cred)]
    assert r.status_code == expected, r.text
    if expected == 401:
        assert r.json()["error"]["code"] == "unauthorized"
        assert r.headers["www-authenticate"].startswith("Bearer")
    if expected == 403:
        assert r.json()["error"]["code"] == "forbidden"
        needs = "admin" if "/admin/" in case[2] else "write"
        assert f"needs '{needs}'" in r.json()["error"]["message"]


def test_refused_writes_change_nothing(secured):
    assert secured.client.get("/v1/songs/del-write", headers=secured.headers["read"]
                              ).status_code in (200, 404)  # 404 once the write case ran
    r = secured.client.delete("/v1/songs/m-song", headers=secured.headers["read"])
    assert r.status_code == 403
    assert secured.client.get("/v1/songs/m-song", headers=secured.headers["read"]
                              ).status_code == 200


def test_malformed_authorization_header(secured):
    for value in ("Basic dXNlcjpwYXNz", "Bearer", "Bearer sl_nope", secured.keys["read"]):
        r = secured.client.get("/v1/songs/m-song", headers={"Authorization": value})
        assert r.status_code == 401, value
        assert r.json()["error"]["code"] == "unauthorized"


def test_openapi_declares_the_bearer_scheme(secured):
    spec = secured.client.get("/openapi.json", headers=secured.headers["read"]).json()
    scheme = spec["components"]["securitySchemes"]["apiKey"]
    assert scheme["type"] == "http" and scheme["scheme"] == "bearer"
    assert spec["paths"]["/v1/songs"]["post"]["security"] == [{"apiKey": []}]
    assert "security" not in spec["paths"]["/healthz"]["get"]


def test_healthz_reveals_nothing_sensitive(secured, catalog):
    body = secured.client.get("/healthz").text
    assert str(catalog.settings.data_path) not in body
    assert "sl_" not in body and "api_key" not in body


def test_key_file_holds_no_secret_and_is_private(secured):
    raw = secured.keys_file.read_text()
    for secret in secured.keys.values():
        assert secret not in raw and secret.split("_", 2)[2] not in raw
    assert secured.keys_file.stat().st_mode & 0o777 == 0o600


def test_public_reads(catalog, music_clips, tmp_path):
    with secured_client(catalog, tmp_path / "k.json", music_clips, public_reads=True,
                        rate_limit_per_minute=0) as s:
        assert s.client.get("/v1/songs/m-song").status_code == 200
        assert s.client.post("/v1/similar", json={"text": "安静"}).status_code == 200
        assert s.client.get("/openapi.json").status_code == 200
        r = s.client.post("/v1/feedback", json={"events": [
            {"user_id": "u", "song_id": "m-song", "event": "like", "ts": 1_700_000_000}]})
        assert r.status_code == 401 and r.json()["error"]["code"] == "unauthorized"
        assert s.client.delete("/v1/songs/m-song").status_code == 401
        # a wrong key is refused even where no key is needed
        assert s.client.get("/v1/songs/m-song", headers=s.headers["bad key"]).status_code == 401


def test_rate_limit_then_recovery(catalog, music_clips, tmp_path):
    with secured_client(catalog, tmp_path / "k.json", music_clips, rate_limit_per_minute=60,
                        rate_limit_burst=5) as s:
        read = s.headers["read"]  # untouched by the set-up (admin key)
        codes = [s.client.get("/v1/songs/m-song", headers=read).status_code for _ in range(5)]
        assert codes == [200] * 5
        r = s.client.get("/v1/songs/m-song", headers=read)
        assert r.status_code == 429, r.text
        assert r.json()["error"]["code"] == "rate_limited"
        assert r.headers["retry-after"] == "1"
        # per key: another key is not affected
        assert s.client.get("/v1/songs/m-song", headers=s.headers["write"]).status_code == 200
        time.sleep(int(r.headers["retry-after"]))  # one token a second: one is back
        assert s.client.get("/v1/songs/m-song", headers=read).status_code == 200
        # open endpoints take no token
        assert all(s.client.get("/healthz").status_code == 200 for _ in range(10))


def test_no_keys_no_limit_on_loopback(catalog):
    sec = SecuritySettings(rate_limit_per_minute=60, rate_limit_burst=1)
    app = create_app(catalog.settings.model_copy(update={"security": sec}), catalog=catalog)
    with local_client(app) as client:
        assert all(client.get("/openapi.json").status_code == 200 for _ in range(5))


@pytest.fixture()
def open_client(catalog):
    """No keys, loopback: today's behaviour."""
    app = create_app(catalog.settings, catalog=catalog)
    with local_client(app) as c:
        yield c


def test_cors_off_by_default(open_client):
    r = open_client.get("/healthz", headers={"Origin": "https://app.example"})
    assert r.status_code == 200 and "access-control-allow-origin" not in r.headers
    r = open_client.options("/v1/songs", headers={"Origin": "https://app.example",
                                                  "Access-Control-Request-Method": "POST"})
    assert "access-control-allow-origin" not in r.headers


def test_cors_on_for_a_configured_origin(catalog):
    sec = SecuritySettings(cors_origins=["https://app.example"])
    app = create_app(catalog.settings.model_copy(update={"security": sec}), catalog=catalog)
    with local_client(app) as client:
        r = client.options("/v1/similar", headers={
            "Origin": "https://app.example", "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, content-type"})
        assert r.status_code == 200
        assert r.headers["access-control-allow-origin"] == "https://app.example"
        assert "authorization" in r.headers["access-control-allow-headers"].lower()
        r = client.post("/v1/similar", json={"text": "安静"},
                        headers={"Origin": "https://app.example"})
        assert r.status_code == 200
        assert r.headers["access-control-allow-origin"] == "https://app.example"
        r = client.options("/v1/similar", headers={
            "Origin": "https://evil.example", "Access-Control-Request-Method": "POST"})
        assert "access-control-allow-origin" not in r.headers
        r = client.post("/v1/similar", json={"text": "安静"},
                        headers={"Origin": "https://evil.example"})
        assert r.status_code == 403 and r.json()["error"]["code"] == "forbidden_origin"


def test_cross_site_multipart_post_is_refused_and_stores_nothing(open_client, music_clips):
    # the CSRF hole: a page on evil.example makes a visitor's browser POST a song to localhost
    files = {"audio": ("x.ogg", music_clips["feelings"], "audio/ogg")}
    meta = {"metadata": json.dumps({"song_id": "csrf-song", "title": "pwned"})}
    for origin in ("http://evil.example", "null", "http://localhost.evil.example"):
        r = open_client.post("/v1/songs", files=files, data=meta, headers={"Origin": origin})
        assert r.status_code == 403, r.text
        assert r.json()["error"]["code"] == "forbidden_origin"
    r = open_client.delete("/v1/songs/m-song", headers={"Origin": "http://evil.example"})
    assert r.status_code == 403
    assert open_client.get("/v1/songs/csrf-song").status_code == 404


def test_same_origin_and_origin_less_requests_pass(open_client, music_clips):
    meta = {"metadata": json.dumps({"song_id": "same-origin", "title": "ok"})}
    files = {"audio": ("x.ogg", music_clips["feelings"], "audio/ogg")}
    r = open_client.post("/v1/songs", files=files, data=meta,
                         headers={"Origin": "http://localhost"})
    assert r.status_code == 201, r.text
    assert open_client.post("/v1/similar", json={"text": "x"}).status_code == 200  # no Origin
    # reads are not state-changing: a foreign Origin on a GET is not refused
    assert open_client.get("/v1/songs/same-origin",
                           headers={"Origin": "http://evil.example"}).status_code == 200
    assert open_client.delete("/v1/songs/same-origin",
                              headers={"Origin": "http://localhost:80"}).status_code == 204


def test_revoked_key_is_refused_without_restart(secured, tmp_path):
    kf = KeyFile(secured.keys_file)
    key, secret = kf.create("short-lived", ["read"])
    h = {"Authorization": f"Bearer {secret}"}
    assert secured.client.get("/v1/songs/m-song", headers=h).status_code == 200
    kf.revoke("short-lived")
    assert secured.client.get("/v1/songs/m-song", headers=h).status_code == 401
    assert secured.client.get("/v1/songs/m-song", headers=secured.headers["read"]
                              ).status_code == 200


def test_dns_rebinding_is_refused_by_host(catalog, music_clips):
    """A key-less loopback server refuses a browser whose page's own name now points at
    127.0.0.1: same-origin by the Origin check, but not a name this server answers to."""
    n = catalog.count()
    app = create_app(catalog.settings, catalog=catalog)
    with TestClient(app, base_url="http://evil.example:8000", client=LOCAL_CLIENT) as client:
        r = client.post("/v1/songs", headers={"Origin": "http://evil.example:8000"},
                        files={"audio": ("x.ogg", music_clips["feelings"], "audio/ogg")},
                        data={"metadata": json.dumps({"title": "x"})})
        assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_host", r.text
        assert client.get("/v1/songs/anything").json()["error"]["code"] == "invalid_host"
    assert catalog.count() == n
