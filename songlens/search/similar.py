"""Similar-song lookup: by song, by audio clip, by text; with duplicates excluded and reasons."""

from __future__ import annotations

import logging
import time
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, Field

from songlens.catalog.pipeline import Catalog, title_key
from songlens.content.metadata import SongMetadata
from songlens.content.taxonomy import DIMENSIONS
from songlens.embeddings.encoders import segment_vectors
from songlens.errors import InvalidInput
from songlens.store import Filter, Hit, Match, Prefetch, Range

__all__ = ["Space", "SimilarFilters", "similar_to_song", "similar_to_audio", "similar_to_text",
           "similar_to_examples", "reasons_for"]

log = logging.getLogger(__name__)

Space = Literal["fused", "audio", "text", "tags", "hybrid"]
SPACES = ("fused", "audio", "text", "tags", "hybrid")


class SimilarFilters(BaseModel):
    """Filters for similar-song lookups (all optional, combined with AND)."""

    language: list[str] = Field(default_factory=list, description="语种 tags, any of")
    style: list[str] = Field(default_factory=list, description="风格 tags, any of")
    min_tempo: float | None = Field(None, ge=0, le=400)
    max_tempo: float | None = Field(None, ge=0, le=400)
    exclude_artists: list[str] = Field(default_factory=list)
    days: float | None = Field(None, gt=0, description="only songs ingested in the last N days")

    def to_filter(self, catalog: Catalog, *, now: float | None = None) -> Filter | None:
        must: list = []
        if self.language:
            must.append(Match("tag_language", tuple(catalog.taxonomy.canonical("language", t)
                                                    for t in self.language)))
        if self.style:
            must.append(Match("tag_style", tuple(catalog.taxonomy.canonical("style", t)
                                                 for t in self.style)))
        if self.min_tempo is not None or self.max_tempo is not None:
            must.append(Range("tempo_bpm", gte=self.min_tempo, lte=self.max_tempo))
        if self.days is not None:
            must.append(Range("ingested_at", gte=(now or time.time()) - self.days * 86400))
        must_not = []
        if self.exclude_artists:
            must_not.append(Match("artist_key", tuple(title_key("", a).strip("|")
                                                      for a in self.exclude_artists)))
        return Filter(must=tuple(must), must_not=tuple(must_not)) if must or must_not else None
_KEYS = ["C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B"]


def _check(k: int, space: str) -> None:
    if not 1 <= k <= 200:
        raise InvalidInput(f"k must be between 1 and 200, got {k}")
    if space not in SPACES:
        raise InvalidInput(f"unknown space {space!r}; allowed: {', '.join(SPACES)}")


def reasons_for(query: dict[str, Any] | None, hit: Hit, space: str) -> dict[str, Any]:
    """Why ``hit`` came up: the vector that matched, shared tags per dimension, tempo and key
    closeness (when the query song is known)."""
    out: dict[str, Any] = {"matched": space, "similarity": round(hit.score, 4)}
    if not query:
        return out
    shared = {}
    for d in DIMENSIONS:
        common = [t for t in query.get(f"tag_{d}", []) if t in set(hit.payload.get(f"tag_{d}", []))]
        if common:
            shared[d] = common
    if shared:
        out["shared_tags"] = shared
    qt, ht = query.get("tempo_bpm"), hit.payload.get("tempo_bpm")
    if qt and ht:
        out["tempo_diff_bpm"] = round(abs(float(qt) - float(ht)), 1)
    qc, hc = query.get("camelot"), hit.payload.get("camelot")
    if qc and hc:
        out["key_compatible"] = _camelot_compatible(qc, hc)
    return out


def _camelot_compatible(a: str, b: str) -> bool:
    """Same Camelot code, ±1 on the wheel with the same letter, or the relative major/minor."""
    try:
        na, la, nb, lb = int(a[:-1]), a[-1], int(b[:-1]), b[-1]
    except (ValueError, IndexError):
        return False
    if la == lb:
        return (na - nb) % 12 in (0, 1, 11)
    return na == nb


def _dedupe(hits: list[Hit], query: dict[str, Any] | None, k: int) -> list[Hit]:
    """Drop the query's own duplicates (same audio or same normalised title+artist) and repeats
    of one recording among the results."""
    seen_hash, seen_title = set(), set()
    if query:
        seen_hash.add(query.get("audio_hash"))
        seen_title.add(query.get("title_key"))
    out = []
    for h in hits:
        hh, tk = h.payload.get("audio_hash"), h.payload.get("title_key")
        if hh in seen_hash or (tk and tk in seen_title):
            continue
        seen_hash.add(hh)
        if tk:
            seen_title.add(tk)
        out.append(h)
        if len(out) == k:
            break
    return out


