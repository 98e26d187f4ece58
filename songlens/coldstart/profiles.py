"""User profiles over song vectors: long/short-term interest, interest centroids, affinities.

All accumulators are exponentially time-decayed sums kept "as of" the profile's reference time
``t_ref`` (the newest event seen): a new event at ``t > t_ref`` first decays everything by
``0.5 ** ((t - t_ref) / half_life)``; an out-of-order event older than ``t_ref`` enters with its
own decay instead. Long-term state uses ``long_half_life_s`` (30 days by default), the short-term
vectors ``short_half_life_s`` (1 day).

* interest vectors per space (``audio``, ``text``, ``fused``): signed sums of song vectors, each
  weighted by the event's signal weight (negative events push away, scaled by
  ``negative_scale``);
* interest centroids (NetEase "dynamic multi-interest", :mod:`songlens.coldstart.interests`):
  an online spherical k-means over positive songs, assigned in ``centroid_space``, with at most
  ``max_centroids`` centroids (fewer while the history is short with ``interest_growth``: off by
  default, it measured no better and locks early mixtures in).
  Its thresholds come from the catalogue's similarity distribution when the config carries a
  ``background`` (:class:`~songlens.coldstart.interests.SimilarityBackground`, set by the
  service from a sample of the catalogue; never stored), else from the fixed
  ``new_centroid_cos`` / ``merge_cos``. Each centroid keeps a mean in every space and a decayed
  mass;
* signed tag affinities per dimension, artist and language affinities;
* the usual tempo and energy (decayed weighted mean and spread over positive songs).

Storage: :meth:`UserProfile.to_payload` gives a JSON-ready dict; with ``include_vectors=False``
the vectors are left out and :meth:`UserProfile.named_vectors` gives them as unit vectors for a
Qdrant point (their norms stay in the payload, so :meth:`UserProfile.from_payload` rebuilds the
profile exactly up to float32 rounding). The payload records the :class:`ProfileConfig` that
built it, for information: a loaded profile goes on with the config its caller passes (the
service's current settings), so a rebuild and the live service use the same maths.

Payload version 2 stores each centroid's mean in ``centroid_space`` once, as ``interest_<i>``
(the vector song → audience recall searches); version 1 also had it as
``centroid<i>_<centroid_space>``, which is where a version-1 payload's centroids load it from.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from typing import Any

import numpy as np

from songlens.catalog.record import song_tag_scores
from songlens.coldstart.events import DEFAULT_SIGNAL_CONFIG, Event, signal_weight
from songlens.coldstart.interests import (
    Centroid,
    SimilarityBackground,
    add_to_interests,
    interest_cap,
    unit,
)
from songlens.coldstart.profile_payload import (
    PAYLOAD_VERSION,
    profile_from_payload,
    profile_to_payload,
)
from songlens.units import DAY

__all__ = ["ProfileConfig", "UserProfile", "onboarding_profile", "PAYLOAD_VERSION"]

logger = logging.getLogger(__name__)

AUDIO_STATS = ("tempo_bpm", "energy")
_MAX_PENDING = 256  # impressions tracked per listener while their window is open


@dataclass
class ProfileConfig:
    """Knobs of the profile maths (all JSON-serialisable but ``background``, a resource the
    service passes in and :meth:`to_dict` leaves out)."""

    spaces: tuple[str, ...] = ("audio", "text", "fused")
    long_half_life_s: float = 30 * DAY
    short_half_life_s: float = 1 * DAY
    negative_scale: float = 0.3
    centroid_space: str = "fused"
    max_centroids: int = 4
    new_centroid_cos: float = 0.3
    merge_cos: float = 0.55
    min_interest_share: float = 0.1
    max_artists: int = 200
    onboarding_tag_weight: float = 1.0
    interest_growth: bool = False
    #: an impression counts as "not played" (its small negative weight) unless the listener acts
    #: on the song within this long (the label window of the ranker's samples)
    impression_window_s: float = 3600.0
    signal: dict[str, Any] = field(default_factory=lambda: dict(DEFAULT_SIGNAL_CONFIG))
    background: SimilarityBackground | None = field(default=None, repr=False, compare=False)

    def to_dict(self) -> dict[str, Any]:
        d = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "background"}
        d["spaces"] = list(self.spaces)
        d["signal"] = json.loads(json.dumps(self.signal))
        return d

    @classmethod
    def from_settings(cls, settings: Any) -> ProfileConfig:
        """The config of ``coldstart`` settings (:class:`songlens.settings.ColdStartSettings`):
        half-lives in days, ``max_interests`` centroids; the rest at its defaults."""
        return cls(long_half_life_s=settings.long_half_life_days * DAY,
                   short_half_life_s=settings.short_half_life_days * DAY,
                   max_centroids=settings.max_interests,
                   impression_window_s=settings.label_window_s)

    def interest_cap(self, n_positive: int) -> int:
        """Centroids allowed after ``n_positive`` positive events."""
        if not self.interest_growth:
            return self.max_centroids
        return interest_cap(n_positive, self.max_centroids)


class UserProfile:
    """A listener's taste, updated one event at a time (see the module docstring)."""

    def __init__(self, user_id: str, config: ProfileConfig | None = None, *,
                 created_ts: float | None = None) -> None:
        self.user_id = user_id
        self.config = config or ProfileConfig()
        self.t_ref: float | None = None
        self.created_ts = created_ts
        self.n_events = 0
        self.n_positive = 0
        self.n_negative = 0
        self.long: dict[str, np.ndarray] = {}
        self.short: dict[str, np.ndarray] = {}
        self.pos_mass = 0.0  # decayed sum of positive weights (long half-life)
        self.centroids: list[Centroid] = []
        self.tag_affinity: dict[str, dict[str, float]] = {}
        self.artist_affinity: dict[str, float] = {}
        self.language_affinity: dict[str, float] = {}
        # per audio feature: [weight, weighted sum, weighted sum of squares]
        self.audio_stats: dict[str, list[float]] = {}
        self.onboarding_tags: dict[str, list[str]] = {}
        #: impressions still inside their window (song id → ts): their penalty is applied and is
        #: taken back if the listener acts on the song before the window ends
        self.pending_impressions: dict[str, float] = {}

    # -- decay -----------------------------------------------------------------------------------
    def _advance(self, ts: float) -> tuple[float, float]:
        """Move ``t_ref`` to ``ts`` if newer; return (long, short) decay of an event at ``ts``."""
        cfg = self.config
        if self.t_ref is None:
            self.t_ref = ts
            return 1.0, 1.0
        if ts <= self.t_ref:
            dt = self.t_ref - ts
            return 0.5 ** (dt / cfg.long_half_life_s), 0.5 ** (dt / cfg.short_half_life_s)
        dt = ts - self.t_ref
        fl = 0.5 ** (dt / cfg.long_half_life_s)
        fs = 0.5 ** (dt / cfg.short_half_life_s)
        for s in self.long:
            self.long[s] *= fl
        for s in self.short:
            self.short[s] *= fs
        self.pos_mass *= fl
        for c in self.centroids:
            c.mass *= fl
        for d in self.tag_affinity.values():
            for t in d:
                d[t] *= fl
        for t in self.artist_affinity:
            self.artist_affinity[t] *= fl
        for t in self.language_affinity:
            self.language_affinity[t] *= fl
        for st in self.audio_stats.values():
            st[0] *= fl
            st[1] *= fl
            st[2] *= fl
        self.t_ref = ts
        return 1.0, 1.0

    # -- updates ---------------------------------------------------------------------------------
    def update(self, event: Event, song_payload: Mapping[str, Any] | None,
               song_vectors: Mapping[str, np.ndarray] | None) -> float:
        """Fold one event into the profile; returns the signed weight applied (0 = ignored).

        Parameters
        ----------
        event : Event
            The feedback event (``event.user_id`` should be this profile's user).
        song_payload : mapping, optional
            The song's stored payload (tags, artist, language, audio_features).
        song_vectors : mapping of str to ndarray, optional
            The song's named vectors (unit length), keyed by space.
        """
        self.n_events += 1
        if self.created_ts is None:
            self.created_ts = event.ts
        ts = float(event.ts)
        self._expire_impressions(ts)
        if event.event == "impression":
            return self._impression(event.song_id, ts, song_payload, song_vectors)
        shown = self.pending_impressions.get(event.song_id)
        if shown is not None and shown <= ts:  # acted on: the impression was not "not played"
            del self.pending_impressions[event.song_id]
            self._signed(self._impression_weight(), shown, song_payload, song_vectors, sign=-1.0)
            self.n_negative -= 1
        w = signal_weight(event, self.config.signal)
        if w == 0.0:
            return 0.0
        if w > 0:
            self.n_positive += 1
        else:
            self.n_negative += 1
        fl, vecs = self._signed(w, ts, song_payload, song_vectors)
        if w > 0:
            self.pos_mass += w * fl
            if vecs:
                cfg = self.config
                add_to_interests(self.centroids, vecs, w * fl, space=cfg.centroid_space,
                                 max_centroids=cfg.interest_cap(self.n_positive),
                                 new_cos=cfg.new_centroid_cos, merge_cos=cfg.merge_cos,
                                 background=cfg.background)
        if song_payload and w > 0:
            self._update_usual(song_payload, w * fl)
        return w

    # -- impressions (曝光未点击) -----------------------------------------------------------------
    def _impression_weight(self) -> float:
        return float(self.config.signal.get("weights", {}).get("impression", 0.0))

    def _impression(self, song_id: str, ts: float, payload: Mapping[str, Any] | None,
                    vectors: Mapping[str, np.ndarray] | None) -> float:
        """An impression enters at once with its (small, negative) weight; a later event on the
        same song inside ``impression_window_s`` takes it back (:meth:`update`). Both steps use
        the impression's own time, so the sum is exact and a rebuild from the log agrees."""
        w = self._impression_weight()
        if w == 0.0:
            return 0.0
        if song_id in self.pending_impressions:  # shown again unplayed: the earlier one stands
            del self.pending_impressions[song_id]
        self.pending_impressions[song_id] = ts
        while len(self.pending_impressions) > _MAX_PENDING:  # oldest first (insertion order)
            del self.pending_impressions[next(iter(self.pending_impressions))]
        self.n_negative += 1
        self._signed(w, ts, payload, vectors)
        return w

    def _expire_impressions(self, now: float) -> None:
        """Impressions whose window ended by ``now`` are final negatives: stop tracking them."""
        win = self.config.impression_window_s
        for song, ts in list(self.pending_impressions.items()):
            if now - ts > win:
                del self.pending_impressions[song]

    def _signed(self, w: float, ts: float, payload: Mapping[str, Any] | None,
                vectors: Mapping[str, np.ndarray] | None, *, sign: float = 1.0
                ) -> tuple[float, dict[str, np.ndarray]]:
        """The linear part of an event of weight ``w`` at ``ts``: interest vectors (negatives
        scaled by ``negative_scale``) and signed affinities; ``sign=-1`` takes it back.
        Returns (long decay, vectors)."""
        fl, fs = self._advance(ts)
        wv = sign * (w if w > 0 else w * self.config.negative_scale)
        w = sign * w
        vecs = {s: np.asarray(v, dtype=np.float64) for s, v in (vectors or {}).items()
                if s in self.config.spaces and v is not None}
        for s, v in vecs.items():
            if s not in self.long:
                self.long[s] = np.zeros_like(v)
                self.short[s] = np.zeros_like(v)
            self.long[s] += wv * fl * v
            self.short[s] += wv * fs * v
        if payload:
            self._update_affinities(payload, w, fl)
        return fl, vecs

    def _update_affinities(self, payload: Mapping[str, Any], w: float, fl: float) -> None:
        for dim, tags in song_tag_scores(payload).items():
            d = self.tag_affinity.setdefault(dim, {})
            for tag, score in tags.items():
                d[tag] = d.get(tag, 0.0) + w * fl * score
        artist = payload.get("artist")
        if artist:
            self.artist_affinity[str(artist)] = self.artist_affinity.get(str(artist), 0.0) + w * fl
            if len(self.artist_affinity) > self.config.max_artists:
                keep = sorted(self.artist_affinity.items(), key=lambda kv: -abs(kv[1]))
                self.artist_affinity = dict(keep[: self.config.max_artists])
        lang = payload.get("language")
        if lang:
            self.language_affinity[str(lang)] = self.language_affinity.get(str(lang), 0.0) + w * fl

    def _update_usual(self, payload: Mapping[str, Any], a: float) -> None:
        """The usual tempo and energy: positive songs only, weighted by ``a``."""
        feats = payload.get("audio_features") or {}
        for name in AUDIO_STATS:
            x = feats.get(name)
            if x is None or not math.isfinite(float(x)):
                continue
            st = self.audio_stats.setdefault(name, [0.0, 0.0, 0.0])
            st[0] += a
            st[1] += a * float(x)
            st[2] += a * float(x) ** 2

    # -- reads -----------------------------------------------------------------------------------
    def _by_mass(self) -> list[Centroid]:
        return sorted(self.centroids, key=lambda c: -c.mass)

    def vector(self, space: str, term: str = "long") -> np.ndarray | None:
        """Unit interest vector (``term`` ``"long"`` or ``"short"``), None when unknown."""
        src = self.long if term == "long" else self.short
        return unit(src.get(space))

    def interests(self, space: str | None = None, *, min_share: float | None = None
                  ) -> list[tuple[np.ndarray, float]]:
        """Interest centroids as (unit vector in ``space``, mass share), heaviest first.

        Centroids below ``min_share`` of the total mass (a one-off outlier) are left out.
        """
        space = space or self.config.centroid_space
        share_min = self.config.min_interest_share if min_share is None else min_share
        total = sum(c.mass for c in self.centroids)
        out = []
        for c in self._by_mass():
            d = c.direction(space)
            share = c.mass / total if total > 0 else 0.0
            if d is not None and share >= share_min:
                out.append((d, share))
        return out

    def tag_affinity_norm(self, dim: str) -> dict[str, float]:
        """Tag affinities of one dimension scaled to [-1, 1] by the largest magnitude."""
        d = self.tag_affinity.get(dim) or {}
        m = max((abs(v) for v in d.values()), default=0.0)
        return {t: v / m for t, v in d.items()} if m > 0 else {}

    def top_tags(self, n: int = 5, dim: str | None = None) -> list[tuple[str, str, float]]:
        """Strongest positive tag affinities as ``(dim, tag, value)``, best first."""
        items = [(d, t, v) for d, tags in self.tag_affinity.items() if dim in (None, d)
                 for t, v in tags.items() if v > 0]
        items.sort(key=lambda x: -x[2])
        return items[:n]

    def usual(self, name: str) -> tuple[float, float] | None:
        """(mean, spread) of an audio feature over liked songs, None when too little data."""
        st = self.audio_stats.get(name)
        if not st or st[0] < 1e-6:
            return None
        mean = st[1] / st[0]
        var = max(st[2] / st[0] - mean * mean, 0.0)
        return mean, math.sqrt(var)

    # -- serialisation ---------------------------------------------------------------------------
    def _centroid_vector_name(self, i: int, space: str) -> str:
        return f"interest_{i}" if space == self.config.centroid_space else f"centroid{i}_{space}"

    def named_vectors(self) -> dict[str, np.ndarray]:
        """Unit vectors for a Qdrant point: ``long_<space>``, ``short_<space>``, and each
        centroid's mean (heaviest first): ``interest_<i>`` in ``centroid_space``,
        ``centroid<i>_<space>`` in the other spaces. Zero vectors are left out."""
        out: dict[str, np.ndarray] = {}
        for term, src in (("long", self.long), ("short", self.short)):
            for s, v in src.items():
                u = unit(v)
                if u is not None:
                    out[f"{term}_{s}"] = u.astype(np.float32)
        for i, c in enumerate(self._by_mass()):
            for s in c.means:
                d = c.direction(s)
                if d is not None:
                    out[self._centroid_vector_name(i, s)] = d.astype(np.float32)
        return out

    def to_payload(self, *, include_vectors: bool = True) -> dict[str, Any]:
        """JSON-ready state. Without vectors, pair it with :meth:`named_vectors` (norms are
        kept here so nothing is lost)."""
        return profile_to_payload(self, include_vectors=include_vectors)

    @classmethod
    def from_payload(cls, payload: Mapping[str, Any],
                     vectors: Mapping[str, np.ndarray] | None = None, *,
                     config: ProfileConfig | None = None) -> UserProfile:
        """Rebuild a profile from :meth:`to_payload` (and, without ``v`` lists, the vectors of
        :meth:`named_vectors`); ``config`` is the maths it goes on with."""
        return profile_from_payload(cls, payload, vectors, config=config)


