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
Exclusions are never relaxed. Ties break on ``song_id`` and the optional ``seed`` only jitters
equal scores, so a request always gives the same playlist.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, model_validator

from songlens.catalog.pipeline import Catalog
from songlens.content.taxonomy import DIMENSIONS
from songlens.errors import InvalidInput
from songlens.store import Filter, Hit, Match, Range

__all__ = ["PlaylistRequest", "Playlist", "generate_playlist", "ATTRIBUTES", "camelot_step"]

log = logging.getLogger(__name__)

#: attribute name in requests → payload field, and the scale used to measure closeness
ATTRIBUTES: dict[str, tuple[str, float]] = {
    "tempo": ("tempo_bpm", 40.0), "energy": ("energy", 0.3), "danceability": ("danceability", 0.3),
    "valence": ("valence", 0.3), "acousticness": ("acousticness", 0.3),
    "instrumentalness": ("instrumentalness", 0.3), "loudness": ("loudness_db", 8.0),
    "speechiness": ("speechiness", 0.3),
}
RELAX_ORDER = ("bounds", "theme", "scene", "emotion", "style", "language")


class PlaylistRequest(BaseModel):
    """``POST /v1/playlists``. Attribute bounds and targets are flat fields as in Spotify's API:
    ``min_tempo``, ``max_energy``, ``target_valence``, …"""

    model_config = ConfigDict(extra="allow")

    tags: dict[str, list[str]] = Field(default_factory=dict,
                                       description="required tags per dimension")
    preferred: dict[str, list[str] | dict[str, float]] = Field(
        default_factory=dict, description="soft tags per dimension, a list or {tag: weight}")
    text: str | None = Field(None, max_length=500, description="a prompt mapped onto tags")
    length: int = Field(20, ge=1, le=200)
    diversity: float = Field(0.3, ge=0, le=1, description="0 = most relevant, 1 = most varied")
    artist_spacing: int = Field(3, ge=0, le=50, description="no artist twice within N tracks")
    seed_songs: list[str] = Field(default_factory=list, max_length=20)
    exclude_songs: list[str] = Field(default_factory=list, max_length=1000)
    exclude_artists: list[str] = Field(default_factory=list, max_length=200)
    flow: Literal["none", "arc", "rising", "falling", "harmonic"] = "none"
    seed: int = 0

    # derived from the flat min_/max_/target_ fields; never read from the request itself
    _bounds: dict[str, tuple[float | None, float | None]] = PrivateAttr(default_factory=dict)
    _targets: dict[str, float] = PrivateAttr(default_factory=dict)

    @property
    def bounds(self) -> dict[str, tuple[float | None, float | None]]:
        return self._bounds

    @property
    def targets(self) -> dict[str, float]:
        return self._targets

    @model_validator(mode="after")
    def _attributes(self) -> PlaylistRequest:
        extra = dict(self.model_extra or {})
        for key, value in extra.items():
            prefix, _, name = key.partition("_")
            if prefix not in ("min", "max", "target") or name not in ATTRIBUTES:
                allowed = ", ".join(f"min_/max_/target_{a}" for a in ATTRIBUTES)
                raise ValueError(f"unknown field {key!r}; attribute fields are {allowed}")
            if not isinstance(value, int | float) or isinstance(value, bool):
                raise ValueError(f"{key} must be a number, got {value!r}")
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
class Playlist:
    items: list[dict[str, Any]]
    relaxed: list[str] = field(default_factory=list)
    interpreted: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"items": self.items, "relaxed": self.relaxed, "interpreted": self.interpreted}


def camelot_step(a: str | None, b: str | None) -> int:
    """0 for the same Camelot key, 1 for a harmonic neighbour (±1 same letter, or relative
    major/minor), 2 otherwise (or unknown)."""
    if not a or not b:
        return 2
    try:
        na, la, nb, lb = int(a[:-1]), a[-1], int(b[:-1]), b[-1]
    except (ValueError, IndexError):
        return 2
    if (na, la) == (nb, lb):
        return 0
    if (la == lb and (na - nb) % 12 in (1, 11)) or (na == nb and la != lb):
        return 1
    return 2


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


