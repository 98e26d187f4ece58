"""Response and request shapes of the v1 HTTP contract (for validation and the OpenAPI docs).

Search and cold start return dataclasses with full-precision numbers; the response models here
decide what clients see: field names, rounding (:data:`Score`, :func:`rounded`), and which
optional reasons are left out when they do not apply. The CLI's ``--json`` output goes through
the same models (:func:`to_json`), so both speak one shape.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal
from urllib.parse import quote

from pydantic import BaseModel, ConfigDict, Field, PlainSerializer, model_validator

from songlens.catalog.record import SongRecord
from songlens.content.tagging.explain import explain, with_explanations
from songlens.search.similar import EXAMPLE_SPACES, SimilarFilters

__all__ = ["TagOut", "SongOut", "SongSummaryOut", "BrowseOut", "FacetOut", "HealthOut",
           "SimilarItem", "SimilarOut", "SimilarQuery", "PlaylistOut",
           "ErrorOut", "Score", "audio_url", "rounded", "song_document", "to_json"]


def rounded(digits: int) -> Any:
    """A float shown to ``digits`` decimals."""
    return Annotated[float, PlainSerializer(lambda v: round(v, digits), return_type=float)]


#: scores and cosines: 4 decimals
Score = rounded(4)


def _absent(value: Any) -> bool:
    return value is None or value == {} or value == []


def omitted_when_empty(description: str) -> Any:
    """An optional field left out of the response when it is None or empty."""
    return Field(None, description=description, exclude_if=_absent)


def to_json(model: type[BaseModel], obj: Any) -> dict[str, Any]:
    """``obj`` (dataclasses, dicts) as ``model`` shows it over HTTP."""
    return model.model_validate(obj, from_attributes=True).model_dump(mode="json")


class TagOut(BaseModel):
    tag: str
    en: str
    score: float
    evidence: list[dict[str, Any]] = Field(description="source (audio, lyrics, comments, "
                                           "metadata, clap), cue, p, details, and why: a "
                                           "sentence saying what was seen")


class TimelineOut(BaseModel):
    hop_s: float = Field(description="seconds from one patch to the next")
    tags: list[str] = Field(description="the audio model's strongest tags, strongest first")
    values: list[list[float]] = Field(description="per tag, its activation (0–1) per patch")


class PresenceOut(BaseModel):
    hop_s: float = Field(description="seconds from one patch to the next")
    values: list[float] = Field(description="score (0–1) per patch")
    segments: list[list[float]] = Field(default_factory=list,
                                        description="[start_s, end_s] where it is heard")
    share: float | None = Field(None, description="share of patches where it is heard")


class InstrumentOut(BaseModel):
    name: str = Field(description="instrument id (filter and playlist value)")
    zh: str
    en: str
    score: float = Field(description="calibrated probability that it plays (0–1)")
    evidence: list[dict[str, Any]] = Field(default_factory=list)
    timeline: PresenceOut


class VoiceOut(BaseModel):
    probability: float = Field(description="probability that the audio has a voice")
    present: bool
    share: float = Field(description="share of patches with a voice")
    threshold: float
    evidence: dict[str, Any] = Field(default_factory=dict)
    timeline: PresenceOut


class LyricLineOut(BaseModel):
    text: str
    language: str | None = Field(description="语种 tag of the line; null without letters")


class SongOut(BaseModel):
    model_config = ConfigDict(extra="allow")
    song_id: str
    title: str
    artist: str
    album: str | None = None
    duration_s: float
    tags: dict[str, list[TagOut]] = Field(description="keyed by language, style, scene, "
                                          "emotion, theme; each sorted by score")
    audio_features: dict[str, Any] = Field(description="tempo_bpm, key, mode, camelot, "
                                           "loudness_db, energy, …; see the README")
    language: dict[str, Any] = Field(description="primary, scores (what the lyrics say), source")
    keywords: list[str] = Field(default_factory=list)
    sentiment: float | None = None
    audio_hash: str | None = None
    source: dict[str, Any] = Field(default_factory=dict,
                                   description="the upload's sample_rate and channels")
    models: dict[str, Any] = Field(default_factory=dict, description="models that analysed it")
    release_date: str | None = Field(None, description="YYYY-MM-DD, YYYY-MM or YYYY, as the "
                                     "metadata or the file's tags gave it")
    released_at: float | None = Field(
        None, description="unix seconds the song counts as released (new-song windows and "
        "released_after/released_before read it): the release date, or the first ingestion "
        "when there is none; see the README")
    ingested_at: float | None = Field(None, description="unix seconds of the first ingestion")
    audio_url: str | None = Field(None, description="where the kept audio file plays "
                                  "(HTTP range requests); null when no audio is kept")
    timeline: TimelineOut | None = Field(None, description="audio tags over the song; null "
                                         "when the audio model gives none")
    lyrics_lines: list[LyricLineOut] = Field(default_factory=list,
                                             description="the lyrics as sung, per line")
    instruments: list[InstrumentOut] = Field(default_factory=list, description=(
        "instruments heard (Chinese and English names), strongest first, with where they play"))
    voice: VoiceOut | None = Field(None, description="whether and where the audio has a voice; "
                                   "null when the audio model gives none")
    warnings: list[str] | None = omitted_when_empty(
        "what decoding could not read: a truncated or damaged file kept in part "
        "(source.header_duration_s is what its header declared)")
    replaced: list[str] | None = omitted_when_empty(
        "songs with the same audio under other ids, replaced by this one (POST only)")
    kept: bool | None = omitted_when_empty(
        "on_existing was 'keep' and the song was already stored: nothing was written (POST "
        "only, with status 200)")


class TopTagOut(BaseModel):
    tag: str
    en: str | None = None
    score: float


class SongSummaryOut(BaseModel):
    """A song in a list: enough to scan, play and pick."""

    song_id: str
    title: str
    artist: str
    top_tags: dict[str, list[TopTagOut]] = Field(description="the best 3 tags per dimension")
    tempo_bpm: float | None = None
    key: str | None = Field(None, description='tonic, e.g. "A"')
    mode: str | None = Field(None, description="major or minor")
    camelot: str | None = None
    energy: float | None = None
    duration_s: float | None = None
    audio_url: str | None = Field(None, description="null when no audio is kept")
    ingested_at: float | None = None


class FacetOut(BaseModel):
    tag: str
    en: str
    count: int = Field(description="songs matching the filters that carry this tag")


class BrowseOut(BaseModel):
    total: int = Field(description="songs matching the filters")
    songs: list[SongSummaryOut] = Field(description="this page, newest first")
    facets: dict[str, list[FacetOut]] = Field(description="per dimension, most frequent first")


class IndexStateOut(BaseModel):
    unindexed: int = Field(description="points written since the last index build (after a "
                           "restart: beyond those the last build indexed)")
    indexed_points: int | None = Field(description="points the last build indexed")
    building: bool = Field(description="a build is running (out of process) right now")
    last_build_at: float | None = Field(description="when the last build finished (Unix time)")
    last_build_s: float | None = Field(description="how long the last build took, copy to swap")
    last_swap_s: float | None = Field(description="how long the last swap made requests wait")
    builds: int = Field(description="builds finished since the server started")
    last_error: str | None
    hnsw_ef: dict[str, int] | None = Field(
        None, description="per named vector, the search beam width in use: with "
        "qdrant.hnsw_ef auto, the narrowest that reached qdrant.recall_target when measured "
        "after the last build (null: not measured: with auto, 128 until a build measures one)")
    recall: dict[str, float] | None = Field(
        None, description="per named vector, the recall@10 against exact search that width "
        "reached on a sample of the collection's own points")
    float32: list[str] | None = Field(
        None, description="named vectors searched in float32 although they have int8 copies: "
        "with those, no width reached the recall target")


class HealthOut(BaseModel):
    status: Literal["ok"]
    songs: int
    store: str = Field(description="edge (embedded) or server")
    audio_model: str
    text_model: str
    index: dict[str, IndexStateOut] | None = Field(
        None, description="embedded store: each collection's search index, kept current in the "
        "background (a Qdrant server indexes by itself: null)")


class SimilarReasons(BaseModel):
    matched: str = Field(description="the space that matched: fused, audio, text, tags, "
                         "versions, hybrid, "
                         "audio+segments (a clip), text+lyrics[+audio] (a text)")
    similarity: Score
    shared_tags: dict[str, list[str]] | None = omitted_when_empty(
        "tags the query song and this song both carry, per dimension")
    tempo_diff_bpm: rounded(1) | None = omitted_when_empty("tempo difference to the query song")
    key_compatible: bool | None = omitted_when_empty(
        "the keys mix: same Camelot code, a neighbour, or the relative major/minor")
    covers: bool | None = omitted_when_empty(
        "space=versions only: true when the versions similarity says this is another version "
        "of the query song (a cover, another arrangement, key or tempo)")


class SimilarItem(BaseModel):
    song_id: str
    score: Score
    title: str | None
    artist: str | None
    reasons: SimilarReasons


class SimilarOut(BaseModel):
    items: list[SimilarItem]


class SimilarQuery(BaseModel):
    """JSON body of ``POST /v1/similar``: a ``text``, or ``positive``/``negative`` example songs."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)
    text: str | None = Field(None, min_length=1, max_length=2000)
    positive: list[str] = Field(default_factory=list, max_length=50)
    negative: list[str] = Field(default_factory=list, max_length=50)
    space: Literal[EXAMPLE_SPACES] = Field(  # type: ignore[valid-type]
        "fused", description="the space example songs are compared in; a text query always "
        "searches the text and lyrics spaces (and the audio space with a CLAP model)")
    k: int = Field(10, ge=1, le=200)
    filters: SimilarFilters = Field(default_factory=SimilarFilters)

    @model_validator(mode="after")
    def _one_query(self) -> SimilarQuery:
        if not self.text and not self.positive:
            raise ValueError("give a 'text' or 'positive' example songs")
        return self


