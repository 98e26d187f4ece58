"""The operations surface on a real catalog: /metrics (Prometheus), /readyz, the request id and
the access log line."""

from __future__ import annotations

import json
import logging
import re

import pytest
from prometheus_client.parser import text_string_to_metric_families

from songlens.api.app import create_app
from songlens.api.request_log import logfmt
from tests.conftest import local_client

STAGES = {"decode", "audio_model", "features", "text", "store"}


@pytest.fixture(scope="module")
def client(catalog):
    with local_client(create_app(catalog.settings, catalog=catalog)) as c:
        yield c


def scrape(client) -> dict[tuple[str, tuple], float]:
    """``{(sample name, sorted labels): value}`` of one scrape, parsed by prometheus-client's
    own parser (so the text is valid exposition format)."""
    r = client.get("/metrics")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for fam in text_string_to_metric_families(r.text) for s in fam.samples}


def value(samples, name: str, **labels) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def test_requests_are_counted_per_route_template_not_per_path(client):
    before = scrape(client)
    for i in range(3):
        assert client.get(f"/v1/songs/no-such-song-{i}").status_code == 404
    assert client.request("BREW", "/v1/songs/x").status_code == 405
    assert client.get("/no/such/path").status_code == 404
    after = scrape(client)
    route = "/v1/songs/{song_id}"
    key = {"method": "GET", "route": route, "status": "404"}
    assert value(after, "songlens_http_requests_total", **key) - \
        value(before, "songlens_http_requests_total", **key) == 3
    assert value(after, "songlens_http_request_duration_seconds_count", method="GET",
                 route=route) >= 3
    assert value(after, "songlens_http_requests_total", method="OTHER", route=route,
                 status="405") == 1
    assert value(after, "songlens_http_requests_total", method="GET", route="unmatched",
                 status="404") >= 1
    labels = {dict(k[1]).get("route") for k in after if k[0] == "songlens_http_requests_total"}
    assert not any("no-such-song" in r or "/no/such" in r for r in labels), labels


def test_ingestion_stages_catalog_size_and_process_metrics(client, music_clips):
    before = scrape(client)
    r = client.post("/v1/songs", files={"audio": ("f.ogg", music_clips["feelings"], "audio/ogg")},
                    data={"metadata": json.dumps({"song_id": "ops-1", "title": "Feelings",
                                                  "artist": "Sectoid"})})
    assert r.status_code == 201, r.text
    after = scrape(client)
    for stage in STAGES:
        n = value(after, "songlens_ingest_stage_seconds_count", stage=stage) - \
            value(before, "songlens_ingest_stage_seconds_count", stage=stage)
        assert n == 1, stage
        assert value(after, "songlens_ingest_stage_seconds_sum", stage=stage) > 0
    assert value(after, "songlens_catalog_songs") == client.get("/healthz").json()["songs"] >= 1
    assert value(after, "songlens_http_requests_total", method="POST", route="/v1/songs",
                 status="201") >= 1
    assert value(after, "songlens_heavy_requests_active") == 0
    assert value(after, "process_resident_memory_bytes") > 0
    # a failed ingestion times the stage that failed, and writes nothing
    n = value(after, "songlens_ingest_stage_seconds_count", stage="decode")
    r = client.post("/v1/songs", files={"audio": ("x.mp3", b"not audio at all", "audio/mpeg")},
                    data={"metadata": '{"title": "x"}'})
    assert r.status_code == 415
    again = scrape(client)
    assert value(again, "songlens_ingest_stage_seconds_count", stage="decode") == n + 1
    assert value(again, "songlens_ingest_stage_seconds_count", stage="store") == \
        value(after, "songlens_ingest_stage_seconds_count", stage="store")


def test_request_id_is_taken_when_sane_generated_otherwise_and_echoed(client):
    r = client.get("/healthz", headers={"X-Request-ID": "abc-123.4:x_y"})
    assert r.headers["x-request-id"] == "abc-123.4:x_y"
    ids = set()
    for bad in (None, "", "a" * 129, "has space", "new\\nline", "ü".encode(), "x;y=1"):
        r = client.get("/v1/songs/missing", headers={"X-Request-ID": bad} if bad is not None
                       else {})
        assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"
        assert re.fullmatch(r"[0-9a-f]{32}", r.headers["x-request-id"]), bad
        ids.add(r.headers["x-request-id"])
    assert len(ids) == 7  # a new id for every request
    # answers from the middlewares carry it too: 413 from the size limit, 401 to a stranger
    r = client.post("/v1/feedback", content=b"x" * (3 * 2**20),
                    headers={"content-type": "application/json", "X-Request-ID": "big-1"})
    assert r.status_code == 413 and r.headers["x-request-id"] == "big-1"