def _filter(catalog: Catalog, required: dict[str, dict[str, float]],
            bounds: dict[str, tuple[float | None, float | None]], req: PlaylistRequest) -> Filter:
    must: list[Any] = [Match(f"tag_{d}", tuple(tags)) for d, tags in required.items() if tags]
    for name, (lo, hi) in bounds.items():
        must.append(Range(ATTRIBUTES[name][0], gte=lo, lte=hi))
    must_not = []
    if req.exclude_artists:
        from songlens.catalog.pipeline import title_key

        must_not.append(Match("artist_key", tuple(title_key("", a).strip("|")
                                                  for a in req.exclude_artists)))
    return Filter(must=tuple(must), must_not=tuple(must_not),
                  exclude_keys=tuple(req.exclude_songs) + tuple(req.seed_songs))


def _relevance(hit: Hit, wanted: dict[str, dict[str, float]], targets: dict[str, float],
               seed_sim: float | None, text_sim: float | None = None
               ) -> tuple[float, dict[str, Any]]:
    reasons: dict[str, Any] = {}
    score, weight = 0.0, 0.0
    matched: dict[str, list[str]] = {}
    song_tags = hit.payload.get("tags") or {}
    for dim, tags in wanted.items():
        have = {t["tag"]: t["score"] for t in song_tags.get(dim, [])}
        for tag, w in tags.items():
            weight += w
            if tag in have:
                score += w * float(have[tag])
                matched.setdefault(dim, []).append(tag)
    tag_part = score / weight if weight else 0.0
    if matched:
        reasons["matched_tags"] = matched
    fit_parts = []
    for name, target in targets.items():
        fieldname, scale = ATTRIBUTES[name]
        val = hit.payload.get(fieldname)
        if isinstance(val, int | float):
            fit_parts.append(float(np.exp(-abs(val - target) / scale)))
            reasons.setdefault("attributes", {})[name] = round(float(val), 3)
        else:
            fit_parts.append(0.0)
    fit = float(np.mean(fit_parts)) if fit_parts else 0.0
    parts = [(tag_part, 1.0 if weight else 0.0), (fit, 1.0 if targets else 0.0),
             (seed_sim if seed_sim is not None else 0.0, 1.0 if seed_sim is not None else 0.0),
             (text_sim if text_sim is not None else 0.0, 1.0 if text_sim is not None else 0.0)]
    total_w = sum(w for _, w in parts) or 1.0
    rel = sum(v * w for v, w in parts) / total_w
    if seed_sim is not None:
        reasons["seed_similarity"] = round(seed_sim, 4)
    if text_sim is not None:
        reasons["text_audio_similarity"] = round(text_sim, 4)
    return rel, reasons


def _top(search: Callable[[int], list[Hit]], pool: int) -> list[Hit]:
    """The best ``pool`` hits, the same in every process: Qdrant returns equal scores in any
    order, so a tie across the cut-off widens the search until it is settled (up to 8x), and
    ties are then broken by song id."""
    limit = pool + 1
    while True:
        hits = search(limit)
        tied = len(hits) == limit and round(hits[-1].score, 6) == round(hits[pool - 1].score, 6)
        if not tied or limit > 8 * pool:
            break
        limit *= 2
    hits.sort(key=lambda h: (-round(h.score, 6), h.key))
    return hits[:pool]


def _candidates(catalog: Catalog, flt: Filter, wanted: dict[str, dict[str, float]],
                seeds: list[Hit], pool: int, text_audio: np.ndarray | None = None) -> list[Hit]:
    if text_audio is None:
        return _tag_or_seed_candidates(catalog, flt, wanted, seeds, pool)
    # a text-audio model (CLAP): songs whose sound matches the prompt join the tag/seed pool
    by_sound = _top(lambda n: catalog.store.search(catalog.spec, using="audio", vector=text_audio,
                                                   limit=n, filter=flt, fields=()), pool)
    if not (wanted or seeds):
        return by_sound
    hits = _tag_or_seed_candidates(catalog, flt, wanted, seeds, pool)
    seen = {h.key for h in hits}
    return hits + [h for h in by_sound if h.key not in seen]


