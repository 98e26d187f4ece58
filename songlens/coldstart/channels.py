"""Recall channels and their merge with quotas (multi-channel recall, 多路召回).

A channel turns one listener into scored songs and names itself on every item:

* ``content`` (:class:`ContentChannel`) — any content :class:`~songlens.coldstart.recall.Recaller`
  (multi-interest vectors, onboarding tags): the only channel that can recall a song nobody has
  played yet;
* ``collaborative`` (:class:`CollaborativeChannel`) — ALS on the feedback log
  (:mod:`songlens.coldstart.collaborative`): songs the listeners who share this listener's
  plays finished; a song enters once enough listeners played it;
* ``relation`` (:class:`RelationChannel`) — metadata relations: other songs of the artists and
  albums of the listener's liked songs, found with store payload filters.

:func:`merge_channels` fills each channel's quota (its share of ``k``) with its own best songs,
gives slots a channel cannot fill to the others, and orders the result by reciprocal-rank fusion.
Every merged item keeps the channels that recalled it (``channels``, the one it was taken for
first) and that channel's ``reason``.
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from songlens.catalog.filters import SongFilter
from songlens.catalog.record import artist_key
from songlens.coldstart.collaborative import CollaborativeModel
from songlens.coldstart.profiles import UserProfile
from songlens.coldstart.recall import Recaller, RecallItem, allocate_quotas
from songlens.coldstart.vector_search import SearchFn

__all__ = ["CHANNELS", "Listener", "Channel", "ContentChannel", "CollaborativeChannel",
           "RelationChannel", "merge_channels"]

logger = logging.getLogger(__name__)

CHANNELS: tuple[str, ...] = ("content", "collaborative", "relation")
#: reciprocal-rank fusion constant (Cormack et al. 2009)
RRF_K = 60.0

PayloadsFn = Callable[[Sequence[str]], Mapping[str, Mapping[str, Any]]]


@dataclass(frozen=True)
class Listener:
    """What the channels know of one listener: the profile and the positive history
    (``{song_id: confidence}``, oldest first, from the feedback log)."""

    profile: UserProfile
    history: Mapping[str, float] = field(default_factory=dict)


class Channel(ABC):
    """One recall channel; items carry ``channels=(self.name,)``."""

    name: str = "channel"

    @abstractmethod
    def recall(self, *, listener: Listener, k: int,
               filter: SongFilter | None = None) -> list[RecallItem]:
        """Up to ``k`` songs, best first."""

    def _tag(self, items: Sequence[RecallItem]) -> list[RecallItem]:
        return [replace(it, channels=(self.name,)) for it in items]


class ContentChannel(Channel):
    """A content recaller (vectors and tags) as a channel."""

    name = "content"

    def __init__(self, recaller: Recaller) -> None:
        self.recaller = recaller

    def recall(self, *, listener: Listener, k: int,
               filter: SongFilter | None = None) -> list[RecallItem]:
        return self._tag(self.recaller.recall(k=k, user=listener.profile, filter=filter))


def _windowed(f: SongFilter | None) -> bool:
    return f is not None and (f.released_after is not None or f.ingested_after is not None)


class CollaborativeChannel(Channel):
    """ALS recall. ``model()`` gives the current model (None before the first fit).

    With a time window in the filter (new songs) the candidates are the window's songs
    (``search(None, space, pool_limit, filter)``: a filtered scroll) that are in the model;
    otherwise every model song is scored and the best ``overfetch × k`` are checked against
    the filter on their payloads (``payloads(ids)``).
    """

    name = "collaborative"

    def __init__(self, model: Callable[[], CollaborativeModel | None], search: SearchFn,
                 payloads: PayloadsFn, *, space: str = "fused", pool_limit: int = 5000,
                 overfetch: int = 4) -> None:
        self.model, self.search, self.payloads = model, search, payloads
        self.space, self.pool_limit, self.overfetch = space, pool_limit, overfetch

    def recall(self, *, listener: Listener, k: int,
               filter: SongFilter | None = None) -> list[RecallItem]:
        model = self.model()
        if model is None or not listener.history or k <= 0:
            return []
        exclude = filter.exclude_ids if filter is not None else frozenset()
        if _windowed(filter):
            pool = [s for s, _, _ in self.search(None, self.space, self.pool_limit, filter)
                    if s in model]
            if not pool:
                return []
            recs = model.recommend(listener.history, k, candidates=pool, exclude=exclude)
        else:
            recs = model.recommend(listener.history, k * self.overfetch, exclude=exclude)
            if filter:
                pls = self.payloads([s for s, _ in recs])
                recs = [(s, sc) for s, sc in recs if s in pls and filter.matches(s, pls[s])]
        return [RecallItem(s, sc, "als", (self.name,)) for s, sc in recs[:k]]


class RelationChannel(Channel):
    """Other songs of the artists and albums behind the listener's history.

    The ``max_seeds`` most recent history songs are read (``payloads``); each artist (album)
    is weighted by the confidence of its seed songs; one filtered search per relation kind
    (``SongFilter.artists`` / ``SongFilter.albums``, the listener's long-term vector ordering
    the hits when there is one). A song's score is its artist's (album's) share of the seed
    weight plus ``cos_weight`` × its cosine.
    """

    name = "relation"

    def __init__(self, search: SearchFn, payloads: PayloadsFn, *, space: str = "fused",
                 max_seeds: int = 50, max_related: int = 20, overfetch: int = 3,
                 cos_weight: float = 0.1) -> None:
        self.search, self.payloads, self.space = search, payloads, space
        self.max_seeds, self.max_related = max_seeds, max_related
        self.overfetch, self.cos_weight = overfetch, cos_weight

    def relations(self, history: Mapping[str, float]) -> dict[str, dict[str, float]]:
        """``{"artist": {name: weight share}, "album": {...}}`` of the recent history."""
        seeds = list(history.items())[-self.max_seeds:]
        pls = self.payloads([s for s, _ in seeds])
        out: dict[str, dict[str, float]] = {"artist": {}, "album": {}}
        for sid, w in seeds:
            pl = pls.get(sid) or {}
            for kind in out:
                name = pl.get(kind)
                if isinstance(name, str) and name:
                    out[kind][name] = out[kind].get(name, 0.0) + float(w)
        for kind, d in out.items():
            tot = sum(d.values()) or 1.0
            top = sorted(d.items(), key=lambda kv: -kv[1])[: self.max_related]
            out[kind] = {n: v / tot for n, v in top}
        return out

    def recall(self, *, listener: Listener, k: int,
               filter: SongFilter | None = None) -> list[RecallItem]:
        if not listener.history or k <= 0:
            return []
        rel = self.relations(listener.history)
        base = filter or SongFilter()
        vec = listener.profile.vector(self.space, "long")
        best: dict[str, RecallItem] = {}
        for kind, names in rel.items():
            if not names:
                continue
            f = base.with_(artists=tuple(names)) if kind == "artist" else base.with_(
                albums=tuple(names))
            for sid, cos, pl in self.search(vec, self.space, k * self.overfetch, f):
                name = pl.get(kind)
                w = names.get(name, 0.0) if kind == "album" else max(
                    (v for n, v in names.items() if _same_artist(n, pl)), default=0.0)
                score = w + (self.cos_weight * float(cos) if vec is not None else 0.0)
                if sid not in best or score > best[sid].score:
                    best[sid] = RecallItem(sid, score, f"{kind}:{name or pl.get('artist')}",
                                           (self.name,))
        return sorted(best.values(), key=lambda it: -it.score)[:k]


def _same_artist(name: str, payload: Mapping[str, Any]) -> bool:
    return payload.get("artist_key", artist_key(str(payload.get("artist", "")))) == \
        artist_key(name)


def merge_channels(lists: Mapping[str, Sequence[RecallItem]], quotas: Mapping[str, float],
                   k: int) -> list[RecallItem]:
    """Merge channel lists into ``k`` songs with quotas.

    ``quotas``: a share per channel name (channels absent or at 0 are not used). Each channel
    with items gets ``allocate_quotas`` slots by its share and fills them, in turn, with its
    best songs not taken yet; slots left over go to the best remaining songs by fused score.
    The fused score is reciprocal-rank fusion over every channel that recalled the song; the
    result is ordered by it. Each item's ``channels`` lists every channel that recalled it,
    the one it was taken for first.
    """
    names = [n for n in lists if quotas.get(n, 0.0) > 0 and lists[n]]
    if k <= 0 or not names:
        return []
    fused: dict[str, float] = {}
    seen_in: dict[str, list[str]] = {}
    for n in names:
        for rank, it in enumerate(lists[n]):
            fused[it.id] = fused.get(it.id, 0.0) + 1.0 / (RRF_K + rank + 1)
            if n not in seen_in.setdefault(it.id, []):
                seen_in[it.id].append(n)
    q = allocate_quotas([quotas[n] for n in names], k)
    taken: dict[str, tuple[str, RecallItem]] = {}
    pos = dict.fromkeys(names, 0)
    filled = dict.fromkeys(names, 0)
    progress = True
    while progress and len(taken) < k:
        progress = False
        for n, quota in zip(names, q, strict=True):
            items = lists[n]
            while filled[n] < quota and pos[n] < len(items) and len(taken) < k:
                it = items[pos[n]]
                pos[n] += 1
                if it.id not in taken:
                    taken[it.id] = (n, it)
                    filled[n] += 1
                    progress = True
                    break
    if len(taken) < k:
        first = {}
        for n in names:
            for it in lists[n]:
                first.setdefault(it.id, (n, it))
        for sid in sorted(first, key=lambda s: -fused[s]):
            if len(taken) >= k:
                break
            taken.setdefault(sid, first[sid])
    out = []
    for sid, (n, it) in taken.items():
        chans = (n, *[c for c in seen_in[sid] if c != n])
        out.append(RecallItem(sid, fused[sid], it.reason, chans))
    out.sort(key=lambda it: -it.score)
    return out
