"""User → songs through the recall channels (content, collaborative, relation), merged with the
quotas of ``coldstart.channels.quotas``: new songs (``user_new_songs``) and the home feed's
recall (``home``: any catalogue song the user has not heard). Each item says which channels
recalled it."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from songlens.catalog.filters import SongFilter
from songlens.catalog.pipeline import Catalog
from songlens.catalog.record import song_tag_scores
from songlens.coldstart.channels import (
    CollaborativeChannel,
    ContentChannel,
    Listener,
    RelationChannel,
    merge_channels,
)
from songlens.coldstart.events import signal_weight
from songlens.coldstart.feedback_log import FeedbackLog
from songlens.coldstart.profiles import ProfileConfig, UserProfile
from songlens.coldstart.recall import OnboardingRecaller, RecallItem, UserNewSongsRecaller
from songlens.coldstart.user_store import UserStore
from songlens.coldstart.vector_search import SearchFn
from songlens.service.collab_fit import CollaborativeFit
from songlens.service.learning import fetch_songs
from songlens.service.results import HomeRecall, NewSongsRecall, RecalledSong
from songlens.settings import ColdStartSettings
from songlens.units import DAY

__all__ = ["ChannelRecall", "capturing", "matched_tags", "songs_recalled"]


def capturing(search: SearchFn) -> tuple[SearchFn, dict[str, Mapping[str, Any]]]:
    """``search`` that also remembers the payload of every hit (for the response items)."""
    seen: dict[str, Mapping[str, Any]] = {}

    def wrapped(vector: np.ndarray | None, space: str, k: int,
                filter: SongFilter | None = None) -> list[tuple[str, float, Mapping[str, Any]]]:
        hits = search(vector, space, k, filter)
        seen.update((key, payload) for key, _, payload in hits)
        return hits

    return wrapped, seen


def matched_tags(affinity: Mapping[str, Mapping[str, float]],
                 song_payload: Mapping[str, Any]) -> dict[str, list[str]]:
    """The song's tags the user has a positive affinity for, by dimension."""
    out = {}
    for dim, tags in song_tag_scores(song_payload).items():
        hit = [t for t in tags if (affinity.get(dim) or {}).get(t, 0.0) > 0]
        if hit:
            out[dim] = hit
    return out


def songs_recalled(items: Sequence[RecallItem], payloads: Mapping[str, Mapping[str, Any]],
                   affinity: Mapping[str, Mapping[str, float]],
                   interactions: Mapping[str, int] | None = None) -> list[RecalledSong]:
    out = []
    for it in items:
        pl = payloads.get(it.id) or {}
        out.append(RecalledSong(
            song_id=it.id, score=it.score, reason=it.reason, title=pl.get("title"),
            artist=pl.get("artist"), ingested_at=pl.get("ingested_at"),
            release_date=pl.get("release_date"),
            released_at=pl.get("released_at", pl.get("ingested_at")),
            matched_tags=matched_tags(affinity, pl),
            interactions=None if interactions is None else interactions.get(it.id, 0),
            channels=list(it.channels)))
    return out


class ChannelRecall:
    """The read side of multi-channel recall over one catalog, log, user store and model."""

    def __init__(self, catalog: Catalog, cs: ColdStartSettings, *, log: FeedbackLog,
                 users: UserStore, songs_search: SearchFn, collab: CollaborativeFit,
                 profile_config: ProfileConfig) -> None:
        self.catalog, self.cs, self.log, self.users = catalog, cs, log, users
        self.songs_search, self.collab, self.profile_config = songs_search, collab, profile_config
        self.space = profile_config.centroid_space

    def listener(self, profile: UserProfile) -> tuple[Listener, frozenset[str]]:
        """The listener's positive history (most recent last) and every song heard."""
        history: dict[str, float] = {}
        heard: set[str] = set()
        sig = self.profile_config.signal
        for le in self.log.iter_events(user_id=profile.user_id):
            ev = le.event
            if ev.event != "impression":
                heard.add(ev.song_id)
            w = signal_weight(ev, sig)
            if w > 0:
                history[ev.song_id] = history.pop(ev.song_id, 0.0) + w
        return Listener(profile, history), frozenset(heard)

    def _payloads(self, ids: Sequence[str]) -> dict[str, Mapping[str, Any]]:
        return {k: h.payload for k, h in fetch_songs(self.catalog, ids).items()}

    def _recall(self, profile: UserProfile, listener: Listener, filt: SongFilter,
                k: int) -> tuple[list[RecallItem], dict[str, Mapping[str, Any]]]:
        search, payloads = capturing(self.songs_search)
        ch = self.cs.channels
        if UserNewSongsRecaller(search, space=self.space).sources(profile):
            content = UserNewSongsRecaller(search, space=self.space,
                                           short_share=self.cs.short_share,
                                           tag_weight=self.cs.recall_tag_weight)
        else:  # no taste vector yet (onboarding tags only): by the chosen tags
            content = OnboardingRecaller(search, space=self.space)
        channels = [ContentChannel(content),
                    CollaborativeChannel(lambda: self.collab.model, search, self._payloads,
                                         space=self.space, pool_limit=ch.pool_limit),
                    RelationChannel(search, self._payloads, space=self.space)]
        lists = {c.name: c.recall(listener=listener, k=k, filter=filt) for c in channels
                 if ch.quotas.get(c.name, 0.0) > 0}
        items = merge_channels(lists, ch.quotas, k)
        missing = [it.id for it in items if it.id not in payloads]
        if missing:
            payloads.update(self._payloads(missing))
        return items, payloads

    def user_new_songs(self, user_id: str, *, k: int, window_days: float | None
                       ) -> NewSongsRecall:
        profile, _ = self.users.get(user_id)
        days = window_days or self.cs.new_song_window_days
        listener, heard = self.listener(profile)
        now = time.time()
        filt = SongFilter(released_after=now - days * DAY, released_before=now + 1.0,
                          exclude_ids=heard)
        items, payloads = self._recall(profile, listener, filt, 2 * k)
        n_int = self.log.interaction_counts([it.id for it in items])
        items = [it for it in items if n_int[it.id] < self.cs.few_interactions][:k]
        return NewSongsRecall(user_id=user_id, window_days=days, items=songs_recalled(
            items, payloads, profile.tag_affinity, n_int))

    def home(self, user_id: str, *, k: int) -> HomeRecall:
        profile, _ = self.users.get(user_id)
        listener, heard = self.listener(profile)
        items, payloads = self._recall(profile, listener, SongFilter(exclude_ids=heard), k)
        return HomeRecall(user_id=user_id, items=songs_recalled(items, payloads,
                                                                profile.tag_affinity))