def _items(hits: list[Hit], query: dict[str, Any] | None, space: str) -> list[dict[str, Any]]:
    return [{"song_id": h.key, "score": round(h.score, 4), "title": h.payload.get("title"),
             "artist": h.payload.get("artist"), "reasons": reasons_for(query, h, space)}
            for h in hits]


def similar_to_song(catalog: Catalog, song_id: str, *, k: int = 10, space: str = "fused",
                    filter: Filter | None = None) -> list[dict[str, Any]]:
    _check(k, space)
    hit = catalog.get_hit(song_id, with_vectors=True)
    flt = Filter(exclude_keys=(song_id,)).and_(filter)
    if space == "hybrid":
        prefetch = [Prefetch("audio", hit.vectors["audio"], 50),
                    Prefetch("text", hit.vectors["text"], 50)]
        sparse = hit.vectors.get("lyrics")
        if sparse is not None and len(getattr(sparse, "indices", [])):
            prefetch.append(Prefetch("lyrics", (list(sparse.indices), list(sparse.values)), 50))
        hits = catalog.store.hybrid(catalog.spec, prefetch=prefetch, limit=k + 10, filter=flt)
    else:
        hits = catalog.store.search(catalog.spec, using=space, vector=hit.vectors[space],
                                    limit=k + 10, filter=flt)
    return _items(_dedupe(hits, hit.payload, k), hit.payload, space)


def similar_to_examples(catalog: Catalog, positive: list[str], negative: list[str] = (), *,
                        k: int = 10, space: str = "fused",
                        filter: Filter | None = None) -> list[dict[str, Any]]:
    """Qdrant's recommend query: like the ``positive`` songs, unlike the ``negative`` ones."""
    if space == "hybrid":
        space = "fused"
    _check(k, space)
    if not positive:
        raise InvalidInput("positive must name at least one song")
    pos = [catalog.get_hit(s, with_vectors=True) for s in positive]
    neg = [catalog.get_hit(s, with_vectors=True) for s in negative]
    flt = Filter(exclude_keys=tuple(positive) + tuple(negative)).and_(filter)
    hits = catalog.store.recommend(catalog.spec, using=space,
                                   positive=[h.vectors[space] for h in pos],
                                   negative=[h.vectors[space] for h in neg], limit=k + 10,
                                   filter=flt)
    return _items(_dedupe(hits, pos[0].payload, k), pos[0].payload, space)


def similar_to_audio(catalog: Catalog, data: bytes, *, filename: str = "", k: int = 10,
                     filter: Filter | None = None) -> list[dict[str, Any]]:
    """Songs that sound like an uploaded clip (the audio space)."""
    _check(k, "audio")
    audio = catalog.decode(data, filename)
    analysis = catalog.models.audio.analyse(audio.y)
    if "segments" not in catalog.spec.multi or analysis.patch_vectors is None \
            or not len(analysis.patch_vectors):
        hits = catalog.store.search(catalog.spec, using="audio", vector=analysis.vector,
                                    limit=k, filter=filter)
        return _items(hits, None, "audio")
    # Whole-track vectors shortlist; segment MaxSim re-ranks, so an excerpt finds its recording
    # (benchmarks/near_duplicates.py). Scores become the mean best cosine per query segment.
    query = segment_vectors(analysis.patch_vectors, hop=1, max_rows=64)
    hits = catalog.store.rerank(catalog.spec, prefetch=Prefetch("audio", analysis.vector,
                                                                limit=max(100, 4 * k)),
                                using="segments", vectors=query, limit=k, filter=filter)
    for h in hits:
        h.score /= len(query)
    return _items(hits, None, "audio+segments")


def similar_to_text(catalog: Catalog, text: str, *, k: int = 10,
                    filter: Filter | None = None) -> list[dict[str, Any]]:
    """Songs for a free-text query: the dense text space and the sparse lyrics vector, fused by
    reciprocal rank; with a CLAP model configured, the audio space joins through its text tower."""
    from songlens.content.text.analyse import analyse_text

    _check(k, "text")
    text = SongMetadata(title=text[:1000] or " ").title
    if not text.strip():
        raise InvalidInput("text must not be empty")
    analysed = analyse_text(title="", artist="", album=None, lyrics=text, comments=[],
                            resources=catalog.resources)
    prefetch = [Prefetch("text", catalog.models.text.encode([text])[0], limit=max(50, k))]
    if analysed.sparse[0]:
        prefetch.append(Prefetch("lyrics", analysed.sparse, limit=max(50, k)))
    clap = catalog.models.audio.encode_text([text])
    if clap is not None:
        prefetch.append(Prefetch("audio", np.asarray(clap[0]), limit=max(50, k)))
    hits = catalog.store.hybrid(catalog.spec, prefetch=prefetch, limit=k, filter=filter)
    matched = "+".join(p.using for p in prefetch)
    return _items(hits, None, matched)
