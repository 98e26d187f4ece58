"""Similar-song lookup: by song, by example songs, by audio clip, by text; with the query's own
duplicates left out and the reasons each song came up."""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from songlens.catalog.filters import SongFilter
from songlens.catalog.pipeline import Catalog
from songlens.catalog.record import tag_field
from songlens.content.features import camelot_step
from songlens.content.metadata import SongMetadata
from songlens.content.release_date import parse_release_date, release_period
from songlens.content.taxonomy import DIMENSIONS, Taxonomy
from songlens.embeddings.encoders import segment_vectors
from songlens.errors import InvalidInput
from songlens.store import Hit, Prefetch
from songlens.units import DAY

__all__ = ["Space", "SPACES", "SimilarFilters", "SimilarSong", "Reasons", "similar_to_song",
           "similar_to_audio", "similar_to_text", "similar_to_examples", "reasons_for"]

log = logging.getLogger(__name__)

Space = Literal["fused", "audio", "text", "tags", "hybrid", "versions"]
SPACES = ("fused", "audio", "text", "tags", "hybrid", "versions")
#: spaces a query by example songs can use (Qdrant's recommend query needs one named vector)
EXAMPLE_SPACES = ("fused", "audio", "text", "tags", "versions")
#: the payload fields an answer reads (item, reasons, duplicates): a full payload (tag
#: evidence, tag_probs, language detail) costs more to convert than the search itself
FIELDS = ("title", "artist", "audio_hash", "title_key", "tempo_bpm", "camelot",
          *(tag_field(d) for d in DIMENSIONS))
#: a result is called another version (``covers``) when its versions-space cosine reaches
#: COVERS_MIN_SIMILARITY *and* stands COVERS_MIN_GAP above the median of the query's candidates
#: (the k + 10 nearest): real recordings in one genre all sit at 0.93-0.97 (distorted guitars,
#: flat chroma), so a fixed cosine flagged 41 % of top-10 results among 65 unrelated real tracks;
#: with the gap 1.1 % (benchmarks/RESULTS.md, "Covers")
COVERS_MIN_SIMILARITY = 0.94
COVERS_MIN_GAP = 0.06


