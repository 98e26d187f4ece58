"""SongFilter: the store's filter and the in-memory match agree, also on missing values."""

from __future__ import annotations

from songlens.catalog.filters import SongFilter
from songlens.catalog.record import SongRecord

T0 = 1_700_000_000.0


def _payload(i: int, **over) -> dict:
    rec = SongRecord(song_id=f"s{i}", title=f"t{i}", artist=f"Artist {i % 2}",
                     tags={"style": [{"tag": "摇滚" if i % 2 else "民谣", "en": "", "score": 1.0,
                                      "evidence": []}]},
                     language={"primary": "华语" if i < 3 else "欧美", "scores": {}},
                     audio_features={"tempo_bpm": 100.0 + 10 * i}, ingested_at=T0 + i)
    return rec.to_payload() | over


def test_matches_applies_every_condition():
    songs = {f"s{i}": _payload(i) for i in range(6)}
    flt = SongFilter(tags={"style": ("摇滚",)}, languages=("华语",),
                     ranges={"tempo_bpm": (105.0, None)}, ingested_after=T0,
                     exclude_artists=("ARTIST 0",), exclude_ids=frozenset({"s3"}))
    assert [k for k, p in songs.items() if flt.matches(k, p)] == ["s1"]
    store = flt.to_store()
    assert store is not None and "s3" in store.exclude_keys
    assert not SongFilter() and SongFilter().to_store() is None


def test_a_missing_or_null_value_does_not_match():
    flt = SongFilter(ingested_after=T0, ranges={"tempo_bpm": (None, 500.0)})
    assert flt.matches("a", _payload(1))
    assert not flt.matches("a", _payload(1, ingested_at=None))
    assert not flt.matches("a", {k: v for k, v in _payload(1).items() if k != "ingested_at"})
    assert not flt.matches("a", _payload(1, tempo_bpm=None))


def test_release_windows_agree_in_the_store_and_in_memory(tmp_path):
    """released_after/released_before read ``released_at``: the release date against the first
    ingestion; the same songs pass in a real Qdrant Edge store and in memory."""
    import numpy as np

    from songlens.catalog.record import songs_spec
    from songlens.content.release_date import release_period
    from songlens.store import Point, open_store

    now = T0 + 400 * 86_400  # 2024-12-18, ingested the day before
    dates = {"undated": None, "back-catalogue": "1998-03", "year-of-ingestion": "2024",
             "pre-release": "2025-06-01", "this-week": "2024-12-14"}
    songs = {sid: SongRecord(song_id=sid, title=sid, artist="a", ingested_at=now - 86_400,
                             release_date=d).to_payload() for sid, d in dates.items()}
    spec = songs_spec("songs", audio_dim=2, text_dim=2, tags_dim=2)
    with open_store(path=tmp_path / "q") as store:
        store.ensure_collection(spec)
        store.upsert(spec, [Point(key=sid, vectors={"audio": np.ones(2)}, payload=pl)
                            for sid, pl in songs.items()])
        week = SongFilter(released_after=now - 7 * 86_400, released_before=now)
        y2024 = SongFilter(released_after=release_period("2024")[0],
                           released_before=release_period("2025")[0])
        for flt, expected in ((week, {"undated", "year-of-ingestion", "this-week"}),
                              (y2024, {"undated", "year-of-ingestion", "this-week"}),
                              (SongFilter(released_before=release_period("2000")[0]),
                               {"back-catalogue"}),
                              (SongFilter(released_after=now), {"pre-release"})):
            in_store = {h.key for h in store.scroll(spec, filter=flt.to_store(), limit=10)[0]}
            assert in_store == expected
            assert {k for k, p in songs.items() if flt.matches(k, p)} == expected
    # a payload written before release dates existed is read as released when ingested
    old = {k: v for k, v in songs["undated"].items() if k != "released_at"}
    assert week.matches("old", old)


def test_all_tags_camelot_and_artists():
    songs = {f"s{i}": _payload(i, camelot="8A" if i < 2 else "9B") for i in range(4)}
    songs["s0"]["tags"]["style"].append({"tag": "流行", "en": "", "score": 0.5, "evidence": []})
    every = SongFilter(all_tags={"style": ("民谣", "流行")})
    assert [k for k, p in songs.items() if every.matches(k, p)] == ["s0"]
    assert [k for k, p in songs.items() if SongFilter(camelot=("8A",)).matches(k, p)] == [
        "s0", "s1"]
    assert [k for k, p in songs.items()
            if SongFilter(artists=("artist  1",)).matches(k, p)] == ["s1", "s3"]
    store = SongFilter(all_tags={"style": ("民谣", "流行")}, camelot=("8A",),
                       artists=("Artist 1",)).to_store()
    assert [(c.key, c.values) for c in store.must] == [
        ("tag_style", ("民谣",)), ("tag_style", ("流行",)), ("camelot", ("8A",)),
        ("artist_key", ("artist1",))]


def test_instruments_every_one_in_memory_and_in_the_store():
    def rec(i: int, names: list[str]) -> dict:
        r = SongRecord(song_id=f"s{i}", title="t", artist="a",
                       instruments=[{"name": n, "zh": "", "en": n, "score": 0.9} for n in names])
        return r.to_payload()

    songs = {"s0": rec(0, ["piano", "strings"]), "s1": rec(1, ["piano"]), "s2": rec(2, [])}
    assert songs["s0"]["instrument"] == ["piano", "strings"]
    assert SongRecord.from_payload(songs["s0"]).instruments[1]["name"] == "strings"
    both = SongFilter(instruments=("piano", "strings"))
    assert [k for k, p in songs.items() if both.matches(k, p)] == ["s0"]
    assert [k for k, p in songs.items()
            if SongFilter(instruments=("piano",)).matches(k, p)] == ["s0", "s1"]
    assert bool(SongFilter(instruments=("piano",)))
    assert [(c.key, c.values) for c in both.to_store().must] == [
        ("instrument", ("piano",)), ("instrument", ("strings",))]
