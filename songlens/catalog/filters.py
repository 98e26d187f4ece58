"""Which songs a query may return: one filter type for similar songs, playlists and recall.

A :class:`SongFilter` speaks in the song record's terms (tags per dimension, primary language,
numeric audio features, when a song arrived, artists and ids to leave out). It becomes the
store's :class:`~songlens.store.Filter` with :meth:`SongFilter.to_store`, and
:meth:`SongFilter.matches` applies the same rules to a payload in memory (the brute-force index
of the simulator and the tests), so both paths agree.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from songlens.catalog.record import INSTRUMENT_FIELD, artist_key, song_tag_scores, tag_field
from songlens.store import Filter, Match, Range

__all__ = ["SongFilter"]


@dataclass(frozen=True)
class SongFilter:
    """All conditions must hold (AND); an empty filter lets everything through.

    ``tags``: ``{dim: tags}``, a song must carry one of the tags of every listed dimension;
    ``all_tags``: ``{dim: tags}``, a song must carry every one of these tags (facet browsing);
    ``instruments``: instrument ids (``piano``), every one of which the song's audio has;
    ``camelot``: Camelot key codes, one of which the song's key is; ``artists``: artist names,
    one of which is the song's (compared folded); ``languages``: the song's primary language
    is one of these tags; ``ranges``: payload field → ``(min, max)`` inclusive, either end
    None (``{"tempo_bpm": (120, None)}``);
    ``ingested_after``: ``ingested_at >= value`` (unix seconds); ``released_after`` /
    ``released_before``: ``released_at >= value`` / ``released_at < value`` (unix seconds; the
    moment a song counts as released, :mod:`songlens.content.release_date`: a payload without
    it, written before release dates existed, is read as released when ingested);
    ``exclude_artists``: artist names (compared folded); ``exclude_ids``: song (or user) ids to
    leave out; ``albums``: album names, one of which is the song's (exact).
    """

    tags: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    all_tags: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    instruments: tuple[str, ...] = ()
    camelot: tuple[str, ...] = ()
    artists: tuple[str, ...] = ()
    languages: tuple[str, ...] = ()
    ranges: Mapping[str, tuple[float | None, float | None]] = field(default_factory=dict)
    ingested_after: float | None = None
    released_after: float | None = None
    released_before: float | None = None
    exclude_artists: tuple[str, ...] = ()
    exclude_ids: frozenset[str] = frozenset()
    albums: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return bool(any(self.tags.values()) or any(self.all_tags.values()) or self.instruments
                    or self.camelot
                    or self.artists or self.languages or self.ranges
                    or self.ingested_after is not None or self.released_after is not None
                    or self.released_before is not None or self.exclude_artists
                    or self.exclude_ids or self.albums)

    def with_(self, **changes: Any) -> SongFilter:
        """A copy with some conditions replaced."""
        return SongFilter(**{**self.__dict__, **changes})

    def to_store(self) -> Filter | None:
        """The store's filter (None when nothing is filtered)."""
        must: list[Match | Range] = []
        if self.ingested_after is not None:
            must.append(Range("ingested_at", gte=float(self.ingested_after)))
        if self.released_after is not None or self.released_before is not None:
            must.append(Range("released_at", gte=_float(self.released_after),
                              lt=_float(self.released_before)))
        for dim, tags in self.tags.items():
            if tags:
                must.append(Match(tag_field(dim), tuple(tags)))
        for dim, tags in self.all_tags.items():
            must.extend(Match(tag_field(dim), (t,)) for t in tags)
        must.extend(Match(INSTRUMENT_FIELD, (i,)) for i in self.instruments)
        if self.camelot:
            must.append(Match("camelot", tuple(self.camelot)))
        if self.artists:
            must.append(Match("artist_key", tuple(artist_key(a) for a in self.artists)))
        if self.languages:
            must.append(Match("language", tuple(self.languages)))
        if self.albums:
            must.append(Match("album", tuple(self.albums)))
        for name, (lo, hi) in self.ranges.items():
            must.append(Range(name, gte=lo, lte=hi))
        must_not = []
        if self.exclude_artists:
            must_not.append(Match("artist_key", tuple(artist_key(a)
                                                      for a in self.exclude_artists)))
        flt = Filter(must=tuple(must), must_not=tuple(must_not),
                     exclude_keys=tuple(sorted(self.exclude_ids)))
        return flt or None

    def matches(self, key: str, payload: Mapping[str, Any]) -> bool:
        """Whether a point passes, evaluated in memory on its payload."""
        if key in self.exclude_ids:
            return False
        if self.ingested_after is not None:
            when = payload.get("ingested_at")  # missing or null: no match, as in the store
            if not isinstance(when, int | float) or when < self.ingested_after:
                return False
        if self.released_after is not None or self.released_before is not None:
            when = payload.get("released_at", payload.get("ingested_at"))
            if not isinstance(when, int | float) or (
                    self.released_after is not None and when < self.released_after) or (
                    self.released_before is not None and when >= self.released_before):
                return False
        if self.languages and payload.get("language") not in self.languages:
            return False
        if self.tags or self.all_tags:
            have = song_tag_scores(payload)
            for dim, tags in self.tags.items():
                if tags and not set(tags) & set(have.get(dim, {})):
                    return False
            for dim, tags in self.all_tags.items():
                if not set(tags) <= set(have.get(dim, {})):
                    return False
        if self.instruments and not set(self.instruments) <= set(
                payload.get(INSTRUMENT_FIELD) or ()):
            return False
        if self.camelot and payload.get("camelot") not in self.camelot:
            return False
        if self.albums and payload.get("album") not in self.albums:
            return False
        if self.artists and payload.get("artist_key") not in {artist_key(a)
                                                              for a in self.artists}:
            return False
        for name, (lo, hi) in self.ranges.items():
            value = payload.get(name)
            if not isinstance(value, int | float) or (lo is not None and value < lo) or (
                    hi is not None and value > hi):
                return False
        if self.exclude_artists and payload.get("artist_key") in {
                artist_key(a) for a in self.exclude_artists}:
            return False
        return True


def _float(value: float | None) -> float | None:
    return None if value is None else float(value)
