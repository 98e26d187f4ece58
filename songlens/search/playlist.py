"""Tag-based playlist generation.

The request names required tags (hard filters: any of the listed tags within a dimension, every
listed dimension), preferred tags (soft, weighted), audio attribute bounds and targets in the
vocabulary of Spotify's retired ``/recommendations`` (``min_energy``, ``target_tempo``, …), seed
songs, a diversity knob and artist spacing. The steps:

1. **Candidates**: nearest songs to the requested tag profile in the ``tags`` space (or to the
   seeds, with Qdrant's recommend query in the ``fused`` space), under the hard filters.
2. **Relevance** of each candidate: required and preferred tag scores, closeness to each
   ``target_``, similarity to the seeds.
3. **Selection** by maximal marginal relevance (``diversity`` is 1 − λ) on the fused vectors, with
   no artist twice within ``artist_spacing`` tracks.
4. **Order** (``flow``): as selected, an energy ``arc`` (rise then fall), ``rising``/``falling``
   energy, or ``harmonic`` (each next track Camelot-compatible where possible, tempo close).

When the hard filters leave fewer songs than ``length``, they are relaxed in this order and the
response says what was relaxed: attribute bounds (``min_``/``max_``) first, then required tags
dimension by dimension (theme, scene, emotion, style, language), which become preferred tags.
Exclusions, instruments and release-date bounds are never relaxed. Ties break on ``song_id``
and the optional ``seed`` only jitters equal scores, so a request always gives the same
playlist.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, field_validator, model_validator

from songlens.catalog.filters import SongFilter
from songlens.catalog.pipeline import Catalog
from songlens.content.release_date import parse_release_date, release_period
from songlens.content.taxonomy import DIMENSIONS
from songlens.errors import InvalidInput
from songlens.search.ordering import order, select_mmr
from songlens.search.prompt import dense_prompt_tags
from songlens.store import Filter, Hit

__all__ = ["PlaylistRequest", "Playlist", "PlaylistItem", "generate_playlist", "to_m3u",
           "ATTRIBUTES"]

log = logging.getLogger(__name__)

#: attribute name in requests → payload field, and the scale used to measure closeness
ATTRIBUTES: dict[str, tuple[str, float]] = {
    "tempo": ("tempo_bpm", 40.0), "energy": ("energy", 0.3), "danceability": ("danceability", 0.3),
    "valence": ("valence", 0.3), "acousticness": ("acousticness", 0.3),
    "instrumentalness": ("instrumentalness", 0.3), "loudness": ("loudness_db", 8.0),
    "speechiness": ("speechiness", 0.3),
}
RELAX_ORDER = ("bounds", "theme", "scene", "emotion", "style", "language")
#: the payload fields scoring, spacing, ordering and the items read: not the tags' evidence,
#: tag_probs or the language detail, which cost more to convert than the searches
FIELDS = ("title", "artist", "artist_key", "duration_s", "camelot",
          *(f for f, _ in ATTRIBUTES.values()),
          *(f"tags.{d}[].{k}" for d in DIMENSIONS for k in ("tag", "score")))


class PlaylistRequest(BaseModel):
    """``POST /v1/playlists``. Attribute bounds and targets are flat fields as in Spotify's API:
    ``min_tempo``, ``max_energy``, ``target_valence``, …"""

    model_config = ConfigDict(extra="allow", allow_inf_nan=False)

    tags: dict[str, list[str]] = Field(default_factory=dict,
                                       description="required tags per dimension")
    preferred: dict[str, list[str] | dict[str, float]] = Field(
        default_factory=dict, description="soft tags per dimension, a list or {tag: weight}")
    instruments: list[str] = Field(default_factory=list, max_length=12, description=(
        "instruments every track must have (id, Chinese or English name: piano, 钢琴, "
        "guitar …); never relaxed"))
    text: str | None = Field(None, max_length=500, description="a prompt mapped onto tags")
    length: int = Field(20, ge=1, le=200)
    diversity: float = Field(0.3, ge=0, le=1, description="0 = most relevant, 1 = most varied")
    artist_spacing: int = Field(3, ge=0, le=50, description="no artist twice within N tracks")
    seed_songs: list[str] = Field(default_factory=list, max_length=20)
    exclude_songs: list[str] = Field(default_factory=list, max_length=1000)
    exclude_artists: list[str] = Field(default_factory=list, max_length=200)
    released_after: str | None = Field(None, max_length=64, description=(
        "only songs released on or after this date (YYYY-MM-DD, YYYY-MM or YYYY); never relaxed"))
    released_before: str | None = Field(None, max_length=64, description=(
        "only songs released before this date (YYYY-MM-DD, YYYY-MM or YYYY); never relaxed"))
    flow: Literal["none", "arc", "rising", "falling", "harmonic"] = "none"
    seed: int = Field(0, ge=0, le=2**32 - 1, description="jitters equal scores only")

    # derived from the flat min_/max_/target_ fields; never read from the request itself
    _bounds: dict[str, tuple[float | None, float | None]] = PrivateAttr(default_factory=dict)
    _targets: dict[str, float] = PrivateAttr(default_factory=dict)

    @property
    def bounds(self) -> dict[str, tuple[float | None, float | None]]:
        return self._bounds

    @property
    def targets(self) -> dict[str, float]:
        return self._targets

    @field_validator("released_after", "released_before")
    @classmethod
    def _date(cls, v: str | None) -> str | None:
        return None if v is None else parse_release_date(v)

    @model_validator(mode="after")
    def _attributes(self) -> PlaylistRequest:
        extra = dict(self.model_extra or {})
        for key, value in extra.items():
            prefix, _, name = key.partition("_")
            if prefix not in ("min", "max", "target") or name not in ATTRIBUTES:
                allowed = ", ".join(f"min_/max_/target_{a}" for a in ATTRIBUTES)
                raise ValueError(f"unknown field {key[:40]!r}; attribute fields are {allowed}")
            if not isinstance(value, int | float) or isinstance(value, bool):
                raise ValueError(f"{key} must be a number, got {str(value)[:40]!r}")
            if not math.isfinite(value):
                raise ValueError(f"{key} must be a finite number, got {value!r}")
            if prefix == "target":
                self._targets[name] = float(value)
            else:
                lo, hi = self._bounds.get(name, (None, None))
                self._bounds[name] = (float(value), hi) if prefix == "min" else (lo, float(value))
        for name, (lo, hi) in self._bounds.items():
            if lo is not None and hi is not None and lo > hi:
                raise ValueError(f"min_{name} ({lo}) is above max_{name} ({hi})")
        return self


@dataclass
class PlaylistReasons:
    """Why a track is in: the wanted tags it carries per dimension, its value of each
    ``target_`` attribute, its best cosine to the seed songs (``fused``) and to a text prompt
    (audio space, with a text-audio model)."""

    matched_tags: dict[str, list[str]] = field(default_factory=dict)
    attributes: dict[str, float] = field(default_factory=dict)
    seed_similarity: float | None = None
    text_audio_similarity: float | None = None
    text_similarity: float | None = None


@dataclass
class PlaylistItem:
    """One track: its place, relevance ``score``, the fields ordering used, and ``reasons``."""

    position: int
    song_id: str
    score: float
    title: str | None
    artist: str | None
    duration_s: float | None
    tempo_bpm: float | None
    energy: float | None
    camelot: str | None
    reasons: PlaylistReasons


@dataclass
class Playlist:
    """The tracks in order; ``relaxed`` says which constraints were relaxed to fill it and
    ``interpreted`` what a text prompt was read as (``text_tags``, ``text_audio``)."""

    items: list[PlaylistItem]
    relaxed: list[str] = field(default_factory=list)
    interpreted: dict[str, Any] = field(default_factory=dict)


def _canonical_tags(catalog: Catalog, spec: dict[str, Any]) -> dict[str, dict[str, float]]:
    out: dict[str, dict[str, float]] = {}
    for dim_name, tags in spec.items():
        dim = catalog.taxonomy.dimension(dim_name)
        items = tags.items() if isinstance(tags, dict) else ((t, 1.0) for t in tags)
        for tag, w in items:
            out.setdefault(dim, {})[catalog.taxonomy.canonical(dim, str(tag))] = float(w)
    return out


def _prompt_tags(catalog: Catalog, text: str) -> dict[str, dict[str, float]]:
    """Tags a free-text prompt asks for, through the taxonomy lexicons (Chinese and English)."""
    from songlens.content.tagging.fusion import fuse_tags
    from songlens.content.text.analyse import analyse_text

    analysed = analyse_text(title="", artist="", album=None, lyrics=text, comments=[],
                            resources=catalog.resources)
    fused = fuse_tags([e for e in analysed.evidence if e.dimension != "language"],
                      resources=catalog.resources)
    return {d: {t.tag: round(t.score, 3) for t in ts} for d, ts in fused.items() if ts}


def _filter(required: dict[str, dict[str, float]],
            bounds: dict[str, tuple[float | None, float | None]], req: PlaylistRequest,
            instruments: tuple[str, ...] = ()) -> Filter | None:
    return SongFilter(tags={d: tuple(tags) for d, tags in required.items() if tags},
                      instruments=instruments,
                      ranges={ATTRIBUTES[name][0]: b for name, b in bounds.items()},
                      exclude_artists=tuple(req.exclude_artists),
                      exclude_ids=frozenset(req.exclude_songs) | frozenset(req.seed_songs),
                      released_after=release_period(req.released_after)[0]
                      if req.released_after else None,
                      released_before=release_period(req.released_before)[0]
                      if req.released_before else None).to_store()


def _relevance(hit: Hit, wanted: dict[str, dict[str, float]], targets: dict[str, float],
               seed_sim: float | None, text_sim: float | None = None,
               dense_sim: float | None = None) -> tuple[float, PlaylistReasons]:
    reasons = PlaylistReasons(seed_similarity=seed_sim, text_audio_similarity=text_sim,
                              text_similarity=dense_sim)
    score, weight = 0.0, 0.0
    matched = reasons.matched_tags
    song_tags = hit.payload.get("tags") or {}
    for dim, tags in wanted.items():
        have = {t["tag"]: t["score"] for t in song_tags.get(dim, [])}
        for tag, w in tags.items():
            weight += w
            if tag in have:
                score += w * float(have[tag])
                matched.setdefault(dim, []).append(tag)
    tag_part = score / weight if weight else 0.0
    fit_parts = []
    for name, target in targets.items():
        fieldname, scale = ATTRIBUTES[name]
        val = hit.payload.get(fieldname)
        if isinstance(val, int | float):
            fit_parts.append(float(np.exp(-abs(val - target) / scale)))
            reasons.attributes[name] = float(val)
        else:
            fit_parts.append(0.0)
    fit = float(np.mean(fit_parts)) if fit_parts else 0.0
    parts = [(tag_part, 1.0 if weight else 0.0), (fit, 1.0 if targets else 0.0),
             (seed_sim if seed_sim is not None else 0.0, 1.0 if seed_sim is not None else 0.0),
             (text_sim if text_sim is not None else 0.0, 1.0 if text_sim is not None else 0.0),
             (dense_sim if dense_sim is not None else 0.0, 1.0 if dense_sim is not None else 0.0)]
    total_w = sum(w for _, w in parts) or 1.0
    return sum(v * w for v, w in parts) / total_w, reasons


def _top(search: Callable[[int, float | None], list[Hit]], pool: int) -> list[Hit]:
    """The best ``pool`` hits, the same in every process: Qdrant returns equal scores in any
    order, so a tie across the cut-off widens the search (to about 8x, in one more search: each
    search is a round trip to the engine's threads, which a loaded machine makes slow), and
    ties are then broken by song id. ``search(limit, score_threshold)``: the widened search
    returns only the songs scoring at least the tied score (in the benchmark's 100k catalogue
    83-171 of 648 in most cases), so the engine reads no payload for the others, which could
    not make the cut anyway."""
    hits = search(pool + 1, None)
    if len(hits) == pool + 1 and round(hits[-1].score, 6) == round(hits[pool - 1].score, 6):
        wide = pool + 1
        while wide <= 8 * pool:  # where doubling from pool + 1 ended: the same answers
            wide *= 2
        hits = search(wide, round(hits[pool - 1].score, 6) - 1e-6)
    hits.sort(key=lambda h: (-round(h.score, 6), h.key))
    return hits[:pool]


def _candidates(catalog: Catalog, flt: Filter | None, wanted: dict[str, dict[str, float]],
                seeds: list[Hit], pool: int, text_audio: np.ndarray | None = None,
                text_dense: np.ndarray | None = None) -> list[Hit]:
    # a text-audio model (CLAP): songs whose sound matches the prompt join the tag/seed pool;
    # a multilingual text model: songs whose lyrics and comments match it join too
    by_prompt = [(space, vec) for space, vec in (("audio", text_audio), ("text", text_dense))
                 if vec is not None]
    if not by_prompt:
        return _tag_or_seed_candidates(catalog, flt, wanted, seeds, pool)
    hits = _tag_or_seed_candidates(catalog, flt, wanted, seeds, pool) if wanted or seeds else []
    seen = {h.key for h in hits}
    for space, vec in by_prompt:
        found = _top(lambda n, floor, s=space, v=vec: catalog.store.search(
            catalog.spec, using=s, vector=v, limit=n, filter=flt, fields=(),
            score_threshold=floor), pool)
        hits += [h for h in found if h.key not in seen]
        seen |= {h.key for h in found}
    return hits


def _tag_or_seed_candidates(catalog: Catalog, flt: Filter | None,
                            wanted: dict[str, dict[str, float]], seeds: list[Hit], pool: int
                            ) -> list[Hit]:
    if seeds:
        positive = [s.vectors["fused"] for s in seeds]
        return _top(lambda n, floor: catalog.store.recommend(
            catalog.spec, using="fused", positive=positive, limit=n, filter=flt, fields=(),
            score_threshold=floor), pool)
    if wanted:
        q = catalog.tag_query_vector(wanted)
        return _top(lambda n, floor: catalog.store.search(
            catalog.spec, using="tags", vector=q, limit=n, filter=flt, fields=(),
            score_threshold=floor), pool)
    hits, _ = catalog.store.scroll(catalog.spec, filter=flt, limit=pool, fields=())
    return hits


def generate_playlist(catalog: Catalog, req: PlaylistRequest) -> Playlist:
    required = _canonical_tags(catalog, req.tags)
    preferred = _canonical_tags(catalog, req.preferred)
    instruments = tuple(dict.fromkeys(catalog.resources.instruments.get(i).name
                                      for i in req.instruments))
    interpreted: dict[str, Any] = {}
    text_audio = text_dense = None
    if req.text:
        clap = catalog.models.audio.encode_text([req.text])
        if clap is not None:
            text_audio = np.asarray(clap[0], dtype=np.float32)
            interpreted["text_audio"] = catalog.models.audio.name
        prompt = _prompt_tags(catalog, req.text)
        if catalog.models.text.multilingual:
            text_dense = catalog.models.text.encode_queries([req.text])[0]
            interpreted["text_dense"] = catalog.models.text.name
            for dim, tags in dense_prompt_tags(catalog, text_dense).items():
                for tag, w in tags.items():
                    prompt.setdefault(dim, {})[tag] = max(prompt.get(dim, {}).get(tag, 0), w)
        interpreted["text_tags"] = prompt
        for dim, tags in prompt.items():
            for tag, w in tags.items():
                preferred.setdefault(dim, {})[tag] = max(preferred.get(dim, {}).get(tag, 0), w)
    if not (required or preferred or req.seed_songs or req.targets or req.bounds or instruments
            or text_audio is not None or text_dense is not None):
        raise InvalidInput("a playlist needs tags, preferred tags, instruments, a text prompt, "
                           "seed songs or attribute targets")
    seeds = [catalog.get_hit(s, with_vectors=["fused"], fields=()) for s in req.seed_songs]
    bounds = dict(req.bounds)
    relaxed: list[str] = []
    pool = max(4 * req.length, 50)
    rng = np.random.default_rng(req.seed)
    for step in ("none", *RELAX_ORDER):
        if step == "bounds" and bounds:
            bounds = {}
            relaxed.append("attribute bounds (min_/max_)")
        elif step in DIMENSIONS and step in required:
            for tag, w in required.pop(step).items():
                preferred.setdefault(step, {})[tag] = max(w, preferred.get(step, {}).get(tag, 0))
            relaxed.append(f"required {step} tags (now preferred)")
        elif step != "none":
            continue
        wanted = {d: dict(required.get(d, {})) | preferred.get(d, {})
                  for d in set(required) | set(preferred)}
        flt = _filter(required, bounds, req, instruments)
        hits = _candidates(catalog, flt, wanted, seeds, pool, text_audio, text_dense)
        if len(hits) >= req.length or step == RELAX_ORDER[-1]:
            break
    # candidates come as keys only (a tie can widen the search 8x): payloads and the vectors
    # scoring needs are fetched once, for the final pool
    needed = ["fused"] + ["audio"] * (text_audio is not None) + ["text"] * (text_dense
                                                                            is not None)
    full = {h.key: h for h in catalog.store.get(catalog.spec, [h.key for h in hits],
                                                with_vectors=needed, fields=FIELDS)}
    hits = [full[h.key] for h in hits if h.key in full]
    seed_vecs = [s.vectors["fused"] for s in seeds]
    scored = []
    for h in hits:
        sim = max(float(h.vectors["fused"] @ v) for v in seed_vecs) if seed_vecs else None
        text_sim = float(h.vectors["audio"] @ text_audio) if text_audio is not None else None
        dense_sim = float(h.vectors["text"] @ text_dense) if text_dense is not None else None
        rel, reasons = _relevance(h, wanted, req.targets, sim, text_sim, dense_sim)
        scored.append((h, rel + 1e-6 * rng.random(), reasons))
    scored.sort(key=lambda x: (-x[1], x[0].key))
    picked, spacing_relaxed = select_mmr(scored, req.length, req.diversity,
                                         req.artist_spacing)
    if spacing_relaxed:
        relaxed.append(f"artist spacing ({req.artist_spacing})")
    ordered = order(picked, req.flow)
    items = [PlaylistItem(position=i + 1, song_id=h.key, score=rel, title=h.payload.get("title"),
                          artist=h.payload.get("artist"), duration_s=h.payload.get("duration_s"),
                          tempo_bpm=h.payload.get("tempo_bpm"), energy=h.payload.get("energy"),
                          camelot=h.payload.get("camelot"), reasons=reasons)
             for i, (h, rel, reasons) in enumerate(ordered)]
    return Playlist(items=items, relaxed=relaxed, interpreted=interpreted)


def to_m3u(playlist: Playlist, paths: dict[str, str] | None = None) -> str:
    """Extended M3U: ``#EXTINF:seconds,Artist - Title`` then the file path (or a
    ``songlens:song/<id>`` URI for songs with no known file)."""
    lines = ["#EXTM3U"]
    for it in playlist.items:
        secs = int(round(it.duration_s or -1))
        lines.append(f"#EXTINF:{secs},{it.artist or ''} - {it.title or ''}")
        lines.append((paths or {}).get(it.song_id) or f"songlens:song/{it.song_id}")
    return "\n".join(lines) + "\n"
