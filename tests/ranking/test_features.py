import subprocess
import sys

import numpy as np

from songlens.coldstart.events import Event
from songlens.coldstart.profiles import UserProfile
from songlens.ranking.features import TIME_PREFIX, build_features, hash_feature

T0 = 1_767_225_600.0  # 2026-01-01 00:00 UTC, a Thursday


def song(sid, style, scene="运动", tempo=128.0, lang="华语", ing=T0):
    return {"song_id": sid, "artist": "a1", "language": lang, "ingested_at": ing,
            "tags": {"style": [{"tag": style, "en": style, "score": 0.9, "evidence": []}],
                     "scene": [{"tag": scene, "en": scene, "score": 0.7, "evidence": []}]},
            "audio_features": {"tempo_bpm": tempo, "energy": 0.8}}


def test_features_reflect_the_user():
    v = np.eye(8)[0]
    p = UserProfile("u")
    for i in range(5):
        p.update(Event(user_id="u", song_id=f"s{i}", event="like", ts=T0 + i),
                 song(f"s{i}", "电子", tempo=126 + i), {"fused": v})
    match = build_features(profile=p, song_payload=song("n1", "电子", tempo=128, ing=T0),
                           song_vectors={"fused": v}, ts=T0 + 3 * 3600 + 2 * 86400,
                           song_counts={"impression": 10, "complete": 6})
    miss = build_features(profile=p, song_payload=song("n2", "古典", tempo=70, lang="欧美"),
                          song_vectors={"fused": np.eye(8)[1]}, ts=T0 + 3 * 3600)
    assert match["cos_long_fused"] > 0.99 and abs(miss["cos_long_fused"]) < 1e-9
    assert match["tag_style"] > 0 and miss["tag_style"] == 0
    assert match["tempo_bpm_fit"] > 0.5 > miss["tempo_bpm_fit"]
    assert "lang_match=1" in match and "lang_match=0" in miss
    assert "fresh=1" in match and "fresh=0" in miss  # 2 days old vs 3 hours old
    assert f"{TIME_PREFIX}hour=3" in match and f"{TIME_PREFIX}weekday=5" in match  # Saturday
    assert "x:ustyle=电子|sstyle=电子" in match and "x:ustyle=电子|sstyle=古典" in miss
    assert f"{TIME_PREFIX}x:daypart=night|scene=运动" in match
    assert "song=n1" in match and "user=u" in match
    assert match["crate"] > miss["crate"]
    assert all(np.isfinite(list(match.values())))


def test_unknown_user_features():
    f = build_features(profile=None, song_payload=song("n", "电子"), song_vectors={},
                       ts=T0)
    assert "cos_long_fused=na" in f and "tag_style=na" in f and "lang_match=na" in f
    assert f["bias"] == 1.0


def test_hash_is_deterministic_across_processes():
    names = ["song=abc", "x:ustyle=电子|sstyle=摇滚", "time:hour=3"]
    here = [hash_feature(n, 20) for n in names]
    code = ("from songlens.ranking.features import hash_feature;"
            f"print([hash_feature(n, 20) for n in {names!r}])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env={"PYTHONHASHSEED": "123"}, check=True).stdout
    assert out.strip() == str(here)
    assert all(0 <= h < 2 ** 20 for h in here) and len(set(here)) == 3
