"""Text → music search with a multilingual text model (USE, loaded once per session): Chinese,
English and Japanese prompts reach songs through their own lyrics and comments in another
language, and playlist prompts use the same query vector and tag descriptions."""

from __future__ import annotations

import pytest

from songlens.catalog.pipeline import Catalog
from songlens.content.metadata import SongMetadata
from songlens.embeddings.models import Models
from songlens.search.playlist import PlaylistRequest, generate_playlist
from songlens.search.prompt import dense_prompt_tags, tag_descriptions
from songlens.search.similar import similar_to_text
from songlens.store import open_store

SONGS = {
    "study": ("夜读", "深夜的图书馆 一盏台灯\n轻轻的钢琴声陪我复习到天亮",
              ["考研期间每天晚上都听，很安静", "适合一个人学习的时候听"]),
    "road": ("Highway Summer", "Windows down on the coast road\nsummer sun and the radio loud\n"
             "we drive until the sky turns gold", ["perfect for a road trip", "my driving song"]),
    "breakup": ("さよならの後", "君がいない部屋で 一人泣いた\nもう戻らない あの日の二人",
                ["別れた後に聴いて泣いた"]),
}


@pytest.fixture(scope="module")
def use_catalog(test_settings_factory, models, use_text_encoder, resources, music_clips):
    settings = test_settings_factory(audio={"max_duration_s": 30})
    store = open_store(path=settings.qdrant_path)
    cat = Catalog(settings=settings, store=store, resources=resources,
                  models=Models(audio=models.audio, text=use_text_encoder))
    for clip, (sid, (title, lyrics, comments)) in zip(music_clips.values(), SONGS.items(),
                                                      strict=False):
        cat.ingest(clip, SongMetadata(song_id=sid, title=title, artist="someone", lyrics=lyrics,
                                      comments=[{"text": c, "likes": 5} for c in comments]))
    yield cat
    store.close()


@pytest.mark.parametrize(("prompt", "want"), [
    ("适合深夜学习的安静钢琴", "study"),
    ("quiet piano for studying late at night", "study"),
    ("summer road trip", "road"),
    ("夏のドライブ", "road"),
    ("失恋的时候听的歌", "breakup"),
])
def test_prompts_in_any_language_find_the_song(use_catalog, prompt, want):
    # the dense space puts the song first; the service's reciprocal-rank fusion with the lyrics
    # and tag routes puts it at the top score (a tie is possible with three songs)
    q = use_catalog.models.text.encode_queries([prompt])[0]
    assert use_catalog.store.search(use_catalog.spec, using="text", vector=q, limit=1)[0].key \
        == want
    items = similar_to_text(use_catalog, prompt, k=3)
    scores = {i.song_id: i.score for i in items}
    assert scores[want] == pytest.approx(max(scores.values())), scores


def test_every_song_vector_read_its_own_text(use_catalog):
    for sid in SONGS:
        assert use_catalog.get(sid).models["text_input"] == "lyrics"


def test_tag_descriptions_cover_the_prompt_dimensions(use_catalog):
    items = tag_descriptions(use_catalog.taxonomy)
    assert {d for d, _, _ in items} == {"style", "scene", "emotion", "theme"}
    assert ("scene", "学习", "学习 Study") in items
    tags = dense_prompt_tags(use_catalog, use_catalog.models.text.encode_queries(
        ["适合一个人学习的时候听"])[0])
    assert all(0 < w <= 1 for ts in tags.values() for w in ts.values())


def test_playlist_prompt_uses_the_dense_vector(use_catalog):
    pl = generate_playlist(use_catalog, PlaylistRequest(text="summer road trip", length=3,
                                                        diversity=0.0))
    assert pl.interpreted["text_dense"] == "use-multilingual-v3"
    best = max(pl.items, key=lambda it: it.score)
    assert best.song_id == "road"
    assert best.reasons.text_similarity is not None and best.reasons.text_similarity > max(
        it.reasons.text_similarity for it in pl.items if it.song_id != "road")
