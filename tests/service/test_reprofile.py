"""After ``reembed-text`` moves the songs to another text model, the listener profiles follow:
a users collection written with MiniLM's sizes does not open beside USE songs, and
``refresh_profiles`` rebuilds it from the feedback log."""

from __future__ import annotations

import time

import numpy as np
import pytest

from songlens.catalog.pipeline import Catalog
from songlens.catalog.reembed import reembed_text
from songlens.content.metadata import SongMetadata
from songlens.embeddings.models import Models
from songlens.errors import VectorSizeMismatch
from songlens.service.coldstart import ColdStartService
from songlens.service.reprofile import refresh_profiles
from songlens.store import open_store


def _catalog(settings, models, text, resources):
    store = open_store(path=settings.qdrant_path)
    return Catalog(settings=settings, store=store, models=Models(audio=models.audio, text=text),
                   resources=resources)


def test_profiles_follow_the_songs_to_the_new_text_model(
        test_settings_factory, models, minilm_text_encoder, use_text_encoder, resources,
        music_clips):
    settings = test_settings_factory(audio={"max_duration_s": 30})
    cat = _catalog(settings, models, minilm_text_encoder, resources)
    for sid, data in music_clips.items():
        cat.ingest(data, SongMetadata(song_id=sid, title=sid, artist="someone",
                                      lyrics="深夜一个人在图书馆自习"))
    service = ColdStartService(cat, settings)
    now = time.time()
    first = next(iter(music_clips))
    result = service.record([
        {"user_id": "fan", "song_id": first, "event": "impression", "ts": now - 300},
        {"user_id": "fan", "song_id": first, "event": "complete", "ts": now - 100,
         "play_ms": 200_000},
        {"user_id": "fan", "song_id": first, "event": "like", "ts": now - 99}])
    assert result.new == 3 and not result.warnings
    service.close()
    cat.store.close()

    store = open_store(path=settings.qdrant_path)
    reembed_text(settings=settings, store=store, encoder=use_text_encoder)
    store.close()

    cat = _catalog(settings, models, use_text_encoder, resources)
    try:
        with pytest.raises(VectorSizeMismatch, match="reembed-text"):  # still MiniLM-sized
            ColdStartService(cat, settings)
        refresh = refresh_profiles(cat, settings)
        assert (refresh.dropped, refresh.rebuilt, refresh.lost, refresh.events) == (1, 1, 0, 3)
        service = ColdStartService(cat, settings)
        try:
            view = service.user_view("fan")
            assert view.events.in_profile == 3 and view.events.positive >= 1
            profile, _ = service.users.get("fan")
            song = cat.store.get(cat.spec, [first], with_vectors=True)[0]
            # the rebuilt taste lies in the new text space: it is the liked song's vector
            taste = profile.long["text"]
            assert taste.shape == (512,)
            assert float(np.dot(taste / np.linalg.norm(taste), song.vectors["text"])) > 0.99
        finally:
            service.close()
        assert refresh_profiles(cat, settings).dropped == 0  # sizes fit now: rebuilt in place
    finally:
        cat.store.close()
