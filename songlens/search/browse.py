"""Browsing the catalogue: one page of the songs a filter lets through, newest first, with the
count of each tag among all of them (facets). Reads payload fields only, never a vector, and
the engine counts the facets from its payload indexes, so memory follows the page, not the
catalogue."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from songlens.catalog.filters import SongFilter
from songlens.catalog.pipeline import Catalog
from songlens.catalog.record import INSTRUMENT_FIELD, tag_field
from songlens.content.taxonomy import DIMENSIONS
from songlens.errors import StoreError

__all__ = ["BrowsePage", "FacetCount", "SongSummary", "TOP_TAGS", "browse"]

log = logging.getLogger(__name__)

#: tags per dimension a summary shows
TOP_TAGS = 3
_FIELDS = ["title", "artist", "duration_s", "tempo_bpm", "energy", "key", "mode", "camelot",
           "audio_file", "ingested_at",
           *(f"tags.{d}[].{k}" for d in DIMENSIONS for k in ("tag", "en", "score"))]


@dataclass
class SongSummary:
    song_id: str
    title: str
    artist: str
    top_tags: dict[str, list[dict[str, Any]]]
    duration_s: float | None = None
    tempo_bpm: float | None = None
    energy: float | None = None
    key: str | None = None
    mode: str | None = None
    camelot: str | None = None
    has_audio: bool = False
    ingested_at: float | None = None

    @classmethod
    def from_payload(cls, key: str, p: dict[str, Any]) -> SongSummary:
        tags = p.get("tags") or {}
        return cls(song_id=key, title=p.get("title") or "", artist=p.get("artist") or "",
                   top_tags={d: list(tags.get(d) or [])[:TOP_TAGS] for d in DIMENSIONS},
                   duration_s=p.get("duration_s"), tempo_bpm=p.get("tempo_bpm"),
                   energy=p.get("energy"), key=p.get("key"), mode=p.get("mode"),
                   camelot=p.get("camelot"), has_audio=bool(p.get("audio_file")),
                   ingested_at=p.get("ingested_at"))


@dataclass
class FacetCount:
    tag: str
    en: str
    count: int


@dataclass
class BrowsePage:
    total: int
    songs: list[SongSummary]
    facets: dict[str, list[FacetCount]] = field(default_factory=dict)


def browse(catalog: Catalog, flt: SongFilter | None = None, *, offset: int = 0,
           limit: int = 50) -> BrowsePage:
    """Songs passing ``flt``, newest first (``offset``, ``limit``), their total, and per
    dimension how many of them carry each tag (most first; tags no song carries left out);
    facet ``instrument`` counts the instruments heard (``tag`` the id, ``en`` its English
    name)."""
    store_filter = (flt or SongFilter()).to_store()
    spec, store, tax = catalog.spec, catalog.store, catalog.taxonomy
    hits = store.ordered(spec, order_by="ingested_at", descending=True, offset=offset,
                         limit=limit, filter=store_filter, fields=_FIELDS)
    facets = {}
    for dim in DIMENSIONS:
        counts = store.facet(spec, tag_field(dim), filter=store_filter,
                             limit=len(tax.tags[dim]))
        facets[dim] = [FacetCount(tag=str(t), en=tax.en.get((dim, str(t)), str(t)), count=n)
                       for t, n in counts]
    vocab = catalog.resources.instruments
    try:
        counts = store.facet(spec, INSTRUMENT_FIELD, filter=store_filter, limit=len(vocab.specs))
    except StoreError:  # a collection created before instruments existed has no index on it
        log.warning("no %r facet: the collection has no index on it (re-create or re-ingest)",
                    INSTRUMENT_FIELD)
        counts = []
    facets["instrument"] = [FacetCount(tag=str(t), en=vocab.get(str(t)).en, count=n)
                            for t, n in counts if str(t) in {s.name for s in vocab.specs}]
    return BrowsePage(total=store.count(spec, filter=store_filter),
                      songs=[SongSummary.from_payload(h.key, h.payload) for h in hits],
                      facets=facets)
