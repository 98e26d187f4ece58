"""Cold start over HTTP: feedback → profiles → recall and ranking, restart, crash replay and
``songlens train``, on real models, a real Qdrant Edge store and a real SQLite log.

The catalog is six songs: each of the three shipped clips cut in two halves (``A1``/``A2``,
``B1``/``B2``, ``C1``/``C2``), so every song has one known nearest neighbour. Three listeners
each love one first half and skip the other two; the second halves stay unheard ("new").
"""

from __future__ import annotations

import io
import json
import time
from types import SimpleNamespace

import numpy as np
import pytest
import soundfile as sf
import yaml
from typer.testing import CliRunner

from songlens.api.app import create_app
from songlens.cli.main import app as cli
from songlens.content.metadata import SongMetadata
from songlens.content.taxonomy import DIMENSIONS
from songlens.service.coldstart import ColdStartService
from tests.conftest import AUDIO, local_client

GROUPS = {
    "A": ("chaos_god", "Chaos God", "Muldjord", "深夜一个人在图书馆自习 为了考研 眼泪掉下来"),
    "B": ("feelings", "Feelings", "Sectoid", "I love you baby, dancing all night long"),
    "C": ("armygeddon", "Armygeddon", "Drascula", None),
}
FANS = {"ua": "A1", "ub": "B1", "uc": "C1"}
T0 = time.time() - 5 * 86_400
SESSION = 3 * 3600.0  # sessions 3 h apart; the label window is 10 min


def session_events(r: int) -> list[dict]:
    """Session ``r``: every fan is shown A1, B1, C1; completes and likes their song, skips the
    others early."""
    out = []
    for u, (user, fav) in enumerate(FANS.items()):
        for j, sid in enumerate(("A1", "B1", "C1")):
            ts = T0 + r * SESSION + u * 900 + j * 240
            out.append({"user_id": user, "song_id": sid, "event": "impression", "ts": ts})
            if sid == fav:
                out += [{"user_id": user, "song_id": sid, "event": "complete", "ts": ts + 200,
                         "play_ms": 200_000},
                        {"user_id": user, "song_id": sid, "event": "like", "ts": ts + 201}]
            else:
                out.append({"user_id": user, "song_id": sid, "event": "skip", "ts": ts + 5,
                            "play_ms": 5_000})
    return out


