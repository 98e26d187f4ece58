"""Impressions that were never played reach the profile with their small negative weight
(曝光未点击); one the listener acted on inside the window leaves no trace."""

import numpy as np

from songlens.coldstart.events import Event
from songlens.coldstart.profiles import ProfileConfig, UserProfile

T0 = 1_767_225_600.0
D = 8


def song(sid, style="电子"):
    return {"song_id": sid, "artist": "a1", "language": "华语",
            "tags": {"style": [{"tag": style, "en": style, "score": 0.9, "evidence": []}]},
            "audio_features": {"tempo_bpm": 120.0, "energy": 0.7}}


def ev(kind, sid, ts, play_ms=None):
    return Event(user_id="u", song_id=sid, event=kind, ts=ts, play_ms=play_ms)


def vec(i):
    return {"fused": np.eye(D)[i]}


def fresh():
    return UserProfile("u", ProfileConfig(impression_window_s=600.0))


def test_an_unplayed_impression_pushes_away_and_a_played_one_leaves_no_trace():
    liked = fresh()
    liked.update(ev("complete", "s0", T0), song("s0"), vec(0))
    shown = fresh()
    shown.update(ev("complete", "s0", T0), song("s0"), vec(0))
    shown.update(ev("impression", "s1", T0 + 10), song("s1", "古典"), vec(1))
    # inside the window the penalty already counts
    assert shown.long["fused"][1] < 0 and shown.tag_affinity["style"]["古典"] < 0
    assert shown.n_negative == 1 and "s1" in shown.pending_impressions
    # ... and a play of the same song inside the window takes it back exactly
    played = fresh()
    played.update(ev("complete", "s0", T0), song("s0"), vec(0))
    played.update(ev("impression", "s1", T0 + 10), song("s1", "古典"), vec(1))
    played.update(ev("complete", "s1", T0 + 100), song("s1", "古典"), vec(1))
    only_play = fresh()
    only_play.update(ev("complete", "s0", T0), song("s0"), vec(0))
    only_play.update(ev("complete", "s1", T0 + 100), song("s1", "古典"), vec(1))
    np.testing.assert_allclose(played.long["fused"], only_play.long["fused"], atol=1e-12)
    np.testing.assert_allclose(played.short["fused"], only_play.short["fused"], atol=1e-12)
    assert abs(played.tag_affinity["style"]["古典"]
               - only_play.tag_affinity["style"]["古典"]) < 1e-12
    assert played.n_negative == 0 and not played.pending_impressions
    # a play after the window does not undo it: the impression was a negative by then
    late = fresh()
    late.update(ev("impression", "s1", T0), song("s1", "古典"), vec(1))
    late.update(ev("complete", "s1", T0 + 601), song("s1", "古典"), vec(1))
    assert late.n_negative == 1 and late.n_positive == 1 and not late.pending_impressions


def test_pending_impressions_survive_the_store_and_weight_zero_turns_them_off():
    p = fresh()
    p.update(ev("impression", "s1", T0), song("s1"), vec(1))
    back = UserProfile.from_payload(p.to_payload(), config=p.config)
    assert back.pending_impressions == {"s1": T0}
    back.update(ev("complete", "s1", T0 + 5), song("s1"), vec(1))
    assert back.n_negative == 0 and back.long["fused"][1] > 0
    cfg = ProfileConfig()
    cfg.signal = {**cfg.signal, "weights": {**cfg.signal["weights"], "impression": 0.0}}
    off = UserProfile("u", cfg)
    assert off.update(ev("impression", "s1", T0), song("s1"), vec(1)) == 0.0
    assert off.n_negative == 0 and not off.long and not off.pending_impressions
