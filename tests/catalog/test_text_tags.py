"""Ingestion with a multilingual text model: the catalog builds the zero-shot tagger and the
sentiment head once, and a song's tags and sentiment come from them (with the lexicon)."""

from __future__ import annotations

import pytest

from songlens.catalog.pipeline import Catalog
from songlens.content.metadata import SongMetadata
from songlens.embeddings.models import Models
from songlens.store import open_store


@pytest.fixture(scope="module")
def use_catalog(test_settings_factory, models, use_text_encoder, resources):
    settings = test_settings_factory(audio={"max_duration_s": 30})
    store = open_store(path=settings.qdrant_path)
    cat = Catalog(settings=settings, store=store,
                  models=Models(audio=models.audio, text=use_text_encoder), resources=resources)
    yield cat
    store.close()


def test_song_tags_from_comments_with_the_text_model(use_catalog, music_clips):
    assert use_catalog.dense_text is not None
    comments = [{"text": "考研复习的时候天天单曲循环这首歌", "likes": 300},
                {"text": "图书馆自习听这首，效率超高", "likes": 120},
                {"text": "太好听了，温暖又治愈", "likes": 40},
                {"text": "打卡", "likes": 0}]
    meta = SongMetadata(song_id="tt-1", title="夜曲", artist="某人", comments=comments)
    rec = use_catalog.ingest(next(iter(music_clips.values())), meta).record
    scene = {t["tag"]: t for t in rec.tags["scene"]}
    assert "学习" in scene
    ev = scene["学习"]["evidence"][0]
    assert ev["source"] == "comments" and ev["by"].startswith("text model")
    assert ev["model"] == "use-multilingual-v3" and ev["description"]
    assert rec.models["text_tags"] == "zero-shot + lexicon"
    assert rec.models["sentiment"] == "use-multilingual-v3 head + lexicon"
    assert rec.sentiment > 0.2