class SimilarFilters(BaseModel):
    """Filters for similar-song lookups (all optional, combined with AND). An unknown key is an
    error (a typo must not silently widen the search); numbers must be finite."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    language: list[str] = Field(default_factory=list, description="语种 tags, any of")
    style: list[str] = Field(default_factory=list, description="风格 tags, any of")
    min_tempo: float | None = Field(None, ge=0, le=400)
    max_tempo: float | None = Field(None, ge=0, le=400)
    exclude_artists: list[str] = Field(default_factory=list)
    days: float | None = Field(None, gt=0, description="only songs released in the last N days "
                               "(released_at: the release date, or the first ingestion)")
    released_after: str | None = Field(None, max_length=64, description=(
        "only songs released on or after this date (YYYY-MM-DD, YYYY-MM or YYYY)"))
    released_before: str | None = Field(None, max_length=64, description=(
        "only songs released before this date (YYYY-MM-DD, YYYY-MM or YYYY)"))

    @model_validator(mode="before")
    @classmethod
    def _known_keys(cls, data: Any) -> Any:
        if isinstance(data, dict):
            unknown = [k for k in data if k not in cls.model_fields]
            if unknown:
                raise ValueError(f"unknown filter {str(unknown[0])[:40]!r}; allowed: "
                                 f"{', '.join(cls.model_fields)}")
        return data

    @field_validator("released_after", "released_before")
    @classmethod
    def _date(cls, v: str | None) -> str | None:
        return None if v is None else parse_release_date(v)

    def to_song_filter(self, taxonomy: Taxonomy, *, now: float | None = None) -> SongFilter:
        """The filter these choices mean; tags are made canonical (raises
        :class:`~songlens.errors.UnknownTag`)."""
        tags = {dim: tuple(taxonomy.canonical(dim, t) for t in names)
                for dim, names in (("language", self.language), ("style", self.style)) if names}
        ranges = {}
        if self.min_tempo is not None or self.max_tempo is not None:
            ranges["tempo_bpm"] = (self.min_tempo, self.max_tempo)
        now = now or time.time()
        after = [now - self.days * DAY] if self.days is not None else []
        before = [now + 1.0] if self.days is not None else []  # not a pre-release yet to come
        if self.released_after:
            after.append(release_period(self.released_after)[0])
        if self.released_before:
            before.append(release_period(self.released_before)[0])
        return SongFilter(tags=tags, ranges=ranges, released_after=max(after, default=None),
                          released_before=min(before, default=None),
                          exclude_artists=tuple(self.exclude_artists))


@dataclass
class Reasons:
    """Why a song came up: the vector that matched and its cosine; with a known query song also
    the tags both carry per dimension, the tempo difference and whether the keys mix (Camelot
    neighbours)."""

    matched: str
    similarity: float
    shared_tags: dict[str, list[str]] = field(default_factory=dict)
    tempo_diff_bpm: float | None = None
    key_compatible: bool | None = None
    covers: bool | None = None


@dataclass
class SimilarSong:
    song_id: str
    score: float
    title: str | None
    artist: str | None
    reasons: Reasons


def _check(k: int, space: str, allowed: tuple[str, ...] = SPACES) -> None:
    if not 1 <= k <= 200:
        raise InvalidInput(f"k must be between 1 and 200, got {k}")
    if space not in allowed:
        raise InvalidInput(f"unknown space {space!r}; allowed: {', '.join(allowed)}")


def _check_stored(catalog: Catalog, space: str) -> None:
    """A store written before the versions space existed has no versions vectors."""
    if space == "versions" and "versions" not in catalog.spec.dense:
        raise InvalidInput("this store was written before the versions (covers) space existed, "
                           "so its songs have no versions vectors; re-ingest them into a new "
                           "data_dir (see the README, 'Other versions of a song') to search "
                           "space=versions")


def reasons_for(query: Mapping[str, Any] | None, hit: Hit, space: str) -> Reasons:
    """Why ``hit`` came up for the song whose payload is ``query`` (None: a clip or a text)."""
    out = Reasons(matched=space, similarity=hit.score)
    if not query:
        return out
    for d in DIMENSIONS:
        theirs = set(hit.payload.get(tag_field(d), []))
        common = [t for t in query.get(tag_field(d), []) if t in theirs]
        if common:
            out.shared_tags[d] = common
    qt, ht = query.get("tempo_bpm"), hit.payload.get("tempo_bpm")
    if qt and ht:
        out.tempo_diff_bpm = abs(float(qt) - float(ht))
    qc, hc = query.get("camelot"), hit.payload.get("camelot")
    if qc and hc:
        out.key_compatible = camelot_step(qc, hc) <= 1
    return out


def _ordered(hits: list[Hit]) -> list[Hit]:
    """By score, equal scores by song id: reciprocal-rank fusion often ties (two songs each
    first in one space), and Qdrant returns ties in storage order, which a restored or
    re-optimised store changes."""
    return sorted(hits, key=lambda h: (-round(h.score, 6), h.key))


def _dedupe(hits: list[Hit], query: Mapping[str, Any] | None, k: int) -> list[Hit]:
    """Drop the query's own duplicates (same audio or same normalised title+artist) and repeats
    of one recording among the results."""
    seen_hash, seen_title = set(), set()
    hits = _ordered(hits)
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


def _songs(hits: list[Hit], query: Mapping[str, Any] | None, space: str,
           candidates: list[Hit] | None = None) -> list[SimilarSong]:
    out = [SimilarSong(song_id=h.key, score=h.score, title=h.payload.get("title"),
                       artist=h.payload.get("artist"), reasons=reasons_for(query, h, space))
           for h in hits]
    if space == "versions" and out:
        typical = float(np.median([h.score for h in (candidates or hits)]))
        for it in out:
            it.reasons.covers = (it.score >= COVERS_MIN_SIMILARITY
                                 and it.score - typical >= COVERS_MIN_GAP)
    return out


def _excluding(filter: SongFilter | None, ids: list[str]) -> SongFilter:
    base = filter or SongFilter()
    return base.with_(exclude_ids=base.exclude_ids | frozenset(ids))


def similar_to_song(catalog: Catalog, song_id: str, *, k: int = 10, space: str = "fused",
                    filter: SongFilter | None = None) -> list[SimilarSong]:
    """Songs near ``song_id`` in one space; ``hybrid`` fuses the audio, text and sparse lyrics
    searches by reciprocal rank."""
    _check(k, space)
    _check_stored(catalog, space)
    needed = ["audio", "text", "lyrics"] if space == "hybrid" else [space]
    hit = catalog.get_hit(song_id, with_vectors=needed, fields=FIELDS)
    flt = _excluding(filter, [song_id]).to_store()
    if space == "hybrid":
        prefetch = [Prefetch("audio", hit.vectors["audio"], 50),
                    Prefetch("text", hit.vectors["text"], 50)]
        sparse = hit.vectors.get("lyrics")
        if sparse is not None and len(getattr(sparse, "indices", [])):
            prefetch.append(Prefetch("lyrics", (list(sparse.indices), list(sparse.values)), 50))
        hits = catalog.store.hybrid(catalog.spec, prefetch=prefetch, limit=k + 10, filter=flt)
    else:
        vector = (hit.vectors or {}).get(space)
        if vector is None:  # e.g. silence has no versions vector, a song without tags no tags one
            raise InvalidInput(f"song {song_id!r} has no {space} vector (nothing in it for that "
                               "space); try another space")
        hits = catalog.store.search(catalog.spec, using=space, vector=vector,
                                    limit=k + 10, filter=flt, fields=FIELDS)
    return _songs(_dedupe(hits, hit.payload, k), hit.payload, space, candidates=hits)


def similar_to_examples(catalog: Catalog, positive: list[str], negative: list[str] = (), *,
                        k: int = 10, space: str = "fused",
                        filter: SongFilter | None = None) -> list[SimilarSong]:
    """Qdrant's recommend query: like the ``positive`` songs, unlike the ``negative`` ones."""
    _check(k, space, EXAMPLE_SPACES)
    _check_stored(catalog, space)
    if not positive:
        raise InvalidInput("positive must name at least one song")
    pos = [catalog.get_hit(s, with_vectors=[space], fields=FIELDS) for s in positive]
    neg = [catalog.get_hit(s, with_vectors=[space], fields=()) for s in negative]
    flt = _excluding(filter, [*positive, *negative]).to_store()
    for h in (*pos, *neg):
        if (h.vectors or {}).get(space) is None:
            raise InvalidInput(f"song {h.key!r} has no {space} vector (nothing in it for that "
                               "space); try another space")
    hits = catalog.store.recommend(catalog.spec, using=space,
                                   positive=[h.vectors[space] for h in pos],
                                   negative=[h.vectors[space] for h in neg], limit=k + 10,
                                   filter=flt, fields=FIELDS)
    return _songs(_dedupe(hits, pos[0].payload, k), pos[0].payload, space, candidates=hits)


