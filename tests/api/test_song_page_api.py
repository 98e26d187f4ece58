"""What the song page reads from GET /v1/songs/{id}: evidence in words, audio features, the tag
timeline and the lyrics line by line with their language; a real upload through the real API."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
import soundfile as sf

import songlens.catalog.pipeline as pipeline
from songlens.api.app import create_app
from tests.conftest import AUDIO, local_client

LYRICS = """[00:10.00]深夜一个人在图书馆自习 为了考研
[00:15.00]I miss you every night
[00:20.00]我哋今日唔返屋企
[00:25.00]深夜一个人在图书馆自习 为了考研
"""


@pytest.fixture(scope="module")
def doc(catalog, music_clips):
    with local_client(create_app(catalog.settings, catalog=catalog)) as c:
        meta = {"song_id": "page-1", "title": "Chaos God", "artist": "Muldjord",
                "lyrics": LYRICS, "comments": [{"text": "考研的时候天天听", "likes": 120}]}
        r = c.post("/v1/songs", files={"audio": ("a.ogg", music_clips["chaos_god"], "audio/ogg")},
                   data={"metadata": json.dumps(meta, ensure_ascii=False)})
        assert r.status_code == 201, r.text
        got = c.get("/v1/songs/page-1").json()
        assert got == r.json()
        return got


def test_every_piece_of_evidence_says_why_in_words(doc):
    n = 0
    for items in doc["tags"].values():
        for t in items:
            for ev in t["evidence"]:
                n += 1
                assert ev["why"].endswith(".") and "{" not in ev["why"], ev
    assert n >= 5
    study = next(t for t in doc["tags"]["scene"] if t["tag"] == "学习")
    assert any(ev["why"] == "A listener comment mentions “考研”, e.g. “考研的时候天天听”."
               for ev in study["evidence"])


def test_audio_features_for_the_chart(doc):
    feats = doc["audio_features"]
    for name in ("energy", "danceability", "valence", "acousticness", "instrumentalness",
                 "speechiness"):
        assert 0 <= feats[name] <= 1, name
    assert feats["tempo_bpm"] > 0 and feats["key"] and feats["camelot"]
    assert feats["loudness_db"] < 0


def test_timeline_has_a_value_per_patch_for_the_strongest_tags(doc):
    tl = doc["timeline"]
    seconds = sf.info(str(AUDIO / "chaos_god.ogg")).duration
    assert abs(tl["hop_s"] - 187 * 256 / 16000) < 1e-3  # musicnn's 3-s patches
    assert len(tl["tags"]) == 8 and len(set(tl["tags"])) == 8
    assert all(len(v) == int(seconds // tl["hop_s"]) for v in tl["values"])
    assert all(0 <= x <= 1 for v in tl["values"] for x in v)
    means = [sum(v) / len(v) for v in tl["values"]]
    assert means == sorted(means, reverse=True)
    # the strongest tags over time are the audio model's (a metal recording)
    assert {"rock", "metal"} & set(tl["tags"][:3])


def test_lyrics_lines_in_sung_order_with_their_language(doc):
    assert doc["lyrics_lines"] == [
        {"text": "深夜一个人在图书馆自习 为了考研", "language": "华语"},
        {"text": "I miss you every night", "language": "欧美"},
        {"text": "我哋今日唔返屋企", "language": "粤语"},
        {"text": "深夜一个人在图书馆自习 为了考研", "language": "华语"},
    ]


def test_a_stored_song_reads_back_as_it_was_answered_whatever_the_clock(catalog, monkeypatch):
    # a time whose float needs 17 significant digits: the engine keeps 16 of a payload float
    buf = io.BytesIO()  # audio of its own: the session's catalogue holds the clips already
    t = np.arange(5 * 16000) / 16000
    sf.write(buf, (0.3 * np.sin(2 * np.pi * 331 * t)).astype(np.float32), 16000, format="WAV")
    monkeypatch.setattr(pipeline.time, "time", lambda: 1796052285.6436481)
    with local_client(create_app(catalog.settings, catalog=catalog)) as c:
        r = c.post("/v1/songs", files={"audio": ("a.wav", buf.getvalue(), "audio/wav")},
                   data={"metadata": json.dumps({"song_id": "page-clock", "title": "Clock"})})
        assert r.status_code == 201, r.text
        assert c.get("/v1/songs/page-clock").json() == r.json()
        c.delete("/v1/songs/page-clock")
