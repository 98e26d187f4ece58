"""The song record: the one definition of what songlens keeps about a song.

A :class:`SongRecord` is written to the store as a payload (:meth:`SongRecord.to_payload`), read
back from one (:meth:`SongRecord.from_payload`) and shown to clients as a document
(:meth:`SongRecord.to_document`). Every other module reads songs through it, so a field renamed
here is renamed everywhere.

The payload holds the document's fields plus copies made for the store's payload indexes (the
fields filters and ordering read): ``tag_<dim>`` (the tag names of each dimension), the float
audio features at the top level, ``mode``/``camelot``/``key``, ``title_key``/``artist_key``
(folded names for duplicate detection and artist exclusion), ``released_at`` (the moment the
song counts as released, from ``release_date`` and ``ingested_at``: see
:mod:`songlens.content.release_date`), and ``language``, which in the
payload is the primary language tag (indexed) while the document's ``language`` is the whole
detection result (stored as ``language_detail``). These names are what stores written by earlier
versions hold, so they stay.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from songlens.content.release_date import released_at
from songlens.content.taxonomy import DIMENSIONS
from songlens.store import CollectionSpec

__all__ = ["SongRecord", "FLOAT_FIELDS", "INSTRUMENT_FIELD", "songs_spec", "fold_name",
           "title_key", "artist_key",
           "tag_field", "song_tag_scores"]

#: Audio features copied to the payload's top level with a float index: playlists, similar-song
#: filters and recall filter or order on them.
FLOAT_FIELDS = ("tempo_bpm", "energy", "danceability", "valence", "acousticness",
                "instrumentalness", "loudness_db", "speechiness", "duration_s")
#: Audio features copied to the top level with a keyword index (``key`` is copied, not indexed).
KEYWORD_FEATURES = ("mode", "camelot", "key")
#: The document's fields, in the order clients see them.
DOC_FIELDS = ("song_id", "title", "artist", "album", "duration_s", "tags", "audio_features",
              "language", "keywords", "sentiment", "audio_hash", "source", "models",
              "release_date", "released_at", "ingested_at", "warnings", "timeline",
              "lyrics_lines", "instruments", "voice")
#: the payload field holding the names of the instruments heard (keyword index)
INSTRUMENT_FIELD = "instrument"
#: the payload field holding each tag's evidence, ``{dim: [evidence of each tag in order]}``
EVIDENCE_FIELD = "tag_evidence"
#: the parts of a song's payload no search filters on and no lookup answer shows: the store keeps
#: them packed in one value (:func:`songlens.store.base.pack_payload`), so that a search hit or a
#: playlist candidate costs its few display fields, not the whole document
PACKED_FIELDS = frozenset({EVIDENCE_FIELD, "tag_probs", "timeline", "lyrics_lines", "instruments",
                           "voice", "language_detail", "source", "text_source",
                           "audio_features", "keywords", "warnings"})


def tag_field(dim: str) -> str:
    """The payload field holding the tag names of dimension ``dim`` (``tag_style``)."""
    return f"tag_{dim}"


def songs_spec(name: str, *, audio_dim: int, text_dim: int, tags_dim: int,
               segment_dim: int | None = None, versions_dim: int | None = None
               ) -> CollectionSpec:
    """The songs collection: named vectors ``audio``, ``text``, ``fused`` (their weighted
    concatenation), ``tags`` (tag profile), ``versions`` (covers: harmony and melody, blind to
    timbre, key and tempo; absent from stores written before it existed), sparse ``lyrics``,
    optional ``segments`` multivectors; payload indexes on every field a filter reads."""
    indexes: dict[str, Any] = {"artist_key": "keyword", "audio_hash": "keyword",
                               "audio_sha256": "keyword",
                               "title_key": "keyword", "language": "keyword",
                               "mode": "keyword", "camelot": "keyword"}
    indexes |= {tag_field(d): "keyword" for d in DIMENSIONS}
    indexes[INSTRUMENT_FIELD] = "keyword"
    indexes |= {f: "float" for f in (*FLOAT_FIELDS, "ingested_at", "released_at")}
    dense = {"audio": audio_dim, "text": text_dim, "fused": audio_dim + text_dim,
             "tags": tags_dim} | ({"versions": versions_dim} if versions_dim else {})
    return CollectionSpec(name=name, key_field="song_id", dense=dense,
                          sparse=("lyrics",), indexes=indexes,
                          multi={"segments": segment_dim} if segment_dim else {},
                          packed=PACKED_FIELDS)


def fold_name(s: str) -> str:
    """A name folded for comparison: NFKC, case-folded, bracketed parts (``(Live)``, ``【MV】``)
    and everything but letters and digits removed."""
    s = unicodedata.normalize("NFKC", s).casefold()
    for open_, close in (("(", ")"), ("[", "]"), ("（", "）"), ("【", "】")):
        while open_ in s and close in s.split(open_, 1)[1]:
            head, tail = s.split(open_, 1)
            s = head + tail.split(close, 1)[1]
    return "".join(ch for ch in s if ch.isalnum())


def title_key(title: str, artist: str) -> str:
    """``title|artist``, both folded: two songs with the same key are the same song."""
    return f"{fold_name(title)}|{fold_name(artist)}"


def artist_key(artist: str) -> str:
    """The folded artist name (artist exclusion and spacing compare these)."""
    return fold_name(artist)


def _nth(items: Any, i: int) -> Any:
    """``items[i]``, or an empty list past its end."""
    return items[i] if isinstance(items, list) and i < len(items) else []


def song_tag_scores(payload: Mapping[str, Any]) -> dict[str, dict[str, float]]:
    """``{dim: {tag: score}}`` from a payload's or document's ``tags`` (missing dims absent)."""
    out: dict[str, dict[str, float]] = {}
    for dim, items in (payload.get("tags") or {}).items():
        out[dim] = {}
        for it in items or []:
            if isinstance(it, Mapping) and "tag" in it:
                out[dim][str(it["tag"])] = float(it.get("score", 1.0))
    return out


@dataclass
class SongRecord:
    """One song as songlens knows it.

    ``tags`` maps each dimension to ``[{tag, en, score, evidence}]`` sorted by score;
    ``audio_features`` is :meth:`songlens.content.features.AudioFeatures.to_dict`;
    ``language`` is ``{primary, scores, source}``; ``timeline`` is the audio tags over time
    (:func:`songlens.content.tagging.timeline.tag_timeline`; None when the audio model gives
    none); ``instruments`` the instruments heard, ``[{name, zh, en, score, evidence, timeline}]``
    (:mod:`songlens.content.tagging.instruments`); ``voice`` the vocal presence
    (:meth:`songlens.content.tagging.voice.Voice.to_dict`, None without an audio tagger);
    ``lyrics_lines`` the lyrics as sung, ``[{text, language}]``; ``warnings`` say
    what decoding could not read (a truncated or damaged file kept in part); ``release_date`` is
    ``YYYY[-MM[-DD]]`` as the catalogue or the file's tags gave it (None: unknown);
    ``tag_probs`` (audio model → tag → probability), ``source_path``, ``text_source`` (the text
    excerpt the text model reads, for re-embedding with another model:
    :mod:`songlens.catalog.text_vectors`) and ``audio_file`` (the kept audio file: ``{sha256, ext,
    size}``, see :mod:`songlens.catalog.audio_files`; None when none is kept) are kept in the
    store but not shown in the document.
    """

    song_id: str
    title: str
    artist: str
    album: str | None = None
    duration_s: float = 0.0
    tags: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    audio_features: dict[str, Any] = field(default_factory=dict)
    language: dict[str, Any] = field(default_factory=dict)
    keywords: list[str] = field(default_factory=list)
    sentiment: float = 0.0
    audio_hash: str = ""
    source: dict[str, Any] = field(default_factory=dict)
    models: dict[str, Any] = field(default_factory=dict)
    tag_probs: dict[str, dict[str, float]] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    release_date: str | None = None
    ingested_at: float | None = None
    updated_at: float | None = None
    source_path: str | None = None
    audio_file: dict[str, Any] | None = None
    timeline: dict[str, Any] | None = None
    lyrics_lines: list[dict[str, Any]] = field(default_factory=list)
    instruments: list[dict[str, Any]] = field(default_factory=list)
    voice: dict[str, Any] | None = None
    text_source: dict[str, Any] = field(default_factory=dict)

    @property
    def primary_language(self) -> str | None:
        return self.language.get("primary")

    @property
    def released_at(self) -> float | None:
        """When the song counts as released (unix seconds): the release date, read against the
        first ingestion (:func:`songlens.content.release_date.released_at`)."""
        return released_at(self.release_date, self.ingested_at)

    def tag_names(self, dim: str) -> list[str]:
        return [t["tag"] for t in self.tags.get(dim, [])]

    def to_document(self) -> dict[str, Any]:
        """What clients see (``GET /v1/songs/{id}``)."""
        return {k: getattr(self, k) for k in DOC_FIELDS}

    def to_payload(self) -> dict[str, Any]:
        """What the store keeps: the document, the index copies and the store-only fields. The
        tags' evidence goes to its own field (:data:`EVIDENCE_FIELD`, packed by the store), so
        that ``tags`` holds names and scores only."""
        payload = self.to_document()
        payload["tags"] = {d: [{k: v for k, v in t.items() if k != "evidence"} for t in items]
                           for d, items in self.tags.items()}
        payload[EVIDENCE_FIELD] = {d: [t.get("evidence", []) for t in items]
                                   for d, items in self.tags.items()}
        payload["language"] = self.primary_language
        payload["language_detail"] = self.language
        payload["title_key"] = title_key(self.title, self.artist)
        payload["artist_key"] = artist_key(self.artist)
        for d in DIMENSIONS:
            payload[tag_field(d)] = self.tag_names(d)
        for f in FLOAT_FIELDS:
            value = self.audio_features.get(f)
            if isinstance(value, int | float):
                payload[f] = float(value)
        for f in KEYWORD_FEATURES:
            if self.audio_features.get(f) is not None:
                payload[f] = self.audio_features[f]
        payload[INSTRUMENT_FIELD] = [i["name"] for i in self.instruments]
        payload["tag_probs"] = self.tag_probs
        payload["updated_at"] = self.updated_at
        if self.source_path:
            payload["source_path"] = self.source_path
        if self.audio_file:
            payload["audio_file"] = self.audio_file
            payload["audio_sha256"] = self.audio_file["sha256"]
        if self.text_source:
            payload["text_source"] = self.text_source
        return payload

    @classmethod
    def from_payload(cls, payload: Mapping[str, Any]) -> SongRecord:
        """The record behind a stored payload (fields a partial payload lacks get defaults)."""
        language = payload.get("language_detail") or {"primary": payload.get("language"),
                                                      "scores": {}}
        tags = payload.get("tags") or {}
        evidence = payload.get(EVIDENCE_FIELD)
        if evidence is not None:  # stores written before the split keep evidence in the tags
            tags = {d: [{**t, "evidence": _nth(evidence.get(d), i)}
                        for i, t in enumerate(items or [])] for d, items in tags.items()}
        return cls(song_id=str(payload.get("song_id") or ""),
                   title=payload.get("title") or "", artist=payload.get("artist") or "",
                   album=payload.get("album"), duration_s=payload.get("duration_s") or 0.0,
                   tags=tags,
                   audio_features=payload.get("audio_features") or {},
                   language=language, keywords=payload.get("keywords") or [],
                   sentiment=payload.get("sentiment") or 0.0,
                   audio_hash=payload.get("audio_hash") or "",
                   source=payload.get("source") or {}, models=payload.get("models") or {},
                   tag_probs=payload.get("tag_probs") or {},
                   warnings=list(payload.get("warnings") or []),
                   release_date=payload.get("release_date"),
                   ingested_at=payload.get("ingested_at"), updated_at=payload.get("updated_at"),
                   source_path=payload.get("source_path"),
                   audio_file=payload.get("audio_file"), timeline=payload.get("timeline"),
                   lyrics_lines=list(payload.get("lyrics_lines") or []),
                   instruments=list(payload.get("instruments") or []),
                   voice=payload.get("voice"),
                   text_source=payload.get("text_source") or {})
