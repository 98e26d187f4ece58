"""The cold-start service: feedback in; user profiles, the online ranker, recall and ranking out.

One object owns the pieces and their order of operations:

* the :class:`FeedbackLog` at ``<data_dir>/feedback.sqlite`` (durable first: a batch is in the
  log before anything else sees it);
* the user profiles in the ``users`` Qdrant collection (:class:`UserStore`), updated
  incrementally per batch with the songs' payloads and vectors from the catalog, and loaded with
  the current settings' :class:`ProfileConfig`;
* the :class:`OnlineRanker` under ``<data_dir>/ranker``: warm-started from its last snapshot,
  then caught up by replaying the log after the snapshot's sequence number; updated online from
  impressions joined with their outcomes; snapshotted every ``coldstart.snapshot_every`` events
  and at shutdown.

The learning side (:meth:`record`, :meth:`catch_up`, :meth:`rebuild`) is the
:class:`~songlens.service.learning.FeedbackLoop`; this module is the read side (:meth:`user_view`,
the three recalls, :meth:`rank`). Everything returns the dataclasses of
:mod:`songlens.service.results`.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import replace
from typing import Any

import numpy as np

from songlens.catalog.filters import SongFilter
from songlens.catalog.pipeline import Catalog
from songlens.catalog.record import artist_key, song_tag_scores
from songlens.coldstart.audience import AudienceSegment
from songlens.coldstart.events import local_time, signal_weight
from songlens.coldstart.feedback_log import FeedbackLog
from songlens.coldstart.profiles import ProfileConfig, UserProfile, onboarding_profile
from songlens.coldstart.recall import OnboardingRecaller, SongAudienceRecaller, SongQuery
from songlens.coldstart.user_store import UserStore
from songlens.coldstart.vector_search import store_search
from songlens.content.taxonomy import DIMENSIONS
from songlens.errors import InvalidInput, NotFound
from songlens.ranking.features import build_features
from songlens.ranking.online import OnlineRanker, RankerInfo
from songlens.ranking.snapshots import SnapshotEntry
from songlens.service.channel_recall import (
    ChannelRecall,
    capturing,
    matched_tags,
    songs_recalled,
)
from songlens.service.collab_fit import CollaborativeFit
from songlens.service.learning import FeedbackLoop, fetch_songs
from songlens.service.ranker_cadence import RankerCadence
from songlens.service.results import (
    AudienceRecall,
    AudioUsual,
    EventCounts,
    FeatureContribution,
    FeedbackResult,
    HomeRecall,
    Interest,
    NamedAffinity,
    NewSongsRecall,
    OnboardingRecall,
    RankedSong,
    RankResult,
    RebuildSummary,
    RecalledUser,
    TagAffinity,
    TargetScores,
    UserView,
)
from songlens.settings import Settings
from songlens.store import Filter, Hit, Match
from songlens.units import DAY

__all__ = ["ColdStartService"]

log = logging.getLogger(__name__)


def _top_named(affinity: Mapping[str, float], n: int) -> list[NamedAffinity]:
    return [NamedAffinity(k, v) for k, v in sorted(affinity.items(), key=lambda kv: -kv[1])[:n]
            if v > 0]


class ColdStartService:
    """Feedback, profiles, recall and ranking over one catalog (thread-safe).

    ``warm_start=False`` skips the ranker snapshot and the log replay (for :meth:`rebuild`,
    which must work when the snapshot is what is broken).
    """

    def __init__(self, catalog: Catalog, settings: Settings | None = None, *,
                 warm_start: bool = True) -> None:
        self.catalog = catalog
        self.settings = settings or catalog.settings
        self.cs = cs = self.settings.coldstart
        self.profile_config = ProfileConfig.from_settings(cs)
        self.space = self.profile_config.centroid_space
        self._lock = threading.RLock()
        self.log = FeedbackLog(self.settings.data_path / "feedback.sqlite",
                               synchronous=cs.feedback_sync)
        try:
            self.users = UserStore(catalog.store, cs.users_collection,
                                   song_dims=catalog.spec.dense, config=self.profile_config)
            self.songs_search = store_search(catalog.store, catalog.spec)
            self.loop = FeedbackLoop(catalog, self.settings, profile_config=self.profile_config,
                                     log=self.log, users=self.users, lock=self._lock,
                                     warm_start=warm_start)
            self.collab = CollaborativeFit(self.log, self.settings.data_path / "collab" /
                                           "als.npz", cs.channels,
                                           signal=self.profile_config.signal)
            self.channel_recall = ChannelRecall(
                catalog, cs, log=self.log, users=self.users, songs_search=self.songs_search,
                collab=self.collab, profile_config=self.profile_config)
        except BaseException:
            self.log.close()
            raise
        if warm_start:  # a log that outgrew its model (restore, upgrade) is refit in the background
            self.collab.maybe_refit()
        self.cadence = RankerCadence(self.loop)
        if warm_start and cs.training == "cadence":
            self.cadence.start()

    @property
    def learner(self) -> OnlineRanker:
        return self.loop.learner

    @contextmanager
    def held(self) -> Iterator[None]:
        """Feedback, profile and ranker writes wait while this is held; the ranker is
        snapshotted first if it learnt anything since its last snapshot, so the log, the
        profiles and the ranker's snapshot agree (a consistent backup)."""
        with self._lock:
            self.loop.snapshot_if_pending()
            yield

    def close(self) -> None:
        """Snapshot the ranker if it learnt anything since the last one; close the log (after
        a running collaborative fit, which reads it)."""
        self.cadence.stop()
        self.collab.join(timeout=120.0)
        with self._lock:
            self.loop.snapshot_if_pending()
            self.log.close()
            self.loop.served.close()

    # -- the learning side -----------------------------------------------------------------------
    def record(self, raw: Sequence[Any]) -> FeedbackResult:
        """Validate a client batch, log the good events durably, fold them in (and start a
        background refit of the collaborative model when one is due)."""
        out = self.loop.record(raw)
        self.collab.maybe_refit()
        return out

    def catch_up(self) -> int:
        """Replay the log after the ranker's snapshot; returns how many events."""
        return self.loop.catch_up()

    def rebuild(self, *, on_progress: Callable[[int], None] | None = None) -> RebuildSummary:
        """Rebuild the profiles with events and the ranker from the whole log, and refit the
        collaborative model."""
        out = self.loop.rebuild(on_progress=on_progress)
        self.collab.fit_now()
        return out

    # -- users -----------------------------------------------------------------------------------
    def _tag_list(self, dim: str, scores: Mapping[str, float], n: int) -> list[TagAffinity]:
        en = self.catalog.taxonomy.en
        top = sorted(((t, v) for t, v in scores.items() if v > 0), key=lambda tv: -tv[1])[:n]
        return [TagAffinity(t, en.get((dim, t), t), v) for t, v in top]

    def _interests(self, profile: UserProfile) -> list[Interest]:
        """Each interest centroid with its share, and the tags and songs of the liked songs
        closest to it (from the user's log)."""
        ints = profile.interests(self.space)
        if not ints:
            return []
        liked = [le.event.song_id for le in self.log.iter_events(user_id=profile.user_id)
                 if signal_weight(le.event, self.profile_config.signal) > 0]
        liked = list(dict.fromkeys(reversed(liked)))[:200]
        groups: list[list[tuple[float, Hit]]] = [[] for _ in ints]
        for h in fetch_songs(self.catalog, liked).values():
            v = (h.vectors or {}).get(self.space)
            if v is not None:
                cos = [float(np.dot(d, v)) for d, _ in ints]
                groups[int(np.argmax(cos))].append((max(cos), h))
        out = []
        for (_, share), group in zip(ints, groups, strict=True):
            tags: dict[str, Counter] = defaultdict(Counter)
            for _, h in group:
                for dim, ts in song_tag_scores(h.payload).items():
                    tags[dim].update(ts)
            group.sort(key=lambda ch: -ch[0])
            out.append(Interest(share=share,
                                top_tags={d: [t for t, _ in tags[d].most_common(3)]
                                          for d in DIMENSIONS if tags.get(d)},
                                songs=[h.key for _, h in group[:5]]))
        return out

    def user_view(self, user_id: str, *, n_tags: int = 5) -> UserView:
        """What the service knows about a user (raises :class:`NotFound`)."""
        profile, payload = self.users.get(user_id)
        by_type = self.log.user_counts(user_id)
        return UserView(
            user_id=user_id, created_ts=profile.created_ts, last_event_ts=profile.t_ref,
            updated_at=payload.get("updated_at"),
            events=EventCounts(logged=sum(by_type.values()), by_type=by_type,
                               in_profile=profile.n_events, positive=profile.n_positive,
                               negative=profile.n_negative),
            top_tags={d: self._tag_list(d, profile.tag_affinity.get(d) or {}, n_tags)
                      for d in DIMENSIONS if profile.tag_affinity.get(d)},
            interests=self._interests(profile),
            languages=_top_named(profile.language_affinity, 3),
            artists=_top_named(profile.artist_affinity, n_tags),
            audio={k: AudioUsual(v["mean"], v["std"])
                   for k, v in (payload.get("audio_usual") or {}).items()},
            onboarding_tags=profile.onboarding_tags)

    # -- recall ----------------------------------------------------------------------------------
    def _artist_skippers(self, artist: str, since: float) -> frozenset[str]:
        """Users with a negative event (early skip, dislike, block) since ``since`` for a song
        of ``artist`` (its first 1,000 songs in the catalog)."""
        flt = Filter(must=(Match("artist_key", (artist_key(artist),)),))
        ids: list[str] = []
        offset = None
        while len(ids) < 1000:
            hits, offset = self.catalog.store.scroll(self.catalog.spec, filter=flt, limit=256,
                                                     offset=offset, fields=[])
            ids += [h.key for h in hits]
            if offset is None:
                break
        out = set()
        sig = self.profile_config.signal
        for sid in ids:
            out.update(le.event.user_id for le in self.log.iter_events(song_id=sid)
                       if le.event.ts >= since and signal_weight(le.event, sig) < 0)
        return frozenset(out)

    def recall_song_audience(self, song_id: str, *, k: int = 20,
                             segment: AudienceSegment | None = None) -> AudienceRecall:
        """(a) A new song → the users most likely to enjoy it, within ``segment`` (default:
        everyone who has not heard it). Each item says why in ``why``."""
        seg = segment or AudienceSegment()
        if seg.language is not None:
            seg = replace(seg, language=self.catalog.taxonomy.canonical("language",
                                                                        seg.language))
        hit = self.catalog.get_hit(song_id, with_vectors=True)
        now = time.time()
        exclude: set[str] = set()
        if seg.exclude_heard:
            exclude |= {le.event.user_id for le in self.log.iter_events(song_id=song_id)
                        if le.event.event != "impression"}
        artist = hit.payload.get("artist")
        if seg.skipped_artist_days is not None and artist:
            exclude |= self._artist_skippers(str(artist), now - seg.skipped_artist_days * DAY)
        search, payloads = capturing(self.users.search)
        spaces = tuple(f"interest_{i}" for i in range(self.cs.max_interests)) + (
            f"long_{self.space}",)
        # the language share is checked after the search: fetch more so k usually survive
        fetch = k if seg.language is None else 4 * k
        rec = SongAudienceRecaller(search, song_space=self.space, user_spaces=spaces,
                                   tag_weight=self.cs.recall_tag_weight)
        items = rec.recall(k=fetch, song=SongQuery(song_id, hit.payload, hit.vectors or {}),
                           filter=seg.store_filter(now=now, exclude=frozenset(exclude)))
        out = []
        for it in items:
            why = seg.why(payloads[it.id], now=now, artist=artist)
            if why is None:
                continue
            matched = matched_tags(payloads[it.id].get("tag_affinity") or {}, hit.payload)
            vec = it.reason.split("+")[0]
            why = [f"{vec} is close to the song"] + [
                f"likes its {d} tags {', '.join(t)}" for d, t in matched.items()] + why
            out.append(RecalledUser(it.id, it.score, it.reason, matched, why))
            if len(out) >= k:
                break
        return AudienceRecall(song_id=song_id, items=out)

    def recall_user_new_songs(self, user_id: str, *, k: int = 20,
                              window_days: float | None = None) -> NewSongsRecall:
        """(b) A user → new songs (released within the last ``window_days``, read from
        ``released_at``: the release date, or the first ingestion when there is none; a
        back-catalogue song ingested today is not new, a pre-release is not new before its
        date; and with fewer than ``coldstart.few_interactions`` interactions) the user has not
        heard, through the recall channels merged with quotas (each item names its
        ``channels``)."""
        return self.channel_recall.user_new_songs(user_id, k=k, window_days=window_days)

    def recall_home(self, user_id: str, *, k: int = 20) -> HomeRecall:
        """A user → any catalogue song not heard yet, through the recall channels."""
        return self.channel_recall.home(user_id, k=k)

    def recall_onboarding(self, *, tags: Mapping[str, Sequence[str]],
                          liked_song_ids: Sequence[str], k: int = 20,
                          user_id: str | None = None) -> OnboardingRecall:
        """(c) A new user from onboarding choices. With ``user_id`` (and no profile yet) the
        onboarding profile is stored, so the user's feedback builds on it."""
        tax = self.catalog.taxonomy
        chosen: dict[str, list[str]] = {}
        for dim, names in tags.items():
            d = tax.dimension(dim)
            for name in names:
                t = tax.canonical(d, name)
                if t not in chosen.setdefault(d, []):
                    chosen[d].append(t)
        chosen = {d: ts for d, ts in chosen.items() if ts}
        liked = list(dict.fromkeys(liked_song_ids))
        if not chosen and not liked:
            raise InvalidInput("onboarding needs 'tags' or 'liked_song_ids'")
        hits = fetch_songs(self.catalog, liked)
        missing = [s for s in liked if s not in hits]
        if missing:
            raise NotFound(f"unknown liked_song_ids: {missing}", song_ids=missing)
        now = time.time()
        profile = onboarding_profile(
            user_id or "onboarding", tags=chosen, ts=now, config=self.profile_config,
            liked_song_vectors=[hits[s].vectors or {} for s in liked],
            liked_song_payloads=[hits[s].payload for s in liked])
        search, payloads = capturing(self.songs_search)
        items = OnboardingRecaller(search, space=self.space).recall(
            k=k, user=profile, filter=SongFilter(exclude_ids=frozenset(liked)))
        saved = False
        if user_id is not None:
            with self._lock:
                if not self.users.exists(user_id):
                    self.users.save([(profile, 0)], onboarded_at=now)
                    saved = True
        return OnboardingRecall(user_id=user_id, saved=saved, tags=chosen,
                                items=songs_recalled(items, payloads, profile.tag_affinity))

    # -- ranking ---------------------------------------------------------------------------------
    def rank(self, user_id: str, song_ids: Sequence[str], *, hour: int | None = None,
             weekday: int | None = None, tz_offset_min: int | None = None,
             n_features: int = 5) -> RankResult:
        """Order ``song_ids`` for ``user_id`` by the ranker's combined score. An unknown user is
        ranked with the "unknown user" features (``user_known`` False). ``hour`` / ``weekday``
        (or else ``tz_offset_min``) give the listener's local time. The features served are
        logged under the answer's ``request_id``: impressions that carry it train on them."""
        ids = list(dict.fromkeys(song_ids))
        hits = fetch_songs(self.catalog, ids)
        missing = [s for s in ids if s not in hits]
        if missing:
            raise NotFound(f"unknown song_ids: {missing}", song_ids=missing)
        profile = self.users.find(user_id)
        counts = self.log.song_counts(ids)
        now = time.time()
        hw = local_time(now, tz_offset_min)
        if hw is not None:
            hour = hw[0] if hour is None else hour
            weekday = hw[1] if weekday is None else weekday
        feats = [build_features(profile=profile, song_payload=hits[s].payload,
                                song_vectors=hits[s].vectors, ts=now, hour=hour,
                                weekday=weekday, song_counts=counts.get(s),
                                recent_counts=self.loop.recent.snapshot(s, now)) for s in ids]
        with self._lock:
            ranker = self.learner.ranker
            preds = [ranker.predict(f) for f in feats]
            why = [ranker.explain(f, n_features) for f in feats]
            info = self.learner.describe()
        request_id = uuid.uuid4().hex
        self.loop.served.record(request_id, user_id=user_id, ts=now,
                                items=dict(zip(ids, feats, strict=True)))
        order = sorted(range(len(ids)), key=lambda i: -preds[i][2])
        items = [RankedSong(song_id=ids[i], rank=r + 1, score=preds[i][2],
                            scores=TargetScores(complete=preds[i][0], like=preds[i][1]),
                            title=hits[ids[i]].payload.get("title"),
                            artist=hits[ids[i]].payload.get("artist"),
                            top_features=[FeatureContribution(nm, v, c) for nm, v, c in why[i]])
                 for r, i in enumerate(order)]
        return RankResult(user_id=user_id, user_known=profile is not None, ranker=info,
                          items=items, request_id=request_id)

    # -- ranker operations (admin) ---------------------------------------------------------------
    def ranker_snapshots(self) -> tuple[str | None, list[SnapshotEntry]]:
        """The serving snapshot id and every listed snapshot with its held-out figures."""
        with self._lock:
            reg = self.learner.registry
            return reg.serving, list(reg.entries)

    def ranker_rollback(self, snapshot_id: str) -> RankerInfo:
        """Serve an older snapshot now."""
        with self._lock:
            return self.learner.rollback(snapshot_id)

    def ranker_train(self, kind: str) -> dict[str, Any]:
        """Run an increment or a batch fit now (``coldstart.training: cadence``)."""
        if kind not in ("increment", "batch"):
            raise InvalidInput(f"kind must be 'increment' or 'batch', got {kind!r}")
        return self.cadence.run_increment() if kind == "increment" else self.cadence.run_batch()