def onboarding_profile(user_id: str, *, tags: Mapping[str, Sequence[str]],
                       liked_song_vectors: Sequence[Mapping[str, np.ndarray]] = (),
                       liked_song_payloads: Sequence[Mapping[str, Any]] | None = None,
                       ts: float, canonical: Callable[[str, str], str] | None = None,
                       config: ProfileConfig | None = None) -> UserProfile:
    """A new user's profile from onboarding choices (recall case c).

    Parameters
    ----------
    tags : mapping of dimension to list of tags
        Chosen tags (e.g. ``{"style": ["电子"], "language": ["粤语"]}``); each gets affinity
        ``onboarding_tag_weight`` (language tags also feed the language affinity).
    liked_song_vectors, liked_song_payloads : sequences
        Songs picked as liked, folded in as ``like`` events (payloads optional, same order).
    ts : float
        Onboarding time (unix seconds).
    canonical : callable, optional
        ``(dim, tag) -> canonical tag`` (e.g. ``Taxonomy.canonical``) that raises
        :class:`~songlens.errors.UnknownTag` for tags outside the taxonomy.
    """
    p = UserProfile(user_id, config, created_ts=ts)
    wt = p.config.onboarding_tag_weight
    p._advance(ts)
    for dim, chosen in tags.items():
        for tag in chosen:
            t = canonical(dim, tag) if canonical else tag
            p.onboarding_tags.setdefault(dim, []).append(t)
            d = p.tag_affinity.setdefault(dim, {})
            d[t] = d.get(t, 0.0) + wt
            if dim == "language":
                p.language_affinity[t] = p.language_affinity.get(t, 0.0) + wt
    payloads = list(liked_song_payloads or [])
    for i, vecs in enumerate(liked_song_vectors):
        pl = payloads[i] if i < len(payloads) else None
        sid = str(pl.get("song_id", f"liked{i}")) if pl else f"liked{i}"
        p.update(Event(user_id=user_id, song_id=sid, event="like", ts=ts), pl, vecs)
    logger.debug("onboarding profile %s: %d tags, %d liked songs", user_id,
                 sum(len(v) for v in tags.values()), len(liked_song_vectors))
    return p
