"""Side features for the ranker: (user profile, song, context) → ``{name: value}``.

Names carry their namespace; categorical features have value 1.0 and the category in the name
(``"fresh=1-3d"``), numeric ones a value in about [-1, 1]. Names starting with ``time:`` are the
drifting "time" features the live-streaming talk freezes during online updates (hour, weekday and
crosses with them). ID features (``song=``, ``artist=``, ``user=``…) are the rare ones that
feature admission and dynamic L1 are for. :func:`hash_feature` maps names to indices with a
deterministic hash (blake2b), never Python's salted ``hash()``.

Feature groups added for issue 17, each behind a :class:`FeatureConfig` switch so the benchmark
can measure it alone (names start with the group's prefix; ``artist`` is older):

* ``xt:`` tag crosses — per dimension and per tag of the song, the song's tag score × the
  listener's normalised affinity for that tag (so each tag learns its own weight);
* ``rt:`` real-time counters — the song's plays, completes and early skips in the last hour
  and day (:class:`songlens.ranking.counters.RecentCounts`, as of the impression);
* ``rec:`` recency of new songs — hours since release (``released_at``, as ``fresh=``) in fine
  buckets, crossed with the plays so far, and an exponential decay;
* ``pct:`` catalogue percentiles — when the profile's config carries a
  :class:`~songlens.coldstart.interests.SimilarityBackground`: how much closer the song is to
  the listener's best interest (and long-term taste) than the catalogue sample is, as a
  percentile of the sample's cosines, centred on the catalogue mean. A raw cosine means little
  where every song sits at 0.4–0.7; "closer than 95 % of the catalogue" reads the same for
  every listener and space;
* ``artist`` — the listener's affinity for the song's artist (``artist_aff``, ``artist_known``)
  and the artist id.
"""

from __future__ import annotations

import hashlib
import math
import time
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np

from songlens.catalog.record import song_tag_scores
from songlens.coldstart.profiles import UserProfile
from songlens.content.taxonomy import DIMENSIONS
from songlens.units import DAY

__all__ = ["FeatureConfig", "build_features", "hash_feature", "TIME_PREFIX"]

TIME_PREFIX = "time:"


@dataclass
class FeatureConfig:
    spaces: tuple[str, ...] = ("audio", "text", "fused")
    cos_edges: tuple[float, ...] = (0.0, 0.2, 0.35, 0.5, 0.65, 0.8)
    age_edges_days: tuple[float, ...] = (1.0, 3.0, 7.0, 30.0, 90.0)
    pop_edges: tuple[float, ...] = (1, 3, 10, 30, 100, 300)
    rate_edges: tuple[float, ...] = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6)
    rate_prior: float = 0.3
    rate_prior_strength: float = 5.0
    tempo_floor: float = 6.0
    energy_floor: float = 0.05
    id_features: bool = True
    crosses: bool = True
    artist: bool = True
    tag_crosses: bool = True
    realtime: bool = True
    recency: bool = True
    percentiles: bool = True
    pct_edges: tuple[float, ...] = (0.5, 0.8, 0.9, 0.95, 0.98)
    recency_edges_h: tuple[float, ...] = (1.0, 3.0, 6.0, 12.0, 24.0, 48.0, 96.0, 168.0)


def _bucket(x: float, edges: tuple[float, ...]) -> int:
    for i, e in enumerate(edges):
        if x < e:
            return i
    return len(edges)