def test_one_logfmt_line_per_request(client, caplog):
    with caplog.at_level(logging.INFO, logger="songlens.access"):
        client.get("/v1/songs/missing%22%0Aforged=1", headers={"X-Request-ID": "log-1"})
    lines = [r.getMessage() for r in caplog.records if r.name == "songlens.access"]
    assert len(lines) == 1
    line = lines[0]
    assert "\n" not in line
    fields = dict(re.findall(r'(\w+)=("(?:[^"\\]|\\.)*"|\S+)', line))
    assert fields["method"] == "GET" and fields["status"] == "404"
    assert fields["route"] == "/v1/songs/{song_id}" and fields["request_id"] == "log-1"
    assert fields["client"] == "127.0.0.1" and float(fields["duration_ms"]) > 0
    assert "forged" not in fields  # the client's quote and newline stayed inside "path"
    assert fields["path"].startswith('"/v1/songs/missing\\"\\n')


def test_logfmt_quotes_what_needs_it():
    assert logfmt({"a": "x", "b": 1.25, "c": 'say "hi"'}) == 'a=x b=1.2 c="say \\"hi\\""'


def test_readyz_ok(client):
    r = client.get("/readyz")
    assert r.status_code == 200, r.text
    assert r.json() == {"status": "ready", "checks": {"models": "ok", "catalog": "ok",
                                                     "coldstart": "ok", "store": "ok"},
                        "reasons": [], "error": None}


def test_readyz_503_when_the_store_fails_and_when_shutting_down(test_settings_factory, models,
                                                                 resources, music_clips):
    from songlens.catalog.pipeline import Catalog
    from songlens.store.server import ServerStore

    # qdrant-client in local mode stands in for a Qdrant server that went away
    settings = test_settings_factory()
    store = ServerStore(location=":memory:")
    cat = Catalog(settings=settings, store=store, models=models, resources=resources)
    with local_client(create_app(settings, catalog=cat)) as c:
        assert c.get("/readyz").status_code == 200
        cat.close()  # what the app does at shutdown: no more writes
        r = c.get("/readyz")
        assert r.status_code == 503
        assert r.json()["reasons"] == ["catalog: shutting_down"]
        assert r.json()["error"]["code"] == "not_ready"
        r = c.post("/v1/songs", files={"audio": ("f.ogg", music_clips["feelings"], "ogg")},
                   data={"metadata": '{"title": "late"}'})
        assert r.status_code == 503 and r.json()["error"]["code"] == "shutting_down"
        assert c.get("/healthz").json()["songs"] == 0  # nothing written
        store.client.close()
        r = c.get("/readyz")
        assert r.status_code == 503
        assert r.json()["checks"]["store"] == "store_error"
        assert "store: store_error" in r.json()["reasons"]
        samples = scrape(c)  # the scrape still works, without the catalog size
        assert ("songlens_catalog_songs", ()) not in samples


def test_a_bug_is_a_500_with_its_request_id_counted_and_logged(test_settings_factory, caplog):
    app = create_app(test_settings_factory())

    def boom() -> None:
        raise RuntimeError("a bug")

    app.add_api_route("/boom", boom)  # no lifespan needed: the route touches nothing
    c = local_client(app, raise_server_exceptions=False)
    with caplog.at_level(logging.INFO):
        r = c.get("/boom", headers={"X-Request-ID": "bug-1"})
    assert r.status_code == 500 and r.json()["error"]["code"] == "internal_error"
    assert r.headers["x-request-id"] == "bug-1"
    assert "RuntimeError" not in r.text
    assert any("request_id=bug-1" in rec.getMessage() and rec.levelno == logging.ERROR
               for rec in caplog.records)
    assert any(rec.name == "songlens.access" and "status=500" in rec.getMessage()
               and "request_id=bug-1" in rec.getMessage() for rec in caplog.records)
    assert 'route="/boom",status="500"' in c.get("/metrics").text.replace(
        'method="GET",', "")
