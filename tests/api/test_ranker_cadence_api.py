"""The ranker's training cadence through the real app: served features are the trained ones
(request ids), gated increments, the snapshot listing, rollback over HTTP and the CLI."""

import json

import pytest
from typer.testing import CliRunner

from songlens.api.app import create_app
from songlens.cli.main import app as cli
from songlens.settings import CadenceSettings
from tests.api.test_coldstart_api import session_events, world  # noqa: F401
from tests.conftest import local_client


@pytest.fixture(scope="module")
def app(world):  # noqa: F811
    cs = world.settings.coldstart.model_copy(update={
        "training": "cadence", "label_window_s": 600.0,
        "cadence": CadenceSettings(increment_every_s=86_400, min_heldout=4,
                                   holdout_share=0.25, window_quantile=0)})
    settings = world.settings.model_copy(update={"coldstart": cs})
    a = create_app(settings, catalog=world.catalog)
    client = local_client(a)
    client.__enter__()
    yield a, client
    client.__exit__(None, None, None)


def flipped(r: int) -> list[dict]:
    """Session ``r`` as a broken client reports it: every fan completes the songs they skip."""
    out = []
    for e in session_events(r):
        if e["event"] in ("complete", "like"):
            continue
        if e["event"] == "skip":
            e = {**e, "event": "complete", "play_ms": 200_000}
        out.append(e)
    return out


def test_cadence_serves_logged_features_gates_and_rolls_back(app, world):  # noqa: F811
    a, client = app
    svc = a.state.coldstart
    learner = svc.learner
    assert learner.trainer is not None and learner.describe().training == "cadence"
    # one ranked request; its impressions name it
    ranked = client.post("/v1/rank", json={"user_id": "ua", "song_ids": ["A1", "B1", "C1"],
                                           "tz_offset_min": 480}).json()
    rid = ranked["request_id"]
    served = {sid: svc.loop.served.get(rid, sid) for sid in ("A1", "B1", "C1")}
    assert all(served.values())
    for it in ranked["items"]:  # the logged features are the ones the answer explains
        for f in it["top_features"]:
            assert served[it["song_id"]][f["feature"]] == pytest.approx(f["value"], abs=1e-4)
    hours = [k for k in served["A1"] if k.startswith("time:hour=")]
    assert len(hours) == 1  # the listener's local hour (UTC+8)
    evs = [e for e in session_events(0) if e["user_id"] == "ua"]
    for e in evs:
        e["request_id"] = rid
    assert client.post("/v1/feedback", json={"events": evs}).status_code == 200
    opened = {s.song_id: s.context for s in learner.joiner.open.values()}
    opened.update({s.song_id: s.context for s in learner.trainer.pending if s.user_id == "ua"})
    assert opened == served  # training sees exactly what serving saw

    # sessions 1-5; the first increment serves (nothing served before), the next is gated
    for r in range(1, 6):
        assert client.post("/v1/feedback", json={"events": session_events(r)}).status_code == 200
    first = client.post("/v1/admin/ranker/train", json={"kind": "increment"}).json()
    assert first["accepted"] is True, first
    for r in range(6, 10):
        client.post("/v1/feedback", json={"events": session_events(r)})
    second = client.post("/v1/admin/ranker/train", json={"kind": "increment"}).json()
    assert second["accepted"] is True and second["heldout"]["serving_auc"] is not None, second
    listing = client.get("/v1/admin/ranker/snapshots").json()
    ids = [s["id"] for s in listing["snapshots"] if s["accepted"]]
    assert listing["serving"] == ids[-1] and len(ids) >= 2

    # a bad stretch: the gate refuses it, the serving model stays
    for r in range(10, 16):
        client.post("/v1/feedback", json={"events": flipped(r)})
    bad = client.post("/v1/admin/ranker/train", json={"kind": "increment"}).json()
    assert bad["accepted"] is False and "broken" in svc.learner.trainer.last["reason"], bad
    assert client.get("/v1/admin/ranker/snapshots").json()["serving"] == ids[-1]

    # rollback over HTTP serves the first model
    before = client.post("/v1/rank", json={"user_id": "ub", "song_ids": ["A2", "B2"]}).json()
    out = client.post("/v1/admin/ranker/rollback", json={"id": ids[0]}).json()
    assert out["serving"] == ids[0]
    after = client.post("/v1/rank", json={"user_id": "ub", "song_ids": ["A2", "B2"]}).json()
    assert after["ranker"]["version"] == next(
        s["version"] for s in listing["snapshots"] if s["id"] == ids[0])
    assert after["ranker"]["version"] < before["ranker"]["version"]
    missing = client.post("/v1/admin/ranker/rollback", json={"id": "nope"})
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"

    # a batch fit beside the service: re-attribution, measured delays, gated like the rest
    batch = client.post("/v1/admin/ranker/train", json={"kind": "batch"}).json()
    assert batch["samples"] > 0 and batch["delays"]["impressions"] > 0, batch
    assert "accepted" in batch and batch["wait_window_s"] == 600.0  # window_quantile 0: kept
    kinds = [s["kind"] for s in client.get("/v1/admin/ranker/snapshots").json()["snapshots"]]
    assert kinds[-1] == "batch"

    # the CLI lists the same (the snapshot folder, read here: no server recorded)
    r = CliRunner().invoke(cli, ["ranker", "snapshots", "--config", str(world.config), "--json"])
    assert r.exit_code == 0, r.output
    listed = json.loads(r.stdout)
    assert [e["id"] for e in listed["snapshots"]] == [
        e["id"] for e in client.get("/v1/admin/ranker/snapshots").json()["snapshots"]]