class PlaylistReasons(BaseModel):
    matched_tags: dict[str, list[str]] | None = omitted_when_empty(
        "the wanted (required, preferred or prompt) tags the song carries, per dimension")
    attributes: dict[str, rounded(3)] | None = omitted_when_empty(
        "the song's value of each target_ attribute")
    seed_similarity: Score | None = omitted_when_empty("best cosine to a seed song (fused)")
    text_audio_similarity: Score | None = omitted_when_empty(
        "cosine to the text prompt in the audio space (with a CLAP model)")
    text_similarity: Score | None = omitted_when_empty(
        "cosine of the song's text vector (lyrics, comments) to the text prompt (with a "
        "multilingual text model)")


class PlaylistItem(BaseModel):
    position: int
    song_id: str
    score: Score = Field(description="relevance: tags, targets, seeds and prompt combined")
    title: str | None
    artist: str | None
    duration_s: float | None
    tempo_bpm: float | None
    energy: float | None
    camelot: str | None
    reasons: PlaylistReasons


class PlaylistOut(BaseModel):
    items: list[PlaylistItem]
    relaxed: list[str] = Field(description="constraints relaxed to fill the playlist, in order")
    interpreted: dict[str, Any] = Field(description="what a text prompt was read as: text_tags "
                                        "({dim: {tag: weight}}), text_audio and text_dense "
                                        "(the models)")