@pytest.fixture(scope="module")
def world(tmp_path_factory, models, resources):
    from songlens.catalog.pipeline import Catalog
    from songlens.settings import load_settings
    from songlens.store import open_store

    d = tmp_path_factory.mktemp("coldstart")
    cfg = d / "songlens.yaml"
    cfg.write_text(yaml.safe_dump({"data_dir": str(d / "data"), "log_level": "WARNING",
                                   "coldstart": {"label_window_s": 600, "snapshot_every": 30,
                                                 # the sessions are replayed from 5 days
                                                 # before the songs were ingested
                                                 "event_skew_s": 10 * 86_400,
                                                 "ranker": {"n_bits": 18}}}))
    settings = load_settings(cfg)
    store = open_store(path=settings.qdrant_path)
    catalog = Catalog(settings=settings, store=store, models=models, resources=resources)
    for g, (clip, title, artist, lyrics) in GROUPS.items():
        y, sr = sf.read(AUDIO / f"{clip}.ogg")
        for part, seg in ((1, y[: len(y) // 2]), (2, y[len(y) // 2:])):
            buf = io.BytesIO()
            sf.write(buf, seg, sr, format="WAV")
            catalog.ingest(buf.getvalue(), SongMetadata(song_id=f"{g}{part}",
                                                        title=f"{title} {part}", artist=artist,
                                                        lyrics=lyrics), filename="x.wav")
    yield SimpleNamespace(config=cfg, settings=settings, catalog=catalog, models=models)
    store.close()


class Server:
    """A TestClient over a fresh app on the world's data dir; ``restart`` = shutdown + start."""

    def __init__(self, world) -> None:
        self.world = world
        self.start()

    def start(self) -> None:
        self.app = create_app(self.world.settings, catalog=self.world.catalog)
        self.client = local_client(self.app)
        self.client.__enter__()

    def stop(self) -> None:
        self.client.__exit__(None, None, None)

    def restart(self) -> None:
        self.stop()
        self.start()


@pytest.fixture(scope="module")
def server(world):
    s = Server(world)
    yield s
    s.stop()


@pytest.fixture(scope="module")
def fed(server):
    """The four sessions posted, one batch each."""
    for r in range(4):
        resp = server.client.post("/v1/feedback", json={"events": session_events(r)})
        assert resp.status_code == 200, resp.text
        assert resp.json() == {"accepted": 21, "new": 21, "duplicates": 0, "rejected": [],
                               "warnings": []}
    return server


def assert_error(resp, status: int, code: str, match: str = "") -> None:
    assert resp.status_code == status, resp.text
    err = resp.json()["error"]
    assert err["code"] == code and match in err["message"], err


def song_tags(world, sid: str, dim: str) -> list[str]:
    return [t["tag"] for t in world.catalog.get(sid).tags[dim]]


def test_profiles_move_toward_liked_songs(world, fed):
    svc: ColdStartService = fed.app.state.coldstart
    vec = {s: world.catalog.get_hit(s, with_vectors=True).vectors["fused"]
           for s in ("A2", "B2", "C2")}
    for user, fav in FANS.items():
        view = fed.client.get(f"/v1/users/{user}").json()
        assert view["events"]["by_type"] == {"impression": 12, "complete": 4, "like": 4,
                                             "skip": 8}
        assert view["events"]["positive"] == 8 and view["events"]["negative"] == 8
        g = fav[0]
        assert view["top_tags"]["language"][0]["tag"] == song_tags(world, fav, "language")[0]
        assert view["top_tags"]["style"][0]["tag"] in song_tags(world, fav, "style")
        assert view["artists"][0]["name"] == GROUPS[g][2]
        [interest] = view["interests"]  # one narrow taste
        assert interest["share"] == 1.0 and interest["songs"] == [fav]
        # the long-term vector points at the unheard half of the liked song
        u = svc.users.find(user).vector("fused")
        cos = {s: float(u @ v) for s, v in vec.items()}
        best = cos.pop(f"{g}2")
        assert best > 0.7 and best > max(cos.values()) + 0.3, (user, best, cos)


def test_bad_events_are_rejected_and_good_ones_kept(fed):
    batch = [
        {"user_id": "ud", "song_id": "C1", "event": "like", "ts": T0},
        {"user_id": "ud", "song_id": "C1", "event": "teleport", "ts": T0},
        {"user_id": "ud", "song_id": "C1", "event": "like", "ts": time.time() + 30 * 86_400},
        "not an object",
        {"user_id": "ud", "event": "like", "ts": T0},
        {"user_id": "ud", "song_id": "no-such-song", "event": "like", "ts": T0 + 1},
    ]
    body = fed.client.post("/v1/feedback", json={"events": batch}).json()
    assert body["accepted"] == 2 and body["new"] == 2
    assert [(r["index"], r["code"]) for r in body["rejected"]] == [
        (1, "invalid_event"), (2, "ts_in_future"), (3, "not_an_object"), (4, "invalid_event")]
    assert "song_id" in body["rejected"][3]["reason"]
    assert [(w["index"], w["code"]) for w in body["warnings"]] == [(5, "unknown_song")]
    view = fed.client.get("/v1/users/ud").json()
    assert view["events"]["logged"] == 2 and view["events"]["in_profile"] == 1
    # a retried batch is not counted twice
    again = fed.client.post("/v1/feedback", json={"events": batch}).json()
    assert again["accepted"] == 2 and again["new"] == 0 and again["duplicates"] == 2
    assert fed.client.get("/v1/users/ud").json()["events"] == view["events"]
    # malformed requests
    assert_error(fed.client.post("/v1/feedback", json={"events": []}), 422, "invalid_input")
    assert_error(fed.client.post("/v1/feedback", json={"events": {"a": 1}}), 422,
                 "invalid_input")
    assert_error(fed.client.post("/v1/feedback", content=b"{not json",
                                 headers={"content-type": "application/json"}), 422,
                 "invalid_json")
    assert_error(fed.client.get("/v1/users/nobody"), 404, "not_found", "nobody")


def test_recall_new_songs_for_a_user(world, fed):
    for user, fav in FANS.items():
        body = fed.client.post("/v1/recall", json={"mode": "user_new_songs", "user_id": user,
                                                   "k": 3}).json()
        items = body["items"]
        assert items[0]["song_id"] == f"{fav[0]}2" and items[0]["reason"] == "interest:0"
        assert items[0]["matched_tags"]["language"] == song_tags(world, fav, "language")[:1]
        assert items[0]["interactions"] == 0
        assert {"A1", "B1", "C1"}.isdisjoint(it["song_id"] for it in items)  # heard
        assert [it["score"] for it in items] == sorted((it["score"] for it in items),
                                                       reverse=True)
    # songs ingested before the window are not new
    body = fed.client.post("/v1/recall", json={"mode": "user_new_songs", "user_id": "ua",
                                               "window_days": 1e-6}).json()
    assert body["items"] == []
    assert_error(fed.client.post("/v1/recall", json={"mode": "user_new_songs",
                                                     "user_id": "nobody"}), 404, "not_found")


def test_recall_audience_of_a_new_song(fed):
    for user, fav in FANS.items():
        items = fed.client.post("/v1/recall", json={"mode": "song_audience",
                                                    "song_id": f"{fav[0]}2", "k": 5}
                                ).json()["items"]
        fans = [it for it in items if it["user_id"] in FANS]  # ("ud" also likes C1)
        assert [it["user_id"] for it in fans][0] == user
        assert fans[0]["reason"].startswith("interest_0") and fans[0]["matched_tags"]
    # users who already heard a song are not its audience
    items = fed.client.post("/v1/recall", json={"mode": "song_audience", "song_id": "A1"}
                            ).json()["items"]
    assert not {"ua", "ub", "uc"} & {it["user_id"] for it in items}
    assert_error(fed.client.post("/v1/recall", json={"mode": "song_audience",
                                                     "song_id": "nope"}), 404, "not_found")


def audience(fed, song_id: str, **segment) -> list[dict]:
    resp = fed.client.post("/v1/recall", json={"mode": "song_audience", "song_id": song_id,
                                               "k": 10, **segment})
    assert resp.status_code == 200, resp.text
    return resp.json()["items"]


def test_audience_segments_filter_and_say_why(world, fed):
    # every listener was last active about 4.5 days ago
    assert audience(fed, "A2", active_days=1) == []
    items = audience(fed, "A2", active_days=30)
    assert {"ua", "ub", "uc"} <= {it["user_id"] for it in items}
    ua = next(it for it in items if it["user_id"] == "ua")
    assert ua["why"][0] == f"{ua['reason'].split('+')[0]} is close to the song"
    assert any(w.startswith("active 4.") and "within 30" in w for w in ua["why"]), ua["why"]
    assert "has not heard the song" in ua["why"]
    # language affinity: each fan's language is that of the song they love
    lang = song_tags(world, "A1", "language")[0]
    items = audience(fed, "A2", language=lang)
    fans = {u for u, fav in FANS.items() if song_tags(world, fav, "language")[0] == lang}
    assert fans and fans <= {it["user_id"] for it in items}
    assert all(any(w.startswith(f"{lang} is ") for w in it["why"]) for it in items)
    others = {u for u in FANS if u not in fans}
    assert not others & {it["user_id"] for it in items}
    # listeners who skipped the artist (ub and uc skipped A1, by A2's artist) are left out
    assert {"ub", "uc"} & {it["user_id"] for it in audience(fed, "A2")}
    items = audience(fed, "A2", skipped_artist_days=30)
    assert not {"ub", "uc"} & {it["user_id"] for it in items}
    assert "ua" in {it["user_id"] for it in items}
    assert any(w.startswith(f"no skip or dislike of {GROUPS['A'][2]}") for w in items[0]["why"])
    # ...but only recent skips count
    assert {"ub", "uc"} <= {it["user_id"] for it in audience(fed, "A2",
                                                            skipped_artist_days=1)}
    # heard songs: left out by default, kept on request
    assert "ua" not in {it["user_id"] for it in audience(fed, "A1")}
    assert "ua" in {it["user_id"] for it in audience(fed, "A1", exclude_heard=False)}
    # bad segments are 422s that name the field
    for bad in ({"active_days": 0}, {"skipped_artist_days": -1}, {"min_language_share": 1.5},
                {"language": ""}, {"exclude_heard": "maybe"}, {"segment": 1}):
        resp = fed.client.post("/v1/recall", json={"mode": "song_audience", "song_id": "A2",
                                                   **bad})
        assert_error(resp, 422, "invalid_input", next(iter(bad)))
    resp = fed.client.post("/v1/recall", json={"mode": "song_audience", "song_id": "A2",
                                               "language": "klingon"})
    assert resp.status_code == 422 and "klingon" in resp.json()["error"]["message"]


def test_impossible_feedback_is_logged_reported_and_ignored(world, fed):
    ing = world.catalog.get_hit("B2").payload["ingested_at"]
    batch = [
        {"user_id": "ue", "song_id": "B2", "event": "like", "ts": ing - 40 * 86_400},
        {"user_id": "ue", "song_id": "B2", "event": "complete", "ts": ing - 9 * 86_400,
         "play_ms": 200_000},
        {"user_id": "ue", "song_id": "gone", "event": "like", "ts": ing},
    ]
    body = fed.client.post("/v1/feedback", json={"events": batch}).json()
    assert body["accepted"] == 3 and body["rejected"] == []
    assert [(w["index"], w["code"]) for w in body["warnings"]] == [
        (0, "before_song_existed"), (2, "unknown_song")]
    assert "40.0 days before" in body["warnings"][0]["reason"]
    view = fed.client.get("/v1/users/ue").json()
    # all three logged; only the complete within the allowed skew is in the profile
    assert view["events"]["logged"] == 3 and view["events"]["in_profile"] == 1
    assert view["events"]["positive"] == 1


def test_recall_for_a_new_user_from_onboarding(fed):
    body = fed.client.post("/v1/recall", json={
        "mode": "onboarding", "tags": {"语种": ["Western"]}, "liked_song_ids": ["B1"],
        "k": 3, "user_id": "newbie"}).json()
    assert body["tags"] == {"language": ["欧美"]} and body["saved"] is True
    assert body["items"][0]["song_id"] == "B2"
    assert "B1" not in {it["song_id"] for it in body["items"]}
    assert {it["reason"] for it in body["items"]} <= {"tags:language", "interest:0"}
    view = fed.client.get("/v1/users/newbie").json()
    assert view["onboarding_tags"] == {"language": ["欧美"]}
    assert view["events"]["logged"] == 0
    again = fed.client.post("/v1/recall", json={"mode": "onboarding", "tags": {"style": ["Metal"]},
                                                "user_id": "newbie"}).json()
    assert again["saved"] is False and again["items"]  # tags only: filter search
    assert {it["song_id"] for it in again["items"]} <= {"A1", "A2", "C1", "C2"}

    def post(**kw):
        return fed.client.post("/v1/recall", json={"mode": "onboarding", **kw})

    assert_error(post(tags={"style": ["Polka"]}), 422, "unknown_tag", "allowed")
    assert_error(post(tags={"mood": ["快乐"]}), 422, "unknown_tag", "mood")
    assert_error(post(liked_song_ids=["nope"]), 404, "not_found", "nope")
    assert_error(post(), 422, "invalid_input", "liked_song_ids")
    assert_error(fed.client.post("/v1/recall", json={"mode": "telepathy"}), 422,
                 "invalid_input", "song_audience")


def test_rank_orders_by_learnt_taste(fed):
    for user, fav in FANS.items():
        body = fed.client.post("/v1/rank", json={"user_id": user,
                                                 "song_ids": ["A2", "B2", "C2", "A2"]}).json()
        assert body["user_known"] and body["ranker"]["samples_seen"] > 0
        items = body["items"]
        assert [it["rank"] for it in items] == [1, 2, 3]  # duplicates dropped
        assert items[0]["song_id"] == f"{fav[0]}2"
        scores = [it["score"] for it in items]
        assert scores == sorted(scores, reverse=True) and scores[0] > scores[-1] + 0.1
        top = items[0]
        assert set(top["scores"]) == {"complete", "like"} and 0 < top["scores"]["like"] < 1
        assert top["top_features"] and all(f["contribution"] != 0 for f in top["top_features"])
    body = fed.client.post("/v1/rank", json={"user_id": "stranger", "song_ids": ["A2"]}).json()
    assert body["user_known"] is False and len(body["items"]) == 1
    assert_error(fed.client.post("/v1/rank", json={"user_id": "ua", "song_ids": ["A2", "x"]}),
                 404, "not_found", "'x'")
    assert_error(fed.client.post("/v1/rank", json={"user_id": "ua", "song_ids": []}), 422,
                 "invalid_input")


def rounded_to(x: float, digits: int) -> bool:
    return x == round(x, digits)


def test_json_shapes_and_rounding(fed):
    """The keys clients read, in order, and the rounding they see: recall and rank scores to 6
    decimals, affinities, shares and feature values to 4."""
    view = fed.client.get("/v1/users/ua").json()
    assert list(view) == ["user_id", "created_ts", "last_event_ts", "updated_at", "events",
                          "top_tags", "interests", "languages", "artists", "audio",
                          "onboarding_tags"]
    assert list(view["events"]) == ["logged", "by_type", "in_profile", "positive", "negative"]
    assert list(view["top_tags"]) == [d for d in DIMENSIONS if d in view["top_tags"]]
    for tags in view["top_tags"].values():
        assert all(list(t) == ["tag", "en", "affinity"] and rounded_to(t["affinity"], 4)
                   for t in tags)
    assert view["interests"] and all(list(it) == ["share", "top_tags", "songs"]
                                     and rounded_to(it["share"], 4) for it in view["interests"])
    named = view["languages"] + view["artists"]
    assert named and all(list(a) == ["name", "affinity"] and rounded_to(a["affinity"], 4)
                         for a in named)
    assert set(view["audio"]) == {"tempo_bpm", "energy"}
    assert all(list(v) == ["mean", "std"] for v in view["audio"].values())

    song_keys = ["song_id", "score", "reason", "title", "artist", "ingested_at", "release_date",
                 "released_at", "matched_tags", "channels"]
    new = fed.client.post("/v1/recall", json={"mode": "user_new_songs", "user_id": "ua"}).json()
    assert list(new) == ["mode", "user_id", "window_days", "items"] and new["items"]
    assert new["window_days"] == 14.0
    assert all(list(it) == [*song_keys, "interactions"] and rounded_to(it["score"], 6)
               for it in new["items"])
    onb = fed.client.post("/v1/recall", json={"mode": "onboarding", "liked_song_ids": ["A1"],
                                              "k": 4}).json()
    assert list(onb) == ["mode", "user_id", "saved", "tags", "items"]
    assert onb["user_id"] is None and onb["saved"] is False and onb["tags"] == {}
    assert all(list(it) == song_keys and rounded_to(it["score"], 6) for it in onb["items"])
    aud = fed.client.post("/v1/recall", json={"mode": "song_audience", "song_id": "A2"}).json()
    assert list(aud) == ["mode", "song_id", "items"] and aud["items"]
    assert all(list(it) == ["user_id", "score", "reason", "matched_tags", "why"]
               and rounded_to(it["score"], 6) for it in aud["items"])

    ranked = fed.client.post("/v1/rank", json={"user_id": "ua",
                                               "song_ids": ["A2", "B2"]}).json()
    assert list(ranked) == ["user_id", "user_known", "ranker", "items", "request_id"]
    assert list(ranked["ranker"]) == ["version", "samples_seen"]
    for it in ranked["items"]:
        assert list(it) == ["song_id", "rank", "score", "scores", "title", "artist",
                            "top_features"]
        assert rounded_to(it["score"], 6) and list(it["scores"]) == ["complete", "like"]
        assert all(rounded_to(v, 6) for v in it["scores"].values())
        assert it["top_features"] and all(
            list(f) == ["feature", "value", "contribution"] and rounded_to(f["value"], 4)
            and rounded_to(f["contribution"], 6) for f in it["top_features"])


def test_every_cold_start_route_documents_its_response(fed):
    paths = fed.app.openapi()["paths"]
    for path, method in (("/v1/feedback", "post"), ("/v1/recall", "post"),
                         ("/v1/rank", "post"), ("/v1/users/{user_id}", "get")):
        schema = paths[path][method]["responses"]["200"]["content"]["application/json"][
            "schema"]
        refs = [schema] if "$ref" in schema else (schema.get("oneOf") or schema.get("anyOf")
                                                  or [])
        assert refs and all(r["$ref"].startswith("#/components/schemas/") for r in refs), (
            path, schema)


def test_restart_keeps_events_and_warm_starts_the_ranker(world, fed):
    ask = {"user_id": "ub", "song_ids": ["A2", "B2", "C2"]}
    before = fed.client.post("/v1/rank", json=ask).json()
    user = fed.client.get("/v1/users/ub").json()
    assert list((world.settings.data_path / "ranker").glob("ranker-*.npz"))  # periodic
    fed.restart()
    again = fed.client.post("/v1/rank", json=ask).json()
    assert again.pop("request_id") != before.pop("request_id")  # one per request
    # the same model: same version, order and top features; scores equal up to the features
    # that read the clock (a song's age moves the 6th decimal between the two requests)
    assert again["ranker"] == before["ranker"]
    assert [(i["song_id"], [f["feature"] for f in i["top_features"]]) for i in again["items"]] \
        == [(i["song_id"], [f["feature"] for f in i["top_features"]]) for i in before["items"]]
    for a, b in zip(again["items"], before["items"], strict=True):
        assert a["score"] == pytest.approx(b["score"], abs=1e-5)
        assert a["scores"] == pytest.approx(b["scores"], abs=1e-5)
    after = fed.client.get("/v1/users/ub").json()
    assert after["events"] == user["events"] and after["top_tags"] == user["top_tags"]
    resp = fed.client.post("/v1/feedback", json={"events": session_events(0)}).json()
    assert resp["duplicates"] == 21  # the log remembers across restarts
    # and learning goes on from the warm model
    fed.client.post("/v1/feedback", json={"events": session_events(4) + session_events(5)})
    assert fed.client.post("/v1/rank", json=ask).json()["ranker"]["version"] > \
        before["ranker"]["version"]


def test_a_crash_is_replayed_from_the_log(world, fed):
    fed.stop()
    try:
        a = ColdStartService(world.catalog)
        start = a.learner.ranker.n_seen
        a.record(session_events(6))  # 21 events: under snapshot_every, so no snapshot
        seen, profile = a.learner.ranker.n_seen, a.users.find("uc")
        assert seen > start and a.learner.pending_events == 21
        b = ColdStartService(world.catalog)  # "a" died without closing: b replays its events
        try:
            assert b.learner.ranker.n_seen == seen
            replayed = b.users.find("uc")
            assert replayed.n_events == profile.n_events  # profiles are not applied twice
            np.testing.assert_allclose(replayed.vector("fused"), profile.vector("fused"),
                                       atol=1e-6)
        finally:
            b.close()
            a.log.close()
    finally:
        fed.start()


def test_train_rebuilds_the_same_profiles(world, fed, monkeypatch):
    users = ("ua", "ub", "uc", "ud", "ue")
    before = {u: fed.client.get(f"/v1/users/{u}").json() for u in users}
    fed.stop()
    # profiles gone from the store: train must rebuild them from the log alone
    world.catalog.store.delete(fed.app.state.coldstart.users.spec, list(users))
    world.catalog.store.close()  # the CLI opens the store itself; ours reopens on next use
    # the CLI's own loading path, with the session's (real) models instead of a second load
    monkeypatch.setattr("songlens.embeddings.models.load_models", lambda s: world.models)
    r = CliRunner().invoke(cli, ["train", "--config", str(world.config)])
    assert r.exit_code == 0, r.output
    assert "rebuilt 5 user profiles" in r.output and "for songs not in the catalog" in r.output
    r = CliRunner().invoke(cli, ["train", "--config", str(world.config), "--json"])
    assert r.exit_code == 0, r.output
    summary = json.loads(r.stdout)
    assert list(summary) == ["events", "events_unknown_song", "users", "songs", "samples",
                             "ranker", "snapshot", "seconds", "events_impossible"]
    assert summary["users"] == 5 and summary["events_impossible"] == 1
    assert list(summary["ranker"]) == ["version", "samples_seen", "features_admitted",
                                       "pending_impressions", "log_seq", "snapshot",
                                       "training", "serving_id"]
    fed.start()
    for u in users:
        after = fed.client.get(f"/v1/users/{u}").json()
        assert after["events"] == before[u]["events"]
        for dim, tags in before[u]["top_tags"].items():
            assert [t["tag"] for t in after["top_tags"][dim]] == [t["tag"] for t in tags]
            assert [t["affinity"] for t in after["top_tags"][dim]] == pytest.approx(
                [t["affinity"] for t in tags], rel=1e-4)
        assert after["interests"] == before[u]["interests"]
        assert after["updated_at"] > before[u]["updated_at"]
    assert fed.client.get("/v1/users/newbie").json()["onboarding_tags"]  # no events: kept
    body = fed.client.post("/v1/rank", json={"user_id": "ua", "song_ids": ["B2", "A2"]}).json()
    assert body["ranker"]["version"] == 1  # one batch fit, warm-started from its snapshot
    assert body["items"][0]["song_id"] == "A2"


def test_new_songs_are_new_by_release_not_by_ingestion(world, fed):
    """Songs ingested today: a back-catalogue one (1998) is not new, a pre-release is not new
    before its date, one released two days ago is; an undated one counts from ingestion."""
    from datetime import UTC, datetime, timedelta

    y, sr = sf.read(AUDIO / "chaos_god.ogg")
    today = datetime.now(UTC).date()
    dates = {"A3": "1998", "A4": str(today + timedelta(days=200)),
             "A5": str(today - timedelta(days=2))}
    for i, (sid, when) in enumerate(dates.items()):
        buf = io.BytesIO()
        sf.write(buf, y[(i + 1) * len(y) // 8: (i + 5) * len(y) // 8], sr, format="WAV")
        r = fed.client.post("/v1/songs", files={"audio": ("x.wav", buf.getvalue())},
                            data={"metadata": json.dumps({"song_id": sid, "title": sid,
                                                          "artist": "Muldjord",
                                                          "release_date": when})})
        assert r.status_code == 201, r.text
    try:
        body = fed.client.post("/v1/recall", json={"mode": "user_new_songs", "user_id": "ua",
                                                   "k": 20}).json()
        got = {it["song_id"]: it for it in body["items"]}
        assert {"A2", "A5"} <= set(got) and not {"A3", "A4"} & set(got)
        assert got["A5"]["release_date"] == dates["A5"] and got["A2"]["release_date"] is None
        assert got["A2"]["released_at"] == got["A2"]["ingested_at"]
    finally:
        world.catalog.store.delete(world.catalog.spec, list(dates))


def test_collaborative_and_relation_channels(world, fed):
    """Four new listeners finish A1 and B2: once the collaborative model is fit, B2 reaches A1's
    fan through co-listening (its content is another group's), A2 through content and its
    artist; the model is saved and served again after a restart."""
    now = time.time() - 3600
    events = [{"user_id": f"x{i}", "song_id": sid, "event": kind, "ts": now + 10 * i + j,
               "play_ms": 200_000 if kind == "complete" else None}
              for i in range(4) for j, (sid, kind) in enumerate(
                  [("A1", "complete"), ("B2", "complete"), ("B2", "like")])]
    assert fed.client.post("/v1/feedback", json={"events": events}).status_code == 200
    svc: ColdStartService = fed.app.state.coldstart
    before = fed.client.post("/v1/recall", json={"mode": "home", "user_id": "ua"}).json()
    assert all("collaborative" not in it["channels"] for it in before["items"])
    model = svc.collab.fit_now()  # what the background cadence runs
    assert "A1" in model and "B2" in model and "C2" not in model  # C2: nobody played it
    assert (world.settings.data_path / "collab" / "als.npz").exists()
    for mode in ("home", "user_new_songs"):
        body = fed.client.post("/v1/recall", json={"mode": mode, "user_id": "ua",
                                                   "k": 5}).json()
        got = {it["song_id"]: it for it in body["items"]}
        assert body["mode"] == mode and not {"A1", "B1", "C1"} & set(got)  # heard
        assert "collaborative" in got["B2"]["channels"]
        assert got["A2"]["channels"][0] == "content" and "relation" in got["A2"]["channels"]
        assert got["A2"]["reason"] == "interest:0"
        assert all(c in ("content", "collaborative", "relation") for it in got.values()
                   for c in it["channels"])
    fed.restart()  # the saved model is served again
    again = fed.app.state.coldstart.collab.model
    assert again is not None and again.fitted_seq == model.fitted_seq
    body = fed.client.post("/v1/recall", json={"mode": "home", "user_id": "ua", "k": 5}).json()
    assert "collaborative" in {it["song_id"]: it for it in body["items"]}["B2"]["channels"]
    assert_error(fed.client.post("/v1/recall", json={"mode": "home", "user_id": "nobody"}),
                 404, "not_found")
