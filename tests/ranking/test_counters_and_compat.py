import json
from pathlib import Path

import numpy as np
import pytest

from songlens.coldstart.events import Event
from songlens.coldstart.profiles import UserProfile
from songlens.ranking.counters import RecentCounts
from songlens.ranking.features import FeatureConfig, build_features
from songlens.ranking.ranker import Ranker

T0 = 1_767_225_600.0
FIX = Path(__file__).parents[1] / "fixtures" / "coldstart"


def ev(kind, ts, sid="s1", play_ms=None):
    return Event(user_id="u", song_id=sid, event=kind, ts=ts, play_ms=play_ms)


def test_recent_counts_window_and_no_lookahead():
    rc = RecentCounts()
    for i in range(5):  # five completes, 20 min apart, the newest at T0 - 10 min
        rc.add(ev("complete", T0 - 600 - i * 1200, play_ms=200_000))
    rc.add(ev("skip", T0 - 30, play_ms=3_000))
    rc.add(ev("skip", T0 - 20, play_ms=90_000))  # a late skip is not a skip
    rc.add(ev("complete", T0 + 5, play_ms=200_000))  # after the snapshot: never counted
    rc.add(ev("like", T0 - 5))  # not counted
    snap = rc.snapshot("s1", T0)
    assert snap["1h"] == {"play": 0, "complete": 3, "skip": 1}
    assert snap["1d"] == {"play": 0, "complete": 5, "skip": 1}
    assert rc.snapshot("other", T0)["1d"] == {"play": 0, "complete": 0, "skip": 0}
    rc.add(ev("play", T0 + 3 * 86_400, play_ms=5_000))
    rc.prune()  # older than two days before the newest event: gone
    assert rc.snapshot("s1", T0)["1d"]["complete"] == 0


def song(tags):
    return {"song_id": "s9", "artist": "a1", "language": "华语", "ingested_at": T0 - 5 * 3600,
            "tags": {"style": [{"tag": t, "en": t, "score": sc, "evidence": []}
                               for t, sc in tags.items()]},
            "audio_features": {"tempo_bpm": 120.0, "energy": 0.5}}


def test_new_feature_groups_and_their_switches():
    p = UserProfile("u")
    p.update(ev("like", T0 - 86_400), song({"电子": 1.0, "摇滚": 0.5}), {"fused": np.ones(4) / 2})
    p.update(ev("skip", T0 - 80_000, play_ms=1000), song({"民谣": 1.0}), {"fused": -np.ones(4) / 2})
    recent = {"1h": {"play": 2, "complete": 1, "skip": 0}, "1d": {"play": 9, "complete": 4,
                                                                   "skip": 3}}
    f = build_features(profile=p, song_payload=song({"电子": 0.8, "民谣": 0.4}),
                       song_vectors={"fused": np.ones(4) / 2}, ts=T0, recent_counts=recent)
    assert f["xt:style=电子"] == pytest.approx(0.8)  # the strongest liked tag: affinity 1
    assert f["xt:style=民谣"] < 0  # skipped
    assert f["rt:plays_1h=2"] == 1.0 and f["rt:crate_1d"] == pytest.approx(5 / 15 - 0.5)
    assert f["rec:age_h=2"] == 1.0 and f["rec:decay"] == pytest.approx(np.exp(-5 / 72))
    assert f["artist_known=1"] == 1.0 and "artist=a1" in f
    off = build_features(profile=p, song_payload=song({"电子": 0.8}),
                         song_vectors={"fused": np.ones(4) / 2}, ts=T0, recent_counts=recent,
                         config=FeatureConfig(tag_crosses=False, realtime=False, recency=False,
                                              artist=False))
    assert not any(k.startswith(("xt:", "rt:", "rec:", "artist")) for k in off)


def test_snapshot_of_the_previous_build_still_loads_and_predicts_the_same():
    expected = json.loads((FIX / "ranker-format1.expected.json").read_text("utf-8"))
    r = Ranker.load(FIX / "ranker-format1.npz")
    assert (r.version, r.n_seen) == (expected["version"], expected["n_seen"])
    assert r.predict_many(expected["features"]) == pytest.approx(
        np.array(expected["predictions"]), abs=1e-12)
    # and it goes on learning online with today's features (new names hash into the same space)
    p = UserProfile.from_payload(json.loads((FIX / "profile-v2.json").read_text("utf-8")))
    x = build_features(profile=p, song_payload=song({"电子": 0.9}), song_vectors={},
                       ts=T0, recent_counts={"1h": {"complete": 3}})
    before = r.predict(x)
    r.partial_fit([x] * 5, [1] * 5, [1] * 5)
    assert r.predict(x)[0] > before[0] and r.version == expected["version"] + 1


def test_catalogue_percentile_features_read_the_same_in_any_geometry():
    from songlens.coldstart.interests import SimilarityBackground
    from songlens.coldstart.profiles import ProfileConfig

    rng = np.random.default_rng(0)
    shared = np.ones(8) / np.sqrt(8)

    def squash(v):  # every vector leans on one shared direction, as real embeddings do
        v = v / np.linalg.norm(v) + 2.0 * shared
        return v / np.linalg.norm(v)

    cat = np.array([squash(rng.normal(size=8)) for _ in range(300)])
    bg = SimilarityBackground(cat, space="fused", quantile=0.8)
    taste = rng.normal(size=8)
    p = UserProfile("u", ProfileConfig(background=bg))
    for i in range(6):
        p.update(ev("complete", T0 + i, sid=f"s{i}", play_ms=200_000), None,
                 {"fused": squash(taste + 0.1 * rng.normal(size=8))})

    def feats(v):
        return build_features(profile=p, song_payload=song({"电子": 1.0}),
                              song_vectors={"fused": v}, ts=T0 + 3600)

    near, far = feats(squash(taste)), feats(squash(-taste))
    assert near["pct:int"] > 0.9 and near["pct:int_b=5"] == 1.0  # above 98 % of the catalogue
    assert far["pct:int"] < -0.5
    assert near["cos_int_fused"] - far["cos_int_fused"] < 0.5  # raw cosines barely tell
    assert "pct:int" not in build_features(profile=UserProfile("plain"),
                                           song_payload=song({"电子": 1.0}),
                                           song_vectors={"fused": squash(taste)}, ts=T0)