def _tag_or_seed_candidates(catalog: Catalog, flt: Filter, wanted: dict[str, dict[str, float]],
                            seeds: list[Hit], pool: int) -> list[Hit]:
    if seeds:
        positive = [s.vectors["fused"] for s in seeds]
        return _top(lambda n: catalog.store.recommend(catalog.spec, using="fused",
                                                      positive=positive, limit=n, filter=flt,
                                                      fields=()), pool)
    if wanted:
        q = catalog.tag_query_vector(wanted)
        return _top(lambda n: catalog.store.search(catalog.spec, using="tags", vector=q,
                                                   limit=n, filter=flt, fields=()), pool)
    hits, _ = catalog.store.scroll(catalog.spec, filter=flt, limit=pool, fields=())
    return hits


def _order(items: list[tuple[Hit, float, dict[str, Any]]], flow: str
           ) -> list[tuple[Hit, float, dict[str, Any]]]:
    def energy(h: Hit) -> float:
        return float(h.payload.get("energy") or 0.0)

    if flow == "rising":
        return sorted(items, key=lambda x: (energy(x[0]), x[0].key))
    if flow == "falling":
        return sorted(items, key=lambda x: (-energy(x[0]), x[0].key))
    if flow == "arc":  # low → peak in the second third → low
        by = sorted(items, key=lambda x: (energy(x[0]), x[0].key))
        up, down = by[0::2], by[1::2]
        return up + down[::-1]
    if flow == "harmonic" and items:
        # greedy nearest-key chains from several starts; keep the one with the fewest clashes
        starts = range(len(items)) if len(items) <= 40 else range(20)
        return min((_harmonic_chain(items, s) for s in starts), key=_chain_cost)
    return items


def _step_cost(a: dict[str, Any], b: dict[str, Any]) -> tuple[int, float]:
    return (camelot_step(a.get("camelot"), b.get("camelot")),
            abs(float(a.get("tempo_bpm") or 0) - float(b.get("tempo_bpm") or 0)))


def _harmonic_chain(items: list, start: int) -> list:
    rest = list(items)
    out = [rest.pop(start)]
    while rest:
        last = out[-1][0].payload
        nxt = min(rest, key=lambda x: (*_step_cost(last, x[0].payload), x[0].key))
        rest.remove(nxt)
        out.append(nxt)
    return out


def _chain_cost(chain: list) -> tuple[int, int, float]:
    steps = [_step_cost(a[0].payload, b[0].payload) for a, b in zip(chain, chain[1:],
                                                                    strict=False)]
    return (sum(k > 1 for k, _ in steps), sum(k for k, _ in steps), sum(t for _, t in steps))


def _select(cands: list[tuple[Hit, float, dict[str, Any]]], length: int, diversity: float,
            spacing: int) -> tuple[list[tuple[Hit, float, dict[str, Any]]], bool]:
    """Greedy MMR with artist spacing; returns (picked, spacing_relaxed).

    Each step takes the candidate with the best ``λ·relevance − (1−λ)·max cosine to the picked
    songs`` (``fused`` vectors; 0 before the first pick or without a vector). The running maximum
    is kept per candidate and updated with one matrix-vector product per pick. ``cands`` is
    sorted, so ties keep the first (by id)."""
    lam = 1.0 - diversity
    n = len(cands)
    rel = np.array([r for _, r, _ in cands], dtype=np.float64)
    artists = [h.payload.get("artist_key") or None for h, _, _ in cands]
    has_vec = np.array([bool(h.vectors) and "fused" in h.vectors for h, _, _ in cands])
    vecs = np.stack([np.asarray(h.vectors["fused"], dtype=np.float32) for h, _, _ in cands
                     if h.vectors and "fused" in h.vectors]) if has_vec.any() else None
    rows = np.cumsum(has_vec) - 1  # candidate → row of ``vecs``
    max_sim = np.full(n, -np.inf)
    left = np.ones(n, dtype=bool)
    picked: list[int] = []
    relaxed = False
    while left.any() and len(picked) < length:
        recent = {artists[i] for i in picked[-spacing:]} - {None} if spacing else set()
        allowed = left & np.array([a is None or a not in recent for a in artists])
        if not allowed.any():
            allowed, relaxed = left, True
        sim = np.where(np.isneginf(max_sim), 0.0, max_sim)
        score = np.where(allowed, lam * rel - (1 - lam) * sim, -np.inf)
        best = int(np.argmax(score))
        left[best] = False
        picked.append(best)
        if vecs is not None and has_vec[best]:
            dots = (vecs @ vecs[rows[best]]).astype(np.float64)
            max_sim[has_vec] = np.maximum(max_sim[has_vec], dots)
    return [cands[i] for i in picked], relaxed