@lru_cache(maxsize=1 << 18)
def hash_feature(name: str, n_bits: int) -> int:
    """Deterministic index in ``[0, 2**n_bits)`` for a feature name (blake2b, 8 bytes)."""
    h = hashlib.blake2b(name.encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(h, "little") & ((1 << n_bits) - 1)


def _top(scores: Mapping[str, float]) -> str | None:
    return max(scores.items(), key=lambda kv: kv[1])[0] if scores else None


def build_features(*, profile: UserProfile | None, song_payload: Mapping[str, Any],
                   song_vectors: Mapping[str, np.ndarray] | None, ts: float | None = None,
                   hour: int | None = None, weekday: int | None = None,
                   song_counts: Mapping[str, int] | None = None,
                   recent_counts: Mapping[str, Mapping[str, int]] | None = None,
                   config: FeatureConfig | None = None) -> dict[str, float]:
    """Features of showing ``song`` to ``profile``'s user at time ``ts``.

    Parameters
    ----------
    profile : UserProfile or None
        None (or an empty profile) gives the "unknown user" variants (``…=na``).
    song_payload : mapping
        Stored song payload (``song_id``, ``artist``, ``tags``, ``audio_features``,
        ``ingested_at``, ``language``).
    song_vectors : mapping of str to ndarray
        The song's unit vectors by space.
    ts : float, optional
        Request time, unix seconds (default now). ``hour`` / ``weekday`` default to UTC of ``ts``;
        pass the listener's local ones when known.
    song_counts : mapping, optional
        The song's interaction counts per event type (``FeedbackLog.song_counts``), as of ``ts``.
    recent_counts : mapping, optional
        ``{window: {event: n}}`` (:meth:`RecentCounts.snapshot`), as of ``ts``.
    """
    cfg = config or FeatureConfig()
    ts = time.time() if ts is None else float(ts)
    f: dict[str, float] = {"bias": 1.0}
    vecs = song_vectors or {}
    sid = str(song_payload.get("song_id", ""))

    # user-song similarity per space: long, short term, best interest centroid
    for s in cfg.spaces:
        v = vecs.get(s)
        for term in ("long", "short"):
            u = profile.vector(s, term) if profile is not None else None
            if u is None or v is None:
                f[f"cos_{term}_{s}=na"] = 1.0
                continue
            c = float(np.dot(u, v))
            f[f"cos_{term}_{s}"] = c
            f[f"cos_{term}_{s}_b={_bucket(c, cfg.cos_edges)}"] = 1.0
        ints = profile.interests(s) if profile is not None else []
        if ints and v is not None:
            c = max(float(np.dot(d, v)) for d, _ in ints)
            f[f"cos_int_{s}"] = c
            f[f"cos_int_{s}_b={_bucket(c, cfg.cos_edges)}"] = 1.0
    if profile is not None:
        f[f"n_interests={len(profile.interests())}"] = 1.0

    # tag affinity matches per dimension
    stags = song_tag_scores(song_payload)
    for dim in DIMENSIONS:
        st = stags.get(dim) or {}
        aff = profile.tag_affinity_norm(dim) if profile is not None else {}
        if not st or not aff:
            f[f"tag_{dim}=na"] = 1.0
            continue
        tot = sum(st.values()) or 1.0
        m = sum(sc * aff.get(t, 0.0) for t, sc in st.items()) / tot
        f[f"tag_{dim}"] = m
        f[f"tag_{dim}_b={_bucket(m, (-0.3, 0.0, 0.1, 0.3, 0.6))}"] = 1.0

    # audio fit against the user's usual tempo / energy
    af = song_payload.get("audio_features") or {}
    for name, floor in (("tempo_bpm", cfg.tempo_floor), ("energy", cfg.energy_floor)):
        usual = profile.usual(name) if profile is not None else None
        x = af.get(name)
        if usual is None or x is None or not math.isfinite(float(x)):
            f[f"{name}_z=na"] = 1.0
            continue
        z = abs(float(x) - usual[0]) / max(usual[1], floor)
        f[f"{name}_z={_bucket(z, (0.5, 1.0, 2.0, 3.0))}"] = 1.0
        f[f"{name}_fit"] = math.exp(-0.5 * z * z)

    # language
    lang = song_payload.get("language")
    laff = profile.language_affinity if profile is not None else {}
    if lang and laff:
        m = max(abs(v) for v in laff.values()) or 1.0
        a = laff.get(str(lang), 0.0) / m
        f["lang_aff"] = a
        f[f"lang_match={int(_top(laff) == lang)}"] = 1.0
    else:
        f["lang_match=na"] = 1.0

    # freshness
    # the song's age since release (``released_at``: its release date, or its first ingestion
    # when it has none; payloads written before release dates existed hold only the latter)
    ing = song_payload.get("released_at", song_payload.get("ingested_at"))
    if ing is not None:
        age = max(ts - float(ing), 0.0) / DAY
        f[f"fresh={_bucket(age, cfg.age_edges_days)}"] = 1.0
    else:
        f["fresh=na"] = 1.0
        age = None

    # popularity prior from interaction counts (as of ts)
    cnt = song_counts or {}
    n_imp = cnt.get("impression", 0)
    n_play = cnt.get("play", 0) + cnt.get("complete", 0)
    n_pos = cnt.get("complete", 0) + cnt.get("like", 0) + cnt.get("collect", 0)
    n_neg = cnt.get("skip", 0) + cnt.get("dislike", 0) + cnt.get("block", 0)
    f[f"pop={_bucket(n_play, cfg.pop_edges)}"] = 1.0
    k = cfg.rate_prior_strength
    denom = max(n_imp, n_play) + k
    rate = (cnt.get("complete", 0) + k * cfg.rate_prior) / denom
    f[f"crate={_bucket(rate, cfg.rate_edges)}"] = 1.0
    f["crate"] = (rate - cfg.rate_prior) * min(1.0, math.log1p(n_imp) / 3.0) * 3.0
    f["posneg"] = (n_pos - n_neg) / (n_pos + n_neg + k)

    # artist affinity
    artist = song_payload.get("artist")
    aaff = profile.artist_affinity if profile is not None else {}
    if not cfg.artist:
        pass
    elif artist and str(artist) in aaff:
        m = max(abs(v) for v in aaff.values()) or 1.0
        f["artist_aff"] = aaff[str(artist)] / m
        f["artist_known=1"] = 1.0
    else:
        f["artist_known=0"] = 1.0

    if cfg.percentiles and profile is not None:
        _percentiles(f, profile, vecs, cfg.pct_edges)
    if cfg.tag_crosses and profile is not None:
        _tag_crosses(f, profile, stags)
    if cfg.realtime:
        _realtime(f, recent_counts)
    if cfg.recency and age is not None:
        h = age * 24.0
        b = _bucket(h, cfg.recency_edges_h)
        f[f"rec:age_h={b}"] = 1.0
        f[f"rec:age_h={b}|pop={_bucket(n_play, cfg.pop_edges)}"] = 1.0
        f["rec:decay"] = math.exp(-age / 3.0)

    # time of day (frozen during online updates)
    tm = time.gmtime(ts)
    h = tm.tm_hour if hour is None else int(hour)
    wd = tm.tm_wday if weekday is None else int(weekday)
    daypart = ("night", "morning", "afternoon", "evening")[(h // 6) % 4]
    f[f"{TIME_PREFIX}hour={h}"] = 1.0
    f[f"{TIME_PREFIX}weekday={wd}"] = 1.0
    f[f"{TIME_PREFIX}daypart={daypart}"] = 1.0

    # crosses
    s_style = _top(stags.get("style") or {})
    s_scene = _top(stags.get("scene") or {})
    s_emo = _top(stags.get("emotion") or {})
    if cfg.crosses:
        if profile is not None:
            u_style = profile.top_tags(1, dim="style")
            u_emo = profile.top_tags(1, dim="emotion")
            if u_style and s_style:
                f[f"x:ustyle={u_style[0][1]}|sstyle={s_style}"] = 1.0
            if u_emo and s_emo:
                f[f"x:uemo={u_emo[0][1]}|semo={s_emo}"] = 1.0
            if laff and lang:
                f[f"x:ulang={_top(laff)}|slang={lang}"] = 1.0
        if s_scene:
            f[f"{TIME_PREFIX}x:daypart={daypart}|scene={s_scene}"] = 1.0

    # ID features (rare: admission + dynamic L1 decide when they count)
    if cfg.id_features:
        if sid:
            f[f"song={sid}"] = 1.0
        if artist and cfg.artist:
            f[f"artist={artist}"] = 1.0
        if profile is not None:
            f[f"user={profile.user_id}"] = 1.0
            if s_style:
                f[f"x:user={profile.user_id}|sstyle={s_style}"] = 1.0
    return f


def _tag_crosses(f: dict[str, float], profile: UserProfile,
                 stags: Mapping[str, Mapping[str, float]]) -> None:
    """``xt:<dim>=<tag>``: song tag score × the listener's normalised affinity for the tag."""
    for dim in DIMENSIONS:
        st = stags.get(dim) or {}
        if not st:
            continue
        aff = profile.tag_affinity_norm(dim)
        for tag, score in st.items():
            a = aff.get(tag, 0.0)
            if a:
                f[f"xt:{dim}={tag}"] = float(score) * a


def _realtime(f: dict[str, float], recent: Mapping[str, Mapping[str, int]] | None) -> None:
    """``rt:``: plays in each window (log buckets) and the smoothed complete and skip rates."""
    for w, c in (recent or {}).items():
        plays = c.get("play", 0) + c.get("complete", 0)
        done, skips = c.get("complete", 0), c.get("skip", 0)
        f[f"rt:plays_{w}={_bucket(plays, (1, 3, 10, 30, 100))}"] = 1.0
        if plays + skips:
            f[f"rt:crate_{w}"] = (done + 1.0) / (plays + 2.0) - 0.5
            f[f"rt:srate_{w}"] = (skips + 1.0) / (plays + skips + 2.0) - 0.5


def _percentiles(f: dict[str, float], profile: UserProfile, vecs: Mapping[str, np.ndarray],
                 edges: tuple[float, ...]) -> None:
    """``pct:``: the song's percentile among the catalogue sample by centred cosine to the
    listener's best interest (``pct:int``) and long-term taste (``pct:long``)."""
    bg = profile.config.background
    sv = bg.view(vecs.get(bg.space)) if bg is not None else None
    if bg is None or sv is None:
        return
    total = sum(c.mass for c in profile.centroids)
    share_min = profile.config.min_interest_share
    dirs = {"int": [bg.view(c.means.get(bg.space)) for c in profile.centroids
                    if total > 0 and c.mass / total >= share_min],
            "long": [bg.view(profile.long.get(bg.space))]}
    for name, ds in dirs.items():
        best = None
        for d in ds:
            if d is not None:
                p = float(np.mean(bg.sample @ d < float(sv @ d)))
                best = p if best is None else max(best, p)
        if best is not None:
            f[f"pct:{name}"] = 2.0 * best - 1.0
            f[f"pct:{name}_b={_bucket(best, edges)}"] = 1.0
