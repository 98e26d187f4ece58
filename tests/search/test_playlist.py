"""Tag-based playlists on a synthetic catalogue whose right answers are known."""

from __future__ import annotations

import numpy as np
import pytest

from songlens.catalog.pipeline import fuse_vectors
from songlens.catalog.record import SongRecord
from songlens.content.features import camelot_step
from songlens.embeddings.encoders import l2_normalise
from songlens.errors import UnknownTag
from songlens.search.playlist import PlaylistRequest, generate_playlist, to_m3u
from songlens.store import Point

SCENES = ["运动", "学习", "夜晚", "驾车"]
EMOTIONS = ["兴奋", "安静", "伤感", "快乐"]
KEYS = ["8B", "9B", "3A", "8A", "10B", "1A"]


@pytest.fixture(scope="module")
def synth(catalog):
    """60 songs: scene i%4, emotion (i//4)%4, artist i%6, energy and tempo rising with i."""
    from songlens.content.text.vectors import tag_profile_vector

    rng = np.random.default_rng(3)
    spec = catalog.spec
    points = []
    for i in range(60):
        scene, emotion = SCENES[i % 4], EMOTIONS[(i // 4) % 4]
        tags = {"language": [{"tag": "华语", "en": "Mandarin", "score": 0.9, "evidence": []}],
                "style": [], "theme": [],
                "scene": [{"tag": scene, "en": scene, "score": 0.8, "evidence": []}],
                "emotion": [{"tag": emotion, "en": emotion, "score": 0.7, "evidence": []}]}
        audio = l2_normalise(rng.normal(size=spec.dense["audio"]))
        text = l2_normalise(rng.normal(size=spec.dense["text"]))
        artist = f"歌手{i % 6}"
        payload = SongRecord(song_id=f"p{i:02d}", title=f"歌{i}", artist=artist, tags=tags,
                             duration_s=200.0, audio_hash=f"h{i}", ingested_at=1.7e9,
                             release_date=str(1990 + i % 30),
                             audio_features={"energy": i / 60, "tempo_bpm": 80.0 + i * 2,
                                             "camelot": KEYS[i % 6], "valence": 0.5}
                             ).to_payload()
        points.append(Point(key=f"p{i:02d}", payload=payload, vectors={
            "audio": audio, "text": text,
            "fused": fuse_vectors(audio, text, audio_weight=0.65, text_weight=0.35),
            "tags": tag_profile_vector(tags, catalog.taxonomy)}))
    catalog.store.upsert(spec, points)
    yield catalog
    catalog.store.delete(spec, [p.key for p in points])


def _ids(pl):
    return [it.song_id for it in pl.items]


def test_required_tags_are_honoured(synth):
    pl = generate_playlist(synth, PlaylistRequest(tags={"scene": ["运动"], "emotion": ["兴奋"]},
                                                  length=3))
    assert len(pl.items) == 3 and not pl.relaxed
    for it in pl.items:
        song = synth.get(it.song_id).to_document()
        assert song["tags"]["scene"][0]["tag"] == "运动"
        assert song["tags"]["emotion"][0]["tag"] == "兴奋"
        assert it.reasons.matched_tags["scene"] == ["运动"]


def test_english_aliases_and_unknown_tags(synth):
    pl = generate_playlist(synth, PlaylistRequest(tags={"scene": ["workout"]}, length=5))
    assert all(synth.get(i).tags["scene"][0]["tag"] == "运动" for i in _ids(pl))
    with pytest.raises(UnknownTag, match="allowed: 清晨"):
        generate_playlist(synth, PlaylistRequest(tags={"scene": ["蹦迪"]}))
    # languages also by code, as catalogues write them
    by_code = generate_playlist(synth, PlaylistRequest(tags={"language": ["cmn"]}, length=5))
    by_tag = generate_playlist(synth, PlaylistRequest(tags={"language": ["华语"]}, length=5))
    assert _ids(by_code) == _ids(by_tag)
    with pytest.raises(UnknownTag, match="allowed: 华语"):
        generate_playlist(synth, PlaylistRequest(tags={"language": ["tlh"]}))


def test_relaxes_in_documented_order_and_says_so(synth):
    # only 3 songs are 运动 + 兴奋; 10 asked → emotion relaxed before scene
    pl = generate_playlist(synth, PlaylistRequest(tags={"scene": ["运动"], "emotion": ["兴奋"]},
                                                  min_tempo=0, length=10))
    assert pl.relaxed[:2] == ["attribute bounds (min_/max_)", "required scene tags (now preferred)"]
    assert len(pl.items) == 10


def test_artist_spacing_and_determinism(synth):
    req = PlaylistRequest(tags={"language": ["华语"]}, length=20, artist_spacing=4,
                          diversity=0.5, seed=7)
    pl = generate_playlist(synth, req)
    artists = [it.artist for it in pl.items]
    for i in range(len(artists)):
        assert artists[i] not in artists[max(0, i - 4):i]
    assert _ids(generate_playlist(synth, req)) == _ids(pl)


def test_bounds_targets_and_flow(synth):
    pl = generate_playlist(synth, PlaylistRequest(tags={"language": ["华语"]}, min_tempo=150,
                                                  max_energy=0.9, length=8, flow="rising"))
    assert all(it.tempo_bpm >= 150 for it in pl.items)
    energies = [it.energy for it in pl.items]
    assert energies == sorted(energies) and max(energies) <= 0.9
    pl = generate_playlist(synth, PlaylistRequest(tags={"language": ["华语"]},
                                                  target_energy=0.0, length=5, diversity=0.0))
    assert max(it.energy for it in pl.items) < 0.2
    pl = generate_playlist(synth, PlaylistRequest(tags={"language": ["华语"]}, length=12,
                                                  flow="harmonic"))
    pairs = zip(pl.items, pl.items[1:], strict=False)
    steps = [camelot_step(a.camelot, b.camelot) for a, b in pairs]
    assert sum(s <= 1 for s in steps) >= len(steps) - 2


def test_seeds_exclusions_and_m3u(synth):
    pl = generate_playlist(synth, PlaylistRequest(seed_songs=["p00"], exclude_artists=["歌手1"],
                                                  exclude_songs=["p06"], length=10))
    ids = _ids(pl)
    assert "p00" not in ids and "p06" not in ids
    assert all(it.artist != "歌手1" for it in pl.items)
    text = to_m3u(pl)
    assert text.startswith("#EXTM3U\n#EXTINF:200,歌手") and "songlens:song/" in text


def test_release_bounds_filter_and_are_never_relaxed(synth):
    pl = generate_playlist(synth, PlaylistRequest(released_after="1995", released_before="2000",
                                                  preferred={"scene": ["运动"]},
                                                  length=20, artist_spacing=0))
    years = sorted({int(synth.get(i).release_date) for i in _ids(pl)})
    assert years == [1995, 1996, 1997, 1998, 1999]  # 10 songs: fewer than asked, not relaxed
    assert len(pl.items) == 10 and not any("release" in r for r in pl.relaxed)
    with pytest.raises(ValueError, match="not a date"):
        PlaylistRequest(released_after="the nineties")


def test_request_validation():
    with pytest.raises(ValueError, match="unknown field 'min_loudnes'"):
        PlaylistRequest(min_loudnes=3)
    with pytest.raises(ValueError, match="above max_tempo"):
        PlaylistRequest(min_tempo=150, max_tempo=100)
    assert camelot_step("8A", "8B") == 1 and camelot_step("8A", "9A") == 1
    assert camelot_step("8A", "10A") == 2 and camelot_step("12B", "1B") == 1


def test_ties_at_the_cut_off_give_the_same_pool_with_the_score_floor(tmp_path):
    """_top's widened search asks only for songs reaching the tied score: the same pool as
    reading every hit of the wide search, from fewer hits."""
    from songlens.search.playlist import _top
    from songlens.store import CollectionSpec, Point, open_store

    spec = CollectionSpec(name="songs", key_field="song_id", dense={"tags": 4})
    store = open_store(path=tmp_path / "q")
    profiles = np.eye(4) + 0.05  # four tag profiles, shared by many songs: exact ties
    store.upsert(spec, [Point(key=f"s{i:03d}", vectors={"tags": profiles[i % 4]}, payload={})
                        for i in range(400)])
    query = profiles[0] + 0.5 * profiles[1]
    returned: list[int] = []

    def search(n, floor):
        hits = store.search(spec, using="tags", vector=query, limit=n, fields=(),
                            score_threshold=floor)
        returned.append(len(hits))
        return hits

    with_floor = _top(search, 30)
    wide_with_floor = returned[-1]
    without = _top(lambda n, floor: search(n, None), 30)
    assert [h.key for h in with_floor] == [h.key for h in without]
    assert [h.key for h in with_floor] == sorted(h.key for h in with_floor)  # ties by key
    assert wide_with_floor == 100 < returned[-1]  # the 100 songs of the best profile
    store.close()