def audio_url(song_id: str, has_audio: bool) -> str | None:
    """Where a song's kept audio is served (None when it has none)."""
    return f"/v1/songs/{quote(song_id, safe='')}/audio" if has_audio else None


def song_document(record: SongRecord) -> dict:
    """The song document as ``GET /v1/songs/{id}`` shows it: each piece of tag evidence with
    a sentence saying ``why``, and where the audio plays."""
    doc = record.to_document()
    instruments = [{**i, "evidence": [{**ev, "why": explain(ev, tag_en=str(i.get("en", "")))}
                                      for ev in i.get("evidence") or []]}
                   for i in doc.get("instruments") or []]
    return doc | {"tags": with_explanations(doc["tags"]), "instruments": instruments,
                  "audio_url": audio_url(record.song_id, bool(record.audio_file))}


class ErrorDetail(BaseModel):
    code: str
    message: str


class ErrorOut(BaseModel):
    error: ErrorDetail


def inline_json_schema(model: type[BaseModel]) -> dict[str, Any]:
    """``model``'s JSON schema with its ``$defs`` written in place, for an OpenAPI ``requestBody``
    given by hand (a ``#/$defs/...`` reference does not resolve inside the OpenAPI document)."""
    schema = model.model_json_schema()
    defs = schema.pop("$defs", {})

    def walk(node: Any) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/$defs/"):
                rest = {k: v for k, v in node.items() if k != "$ref"}
                return walk({**defs[ref.rsplit("/", 1)[-1]], **rest})
            return {k: walk(v) for k, v in node.items()}
        if isinstance(node, list):
            return [walk(v) for v in node]
        return node

    return walk(schema)
