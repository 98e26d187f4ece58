"""Cold-start recall strategies, independent of the vector store.

Every recaller gets its candidates through an injected
:data:`~songlens.coldstart.vector_search.SearchFn` (a Qdrant collection in the service, the numpy
:class:`~songlens.coldstart.vector_search.BruteForceIndex` in the simulator and the tests).

Strategies (all :class:`Recaller`):

* :class:`SongAudienceRecaller` — (a) a new song → the users most likely to enjoy it: search the
  users' interest vectors with the song's vector, then add the users' tag affinity for the song;
* :class:`UserNewSongsRecaller` — (b) a user → new songs, one search per interest centroid with a
  quota per interest (by its share of the user's taste), merged and de-duplicated;
* :class:`OnboardingRecaller` — (c) a new user from the onboarding choices (liked songs and tags);
* baselines for evaluation: :class:`PopularityRecaller`, :class:`RandomRecaller` (seeded),
  :class:`ContentRecaller` (one search with the long-term vector, no interests, no tags).
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from songlens.catalog.filters import SongFilter
from songlens.catalog.record import song_tag_scores
from songlens.coldstart.profiles import UserProfile
from songlens.coldstart.vector_search import SearchFn
from songlens.content.taxonomy import DIMENSIONS
from songlens.errors import InvalidInput

__all__ = [
    "RecallItem", "SongQuery", "Recaller",
    "SongAudienceRecaller", "UserNewSongsRecaller", "OnboardingRecaller",
    "PopularityRecaller", "RandomRecaller", "ContentRecaller", "allocate_quotas",
    "tag_match",
]

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class RecallItem:
    """One recalled song (or user, for song→audience): id, score, why it was recalled and the
    recall channels that found it (:mod:`songlens.coldstart.channels`; empty outside a merge)."""

    id: str
    score: float
    reason: str
    channels: tuple[str, ...] = ()


@dataclass(frozen=True)
class SongQuery:
    """A song as a query: id, payload and unit vectors by space."""

    song_id: str
    payload: Mapping[str, Any]
    vectors: Mapping[str, np.ndarray]


class Recaller(ABC):
    """A recall strategy. Metrics and the API depend only on this interface."""

    name: str = "recaller"

    @abstractmethod
    def recall(self, *, k: int, user: UserProfile | None = None, song: SongQuery | None = None,
               filter: SongFilter | None = None) -> list[RecallItem]:
        """Up to ``k`` items, best first."""


def tag_match(affinity: Mapping[str, Mapping[str, float]],
              song_tags: Mapping[str, Mapping[str, float]],
              dims: Sequence[str] = DIMENSIONS) -> float:
    """Mean over dimensions of the song's tag scores weighted by the user's normalised affinity.

    ``affinity`` is ``{dim: {tag: signed value}}`` (a profile payload's ``tag_affinity``);
    the result is in about [-1, 1] (0 when nothing overlaps).
    """
    vals = []
    for dim in dims:
        aff, st = affinity.get(dim) or {}, song_tags.get(dim) or {}
        if not aff or not st:
            continue
        m = max(abs(v) for v in aff.values()) or 1.0
        tot = sum(st.values()) or 1.0
        vals.append(sum(sc * aff.get(t, 0.0) / m for t, sc in st.items()) / tot)
    return float(np.mean(vals)) if vals else 0.0


def allocate_quotas(shares: Sequence[float], k: int, *, min_each: int = 1) -> list[int]:
    """Split ``k`` slots across sources by ``shares`` (largest remainder), ``min_each`` each."""
    n = len(shares)
    if n == 0:
        return []
    if k < n * min_each:
        return [1 if i < k else 0 for i in range(n)]
    s = np.asarray(shares, dtype=np.float64)
    s = s / s.sum() if s.sum() > 0 else np.full(n, 1.0 / n)
    rest = k - n * min_each
    raw = s * rest
    q = np.floor(raw).astype(int)
    left = rest - int(q.sum())
    for i in np.argsort(-(raw - q), kind="stable")[:left]:
        q[i] += 1
    return [int(x) + min_each for x in q]


class UserNewSongsRecaller(Recaller):
    """(b) User → new songs through each interest centroid, with per-interest quotas.

    Sources: every interest centroid (quota by its mass share) plus the short-term vector
    (``short_share`` of ``k``); each source searches ``overfetch × quota`` candidates, the
    merged list is de-duplicated (a song keeps its best source), quotas are filled in turn and
    slots a source cannot fill go to the best leftovers. With ``tag_weight > 0`` the final score
    adds the user's tag affinity for the song.
    """

    name = "multi_interest"

    def __init__(self, search: SearchFn, *, space: str = "fused", short_share: float = 0.2,
                 overfetch: int = 3, tag_weight: float = 0.0) -> None:
        self.search, self.space = search, space
        self.short_share, self.overfetch, self.tag_weight = short_share, overfetch, tag_weight

    def sources(self, user: UserProfile) -> list[tuple[str, np.ndarray, float]]:
        """(label, unit vector, share) per source."""
        src = [(f"interest:{i}", d, share * (1.0 - self.short_share))
               for i, (d, share) in enumerate(user.interests(self.space))]
        if not src:
            v = user.vector(self.space, "long")
            if v is not None:
                src.append(("long", v, 1.0 - self.short_share))
        short = user.vector(self.space, "short")
        if short is not None and self.short_share > 0:
            src.append(("short", short, self.short_share))
        return src

    def recall(self, *, k: int, user: UserProfile | None = None, song: SongQuery | None = None,
               filter: SongFilter | None = None) -> list[RecallItem]:
        if user is None:
            raise InvalidInput("UserNewSongsRecaller needs a user profile")
        src = self.sources(user)
        if not src:
            return []
        quotas = allocate_quotas([s for _, _, s in src], k)
        per_source: list[list[RecallItem]] = []
        for (label, vec, _), q in zip(src, quotas, strict=True):
            hits = self.search(vec, self.space, max(q * self.overfetch, q), filter)
            items = []
            for sid, score, payload in hits:
                if self.tag_weight:
                    score = score + self.tag_weight * tag_match(user.tag_affinity,
                                                                song_tag_scores(payload))
                items.append(RecallItem(sid, float(score), label))
            items.sort(key=lambda it: -it.score)
            per_source.append(items)
        return _merge_with_quotas(per_source, quotas, k)


def _merge_with_quotas(per_source: list[list[RecallItem]], quotas: list[int],
                       k: int) -> list[RecallItem]:
    taken: dict[str, RecallItem] = {}
    pos = [0] * len(per_source)
    # round-robin by rank so that each source fills its quota with its own best songs
    filled = [0] * len(per_source)
    progress = True
    while progress and len(taken) < k:
        progress = False
        for i, items in enumerate(per_source):
            while filled[i] < quotas[i] and pos[i] < len(items):
                it = items[pos[i]]
                pos[i] += 1
                if it.id not in taken:
                    taken[it.id] = it
                    filled[i] += 1
                    progress = True
                    break
    if len(taken) < k:  # quotas a source could not fill go to the best leftovers
        rest = sorted((it for items in per_source for it in items if it.id not in taken),
                      key=lambda it: -it.score)
        for it in rest:
            if it.id not in taken:
                taken[it.id] = it
            if len(taken) >= k:
                break
    return sorted(taken.values(), key=lambda it: -it.score)[:k]


class SongAudienceRecaller(Recaller):
    """(a) New song → audience: users whose interests (or long-term taste) match the song.

    ``user_search`` searches the users collection; each of ``user_spaces`` is a named user
    vector (``interest_0`` … ``interest_3``, ``long_fused``) compared with the song's vector in
    ``song_space``; a user's vector score is the best over spaces, then ``tag_weight`` × the
    user's tag affinity for the song (from the user payload's ``tag_affinity``) is added.
    """

    name = "song_audience"

    def __init__(self, user_search: SearchFn, *, song_space: str = "fused",
                 user_spaces: Sequence[str] = ("interest_0", "interest_1", "interest_2",
                                               "interest_3", "long_fused"),
                 tag_weight: float = 0.3, overfetch: int = 2) -> None:
        self.user_search, self.song_space = user_search, song_space
        self.user_spaces = tuple(user_spaces)
        self.tag_weight, self.overfetch = tag_weight, overfetch

    def recall(self, *, k: int, user: UserProfile | None = None, song: SongQuery | None = None,
               filter: SongFilter | None = None) -> list[RecallItem]:
        if song is None or self.song_space not in song.vectors:
            raise InvalidInput(f"SongAudienceRecaller needs a song with a {self.song_space!r} "
                               f"vector")
        v = song.vectors[self.song_space]
        st = song_tag_scores(song.payload)
        best: dict[str, tuple[float, str, Mapping[str, Any]]] = {}
        for us in self.user_spaces:
            for uid, score, payload in self.user_search(v, us, k * self.overfetch, filter):
                if uid not in best or score > best[uid][0]:
                    best[uid] = (float(score), us, payload)
        items = []
        for uid, (score, us, payload) in best.items():
            tm = tag_match(payload.get("tag_affinity") or {}, st) if self.tag_weight else 0.0
            items.append(RecallItem(uid, score + self.tag_weight * tm, f"{us}+tags"))
        items.sort(key=lambda it: -it.score)
        return items[:k]


class OnboardingRecaller(Recaller):
    """(c) New user: through the liked songs' interests and the chosen tags.

    Half the slots (``tag_share``) go to songs carrying the chosen tags (a filtered search with
    the user's long-term vector when there is one, else filter-only), ranked by tag match; the
    rest through :class:`UserNewSongsRecaller` over the onboarding interests.
    """

    name = "onboarding"

    def __init__(self, search: SearchFn, *, space: str = "fused", tag_share: float = 0.5,
                 overfetch: int = 3) -> None:
        self.search, self.space = search, space
        self.tag_share, self.overfetch = tag_share, overfetch
        self._vec = UserNewSongsRecaller(search, space=space, short_share=0.0, tag_weight=0.3,
                                         overfetch=overfetch)

    def recall(self, *, k: int, user: UserProfile | None = None, song: SongQuery | None = None,
               filter: SongFilter | None = None) -> list[RecallItem]:
        if user is None:
            raise InvalidInput("OnboardingRecaller needs a user profile")
        has_vec = bool(self._vec.sources(user))
        chosen = {d: tuple(t) for d, t in user.onboarding_tags.items() if t}
        k_tag = k if not has_vec else (round(k * self.tag_share) if chosen else 0)
        per_source, quotas = [], []
        if chosen and k_tag > 0:
            base = filter or SongFilter()
            items: dict[str, RecallItem] = {}
            for dim, tags in chosen.items():  # one search per chosen dimension, then merge
                f = base.with_(tags={dim: tags})
                vec = user.vector(self.space, "long")
                for sid, score, payload in self.search(vec, self.space, k_tag * self.overfetch,
                                                        f):
                    s = tag_match(user.tag_affinity, song_tag_scores(payload))
                    s += float(score) if vec is not None else 0.0
                    if sid not in items or s > items[sid].score:
                        items[sid] = RecallItem(sid, s, f"tags:{dim}")
            per_source.append(sorted(items.values(), key=lambda it: -it.score))
            quotas.append(k_tag)
        if has_vec and k - k_tag > 0:
            per_source.append(self._vec.recall(k=k - k_tag, user=user, filter=filter))
            quotas.append(k - k_tag)
        return _merge_with_quotas(per_source, quotas, k)


class PopularityRecaller(Recaller):
    """Baseline: the most interacted-with candidates (``popularity()`` → ``{id: count}``)."""

    name = "popularity"

    def __init__(self, candidates: Callable[[], Sequence[str]],
                 popularity: Callable[[], Mapping[str, float]]) -> None:
        self.candidates, self.popularity = candidates, popularity

    def recall(self, *, k: int, user: UserProfile | None = None, song: SongQuery | None = None,
               filter: SongFilter | None = None) -> list[RecallItem]:
        pop = self.popularity()
        excl = filter.exclude_ids if filter else frozenset()
        c = [s for s in self.candidates() if s not in excl]
        c.sort(key=lambda s: (-pop.get(s, 0.0), s))
        return [RecallItem(s, float(pop.get(s, 0.0)), "popular") for s in c[:k]]


class RandomRecaller(Recaller):
    """Baseline: ``k`` candidates uniformly at random (seeded)."""

    name = "random"

    def __init__(self, candidates: Callable[[], Sequence[str]], *, seed: int = 0) -> None:
        self.candidates = candidates
        self.rng = np.random.default_rng(seed)

    def recall(self, *, k: int, user: UserProfile | None = None, song: SongQuery | None = None,
               filter: SongFilter | None = None) -> list[RecallItem]:
        excl = filter.exclude_ids if filter else frozenset()
        c = [s for s in self.candidates() if s not in excl]
        pick = self.rng.permutation(len(c))[:k]
        return [RecallItem(c[i], 0.0, "random") for i in pick]


class ContentRecaller(Recaller):
    """Baseline: one search with the user's long-term vector (no interests, no tags)."""

    name = "content"

    def __init__(self, search: SearchFn, *, space: str = "fused") -> None:
        self.search, self.space = search, space

    def recall(self, *, k: int, user: UserProfile | None = None, song: SongQuery | None = None,
               filter: SongFilter | None = None) -> list[RecallItem]:
        if user is None:
            raise InvalidInput("ContentRecaller needs a user profile")
        v = user.vector(self.space, "long")
        if v is None:
            return []
        return [RecallItem(s, float(sc), "content") for s, sc, _ in
                self.search(v, self.space, k, filter)]