def generate_playlist(catalog: Catalog, req: PlaylistRequest) -> Playlist:
    required = _canonical_tags(catalog, req.tags)
    preferred = _canonical_tags(catalog, req.preferred)
    interpreted: dict[str, Any] = {}
    text_audio = None
    if req.text:
        clap = catalog.models.audio.encode_text([req.text])
        if clap is not None:
            text_audio = np.asarray(clap[0], dtype=np.float32)
            interpreted["text_audio"] = catalog.models.audio.name
        prompt = _prompt_tags(catalog, req.text)
        interpreted["text_tags"] = prompt
        for dim, tags in prompt.items():
            for tag, w in tags.items():
                preferred.setdefault(dim, {})[tag] = max(preferred.get(dim, {}).get(tag, 0), w)
    if not (required or preferred or req.seed_songs or req.targets or req.bounds
            or text_audio is not None):
        raise InvalidInput("a playlist needs tags, preferred tags, a text prompt, seed songs "
                           "or attribute targets")
    seeds = [catalog.get_hit(s, with_vectors=True) for s in req.seed_songs]
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
        flt = _filter(catalog, required, bounds, req)
        hits = _candidates(catalog, flt, wanted, seeds, pool, text_audio)
        if len(hits) >= req.length or step == RELAX_ORDER[-1]:
            break
    # candidates come as keys only (a tie can widen the search 8x): payloads and the vectors
    # scoring needs are fetched once, for the final pool
    needed = ["fused", "audio"] if text_audio is not None else ["fused"]
    full = {h.key: h for h in catalog.store.get(catalog.spec, [h.key for h in hits],
                                                with_vectors=needed)}
    hits = [full[h.key] for h in hits if h.key in full]
    seed_vecs = [s.vectors["fused"] for s in seeds]
    scored = []
    for h in hits:
        sim = max(float(h.vectors["fused"] @ v) for v in seed_vecs) if seed_vecs else None
        text_sim = float(h.vectors["audio"] @ text_audio) if text_audio is not None else None
        rel, reasons = _relevance(h, wanted, req.targets, sim, text_sim)
        scored.append((h, rel + 1e-6 * rng.random(), reasons))
    scored.sort(key=lambda x: (-x[1], x[0].key))
    picked, spacing_relaxed = _select(scored, req.length, req.diversity, req.artist_spacing)
    if spacing_relaxed:
        relaxed.append(f"artist spacing ({req.artist_spacing})")
    ordered = _order(picked, req.flow)
    items = [{"position": i + 1, "song_id": h.key, "score": round(rel, 4),
              "title": h.payload.get("title"), "artist": h.payload.get("artist"),
              "duration_s": h.payload.get("duration_s"),
              "tempo_bpm": h.payload.get("tempo_bpm"), "energy": h.payload.get("energy"),
              "camelot": h.payload.get("camelot"), "reasons": reasons}
             for i, (h, rel, reasons) in enumerate(ordered)]
    return Playlist(items=items, relaxed=relaxed, interpreted=interpreted)


def to_m3u(playlist: Playlist, paths: dict[str, str] | None = None) -> str:
    """Extended M3U: ``#EXTINF:seconds,Artist - Title`` then the file path (or a
    ``songlens:song/<id>`` URI for songs with no known file)."""
    lines = ["#EXTM3U"]
    for it in playlist.items:
        secs = int(round(it.get("duration_s") or -1))
        lines.append(f"#EXTINF:{secs},{it.get('artist') or ''} - {it.get('title') or ''}")
        lines.append((paths or {}).get(it["song_id"]) or f"songlens:song/{it['song_id']}")
    return "\n".join(lines) + "\n"
