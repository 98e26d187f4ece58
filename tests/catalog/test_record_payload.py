"""A song's payload: the tags' evidence apart and the bulky fields packed, the document the same
after a trip through the store, and a payload written before the split read alike."""

from __future__ import annotations

import numpy as np

from songlens.catalog.record import EVIDENCE_FIELD, PACKED_FIELDS, SongRecord, songs_spec
from songlens.store import Point, open_store

SPEC = songs_spec("songs", audio_dim=4, text_dim=4, tags_dim=3)


def _record() -> SongRecord:
    ev = [{"source": "audio", "cue": "guitar", "p": 0.8}, {"source": "lyrics", "cue": "夜"}]
    return SongRecord(
        song_id="s1", title="夜曲", artist="歌手", duration_s=200.0,
        tags={"style": [{"tag": "摇滚", "en": "Rock", "score": 0.9, "evidence": ev},
                        {"tag": "流行", "en": "Pop", "score": 0.4, "evidence": []}],
              "emotion": [{"tag": "伤感", "en": "Sad", "score": 0.7, "evidence": ev[1:]}]},
        audio_features={"tempo_bpm": 120.0, "energy": 0.6, "key": "A", "mode": "minor",
                        "camelot": "8A"},
        language={"primary": "华语", "scores": {"华语": 0.9}},
        tag_probs={"MTT_musicnn": {"guitar": 0.8}},
        timeline={"hop_s": 3.0, "tags": [{"tag": "rock", "p": [0.2, 0.9]}]},
        instruments=[{"name": "guitar", "zh": "吉他", "en": "Guitar", "score": 0.8,
                      "evidence": [], "timeline": [0.1, 0.9]}],
        voice={"present": True, "probability": 0.9}, ingested_at=1_700_000_000.0)


def test_tags_carry_names_and_scores_and_the_evidence_is_packed_apart():
    payload = _record().to_payload()
    assert all("evidence" not in t for items in payload["tags"].values() for t in items)
    assert payload[EVIDENCE_FIELD]["style"][1] == []
    assert {EVIDENCE_FIELD, "timeline", "tag_probs", "instruments"} <= PACKED_FIELDS
    assert not PACKED_FIELDS & set(SPEC.indexes)


def test_the_document_survives_the_store_and_an_older_payload_reads_alike(tmp_path):
    rec = _record()
    store = open_store(path=tmp_path / "q")
    store.upsert(SPEC, [Point(key="s1", vectors={"audio": np.ones(4)},
                              payload=rec.to_payload())])
    got = SongRecord.from_payload(store.get(SPEC, ["s1"])[0].payload)
    assert got.to_document() == rec.to_document()
    assert got.tag_probs == rec.tag_probs
    # a playlist's or a search's few fields: names and scores, no packed value decoded
    few = store.get(SPEC, ["s1"], fields=["title", "tags.style[].tag", "tags.style[].score"])
    assert few[0].payload == {"song_id": "s1", "title": "夜曲",
                              "tags": {"style": [{"tag": "摇滚", "score": 0.9},
                                                 {"tag": "流行", "score": 0.4}]}}
    store.close()
    older = rec.to_document() | {"language_detail": rec.language, "language": "华语"}
    assert SongRecord.from_payload(older).to_document() == rec.to_document()
