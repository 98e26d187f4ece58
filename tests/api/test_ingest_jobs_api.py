"""POST /v1/ingest-jobs and GET /v1/ingest-jobs/{id}: ingestion with progress, in a worker
thread behind the heavy-request slots; real uploads, real models, a real store."""

from __future__ import annotations

import json
import time

import numpy as np
import pytest

from songlens.api.app import create_app
from songlens.api.jobs import IngestJob, IngestJobs
from tests.conftest import local_client

STAGES = ["decode", "audio_model", "features", "text", "store"]


@pytest.fixture(scope="module")
def app(catalog):
    return create_app(catalog.settings, catalog=catalog)


@pytest.fixture(scope="module")
def client(app):
    with local_client(app) as c:
        yield c


def submit(client, audio: bytes, meta: dict | str, filename: str = "a.ogg"):
    metadata = meta if isinstance(meta, str) else json.dumps(meta, ensure_ascii=False)
    return client.post("/v1/ingest-jobs", files={"audio": (filename, audio, "audio/ogg")},
                       data={"metadata": metadata})


def poll(client, url: str, timeout_s: float = 300.0) -> tuple[dict, list[dict]]:
    """The finished job, and every state seen on the way."""
    seen, deadline = [], time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        r = client.get(url)
        assert r.status_code == 200, r.text
        seen.append(r.json())
        if seen[-1]["state"] in ("done", "failed"):
            return seen[-1], seen
        time.sleep(0.02)
    raise AssertionError(f"job not finished in {timeout_s} s: {seen[-1]}")


def kept_files(catalog) -> list:
    root = catalog.settings.data_path / "audio"
    return sorted(root.rglob("*")) if root.exists() else []


def test_a_job_goes_through_every_stage_to_a_stored_song(client, catalog, music_clips):
    r = submit(client, music_clips["feelings"], {"song_id": "job-1", "title": "Feelings",
                                                 "artist": "Sectoid", "lyrics": "深夜的雨"})
    assert r.status_code == 202, r.text
    body = r.json()
    assert body["status_url"] == f"/v1/ingest-jobs/{body['job_id']}"
    assert r.headers["location"] == body["status_url"]
    job, seen = poll(client, body["status_url"])
    assert job == {"job_id": body["job_id"], "state": "done", "stage": None,
                   "stages_done": STAGES, "song_id": "job-1", "kept": False, "error": None}
    # progress was visible, and requests were answered while the job ran in its thread
    running = [s for s in seen if s["state"] == "running"]
    assert running and all(s["stage"] in STAGES for s in running)
    assert all(s["stages_done"] == STAGES[:STAGES.index(s["stage"])] for s in running)
    assert len({s["stage"] for s in running}) >= 2
    song = client.get("/v1/songs/job-1").json()
    assert song["title"] == "Feelings" and song["audio_url"] == "/v1/songs/job-1/audio"
    assert client.get(song["audio_url"]).content == music_clips["feelings"]
    # on_existing=keep: the job says it wrote nothing, and the stored song is as it was
    r = submit(client, music_clips["feelings"], {"song_id": "job-1", "title": "Renamed",
                                                 "on_existing": "keep"})
    job, _ = poll(client, r.json()["status_url"])
    assert job["state"] == "done" and job["song_id"] == "job-1" and job["kept"] is True
    assert client.get("/v1/songs/job-1").json()["title"] == "Feelings"


def test_a_bad_form_is_refused_before_a_job_exists(app, client, music_clips):
    before = len(app.state.jobs)
    cases = [
        (music_clips["feelings"], "{not json", 422, "invalid_metadata"),
        (music_clips["feelings"], json.dumps({"artist": "no title"}), 422, "invalid_metadata"),
        (b"", json.dumps({"title": "t"}), 400, "empty_audio"),
        (b"#EXTM3U\nhttp://example.com/x.mp3\n", json.dumps({"title": "t"}), 415,
         "unsupported_audio"),
    ]
    for audio, meta, status, code in cases:
        r = submit(client, audio, meta)
        assert r.status_code == status, r.text
        assert r.json()["error"]["code"] == code
    r = client.post("/v1/ingest-jobs", data={"metadata": json.dumps({"title": "t"})})
    assert r.status_code == 422 and r.json()["error"]["code"] == "missing_field"
    assert len(app.state.jobs) == before


def test_a_corrupt_file_fails_its_job_and_stores_nothing(client, catalog):
    rng = np.random.default_rng(3)
    corrupt = b"OggS" + rng.integers(0, 256, 50_000, dtype=np.uint8).tobytes()
    songs, files = catalog.count(), kept_files(catalog)
    r = submit(client, corrupt, {"song_id": "job-bad", "title": "bad"})
    assert r.status_code == 202, r.text
    job, _ = poll(client, r.json()["status_url"])
    assert job["state"] == "failed" and job["stage"] == "decode" and job["song_id"] is None
    assert job["error"]["code"] == "unsupported_audio" and job["error"]["message"]
    message = job["error"]["message"]
    assert str(catalog.settings.data_path) not in message and "Traceback" not in message
    assert catalog.count() == songs and kept_files(catalog) == files
    assert client.get("/v1/songs/job-bad").status_code == 404


def test_jobs_wait_for_a_heavy_slot(app, client, music_clips):
    limiter = app.state.heavy
    for _ in range(limiter.max_active):  # every slot busy, as with running uploads
        client.portal.call(limiter.acquire)
    try:
        r = submit(client, music_clips["armygeddon"], {"song_id": "job-wait", "title": "w"})
        assert r.status_code == 202
        url = r.json()["status_url"]
        for _ in range(10):
            assert client.get(url).json()["state"] == "queued"
            assert client.get("/healthz").status_code == 200
            time.sleep(0.05)
    finally:
        for _ in range(limiter.max_active):
            client.portal.call(limiter.release)
    job, _ = poll(client, url)
    assert job["state"] == "done" and job["song_id"] == "job-wait"


def test_too_many_pending_jobs_is_429(app, client, music_clips):
    jobs = app.state.jobs
    jobs.max_pending, before = 0, jobs.max_pending
    try:
        r = submit(client, music_clips["armygeddon"], {"title": "x"})
    finally:
        jobs.max_pending = before
    assert r.status_code == 429 and r.json()["error"]["code"] == "too_busy"
    assert r.headers["retry-after"] == str(app.state.heavy.retry_after_s)


def test_unknown_and_malformed_job_ids(client):
    r = client.get("/v1/ingest-jobs/" + "0" * 32)
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"
    r = client.get("/v1/ingest-jobs/../../etc")
    assert r.status_code in (404, 422)


def test_finished_jobs_are_forgotten_oldest_first(catalog, app):
    jobs = IngestJobs(catalog, app.state.heavy, max_jobs=3)
    for i, state in enumerate(["done", "queued", "failed", "done"]):
        jobs._jobs[f"j{i}"] = IngestJob(job_id=f"j{i}", state=state)
    jobs._evict()
    assert list(jobs._jobs) == ["j1", "j2", "j3"]  # j0, the oldest finished, went
    jobs._jobs["j4"] = IngestJob(job_id="j4", state="running")
    jobs._evict()
    assert list(jobs._jobs) == ["j1", "j3", "j4"]
    assert jobs.pending == 2