def similar_to_audio(catalog: Catalog, data: bytes, *, filename: str = "", k: int = 10,
                     filter: SongFilter | None = None) -> list[SimilarSong]:
    """Songs that sound like an uploaded clip (the audio space)."""
    _check(k, "audio")
    flt = filter.to_store() if filter else None
    audio = catalog.decode(data, filename)
    analysis = catalog.models.audio.analyse(audio.y)
    if "segments" not in catalog.spec.multi or analysis.patch_vectors is None \
            or not len(analysis.patch_vectors):
        hits = catalog.store.search(catalog.spec, using="audio", vector=analysis.vector,
                                    limit=k, filter=flt)
        return _songs(hits, None, "audio")
    # Whole-track vectors shortlist; segment MaxSim re-ranks, so an excerpt finds its recording
    # (benchmarks/near_duplicates.py). Scores become the mean best cosine per query segment.
    query = segment_vectors(analysis.patch_vectors, hop=1, max_rows=64)
    hits = catalog.store.rerank(catalog.spec, prefetch=Prefetch("audio", analysis.vector,
                                                                limit=max(100, 4 * k)),
                                using="segments", vectors=query, limit=k, filter=flt)
    for h in hits:
        h.score /= len(query)
    return _songs(hits, None, "audio+segments")


def similar_to_text(catalog: Catalog, text: str, *, k: int = 10,
                    filter: SongFilter | None = None) -> list[SimilarSong]:
    """Songs for a free-text query: the dense text space (the query role of the text model
    against the songs' lyrics and comments) and the sparse lyrics vector, fused by reciprocal
    rank; with a multilingual text model, also the tags space for the taxonomy tags whose
    descriptions the query is closest to (:mod:`songlens.search.prompt`); with a CLAP model
    configured, the audio space joins through its text tower."""
    from songlens.content.text.analyse import analyse_text
    from songlens.search.prompt import dense_prompt_tags

    _check(k, "text")
    text = SongMetadata(title=text[:1000] or " ").title
    if not text.strip():
        raise InvalidInput("text must not be empty")
    analysed = analyse_text(title="", artist="", album=None, lyrics=text, comments=[],
                            resources=catalog.resources)
    encoder = catalog.models.text
    query = encoder.encode_queries([text])[0]
    prefetch = [Prefetch("text", query, limit=max(50, k))]
    if analysed.sparse[0]:
        prefetch.append(Prefetch("lyrics", analysed.sparse, limit=max(50, k)))
    if encoder.multilingual:
        wanted = dense_prompt_tags(catalog, query)
        if wanted:
            prefetch.append(Prefetch("tags", catalog.tag_query_vector(wanted), limit=max(50, k)))
    clap = catalog.models.audio.encode_text([text])
    if clap is not None:
        prefetch.append(Prefetch("audio", np.asarray(clap[0]), limit=max(50, k)))
    hits = _ordered(catalog.store.hybrid(catalog.spec, prefetch=prefetch, limit=k,
                                         filter=filter.to_store() if filter else None))
    matched = "+".join(p.using for p in prefetch)
    return _songs(hits, None, matched)
