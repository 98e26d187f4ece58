"""The cold-start learning loop: feedback in, user profiles and the online ranker updated.

Every event is folded in log order by :meth:`FeedbackLoop._apply`, online (:meth:`record`), at
start-up (:meth:`catch_up`) and in :meth:`rebuild`, so a rebuild from the log gives the profiles
the live service built. Ranker features of a sample are taken when its impression arrives, from
the profile as it was then (a label never leaks into its own features). Events that cannot be
true — for songs not in the catalog (unknown or deleted), or timestamped more than
``coldstart.event_skew_s`` before their song entered the catalog — are logged, counted and
reported in the response's ``warnings``, but change no profile and train nothing (in a rebuild
too: the rule is applied in :meth:`FeedbackLoop._apply`).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from functools import partial
from itertools import islice
from typing import Any

import numpy as np

from songlens.catalog.pipeline import Catalog
from songlens.coldstart.events import (
    Event,
    EventProblem,
    impossible_for_song,
    local_time,
    validate_batch,
)
from songlens.coldstart.feedback_log import FeedbackLog, LoggedEvent
from songlens.coldstart.interests import SimilarityBackground
from songlens.coldstart.profiles import ProfileConfig, UserProfile
from songlens.coldstart.user_store import UserStore
from songlens.errors import PayloadTooLarge
from songlens.ranking.cadence import CadenceConfig
from songlens.ranking.counters import RecentCounts
from songlens.ranking.feature_log import FeatureLog
from songlens.ranking.features import build_features
from songlens.ranking.online import OnlineRanker
from songlens.ranking.ranker import RankerConfig
from songlens.service.results import FeedbackResult, RebuildSummary
from songlens.settings import Settings
from songlens.store import Hit

__all__ = ["FeedbackLoop", "fetch_songs", "catalogue_background"]

log = logging.getLogger(__name__)

_CHUNK = 2000


def fetch_songs(catalog: Catalog, song_ids: Iterable[str]) -> dict[str, Hit]:
    """The catalog's songs among ``song_ids``, with their vectors (unknown ids left out)."""
    ids = sorted(set(song_ids))
    out: dict[str, Hit] = {}
    for i in range(0, len(ids), 256):
        for h in catalog.store.get(catalog.spec, ids[i:i + 256], with_vectors=True):
            out[h.key] = h
    return out


def catalogue_background(catalog: Catalog, *, space: str, size: int, quantile: float,
                         seed: int = 0) -> SimilarityBackground | None:
    """A :class:`SimilarityBackground` from up to ``size`` catalogue songs in ``space`` (a
    seeded draw among the first ``4 × size`` in storage order); None for an empty catalogue."""
    vecs: list[np.ndarray] = []
    offset = None
    while len(vecs) < 4 * size:
        hits, offset = catalog.store.scroll(catalog.spec, limit=min(256, 4 * size),
                                            offset=offset, with_vectors=[space], fields=[])
        vecs += [h.vectors[space] for h in hits if (h.vectors or {}).get(space) is not None]
        if offset is None:
            break
    if not vecs:
        return None
    rng = np.random.default_rng(seed)
    pick = rng.choice(len(vecs), size=min(size, len(vecs)), replace=False)
    return SimilarityBackground(np.stack([vecs[i] for i in sorted(pick)]), space=space,
                                quantile=quantile)


def _chunks(it: Iterable[LoggedEvent], n: int = _CHUNK) -> Iterator[list[LoggedEvent]]:
    it = iter(it)
    while chunk := list(islice(it, n)):
        yield chunk


class FeedbackLoop:
    """Folds logged events into the profiles (in ``users``) and the ranker (``learner``).

    ``lock`` serialises everything that changes state; the read side takes it to read the
    ranker. ``warm_start=False`` skips the ranker snapshot and the log replay (for
    :meth:`rebuild`, which must work when the snapshot is what is broken).
    """

    def __init__(self, catalog: Catalog, settings: Settings, *, profile_config: ProfileConfig,
                 log: FeedbackLog, users: UserStore, lock: threading.RLock,
                 warm_start: bool = True) -> None:
        self.catalog, self.settings, self.cs = catalog, settings, settings.coldstart
        self.profile_config, self.log, self.users, self.lock = profile_config, log, users, lock
        self._background_at = -float("inf")
        self.served = FeatureLog(settings.data_path / "ranker" / "served.sqlite")
        self.refresh_background()
        self.learner = self._new_learner(warm=warm_start)
        # what catch_up replays is counted there
        self.recent = self._recent_from_log(upto=self.learner.seq)
        if warm_start:
            self.catch_up()

    def _new_learner(self, *, warm: bool) -> OnlineRanker:
        config = RankerConfig.from_settings(self.cs.ranker)
        make = OnlineRanker.open if warm else OnlineRanker
        cadence = (CadenceConfig.from_settings(self.cs.cadence)
                   if self.cs.training == "cadence" else None)
        return make(self.settings.data_path / "ranker", config=config,
                    window_s=self.cs.label_window_s, keep=self.cs.snapshots_kept,
                    late_s=self.cs.label_late_s, cadence=cadence)

    def _recent_from_log(self, *, upto: int, tail: int = 50_000) -> RecentCounts:
        """Real-time counters from up to ``tail`` logged events up to ``upto`` (so a restart
        keeps them)."""
        recent = RecentCounts()
        for le in self.log.iter_events(max(upto - tail, 0)):
            if le.seq > upto:
                break
            recent.add(le.event)
        return recent

    def refresh_background(self) -> None:
        """Re-sample the catalogue's similarity background the interest thresholds follow
        (into the shared ``profile_config``). A catalogue that changed between the live run and
        a rebuild gives slightly different thresholds, so interests may then differ a little;
        everything else rebuilds exactly."""
        cfg = self.profile_config
        bg = catalogue_background(self.catalog, space=cfg.centroid_space,
                                  size=self.cs.background_songs,
                                  quantile=self.cs.interest_quantile)
        with self.lock:
            cfg.background = bg
            self._background_at = time.monotonic()
        log.info("interest background: %d catalogue songs in %r",
                 0 if bg is None else len(bg), cfg.centroid_space)

    def snapshot_if_pending(self) -> None:
        """Snapshot the ranker if it learnt anything since the last snapshot."""
        with self.lock:
            if self.learner.pending_events:
                self.learner.snapshot()

    # -- folding events in -----------------------------------------------------------------------
    def _counts_before(self, logged: Sequence[LoggedEvent]) -> dict[str, Counter]:
        """Per-song event counts as they were before ``logged`` (which the log already holds)."""
        counts: dict[str, Counter] = defaultdict(Counter)
        for sid, c in self.log.song_counts([le.event.song_id for le in logged]).items():
            counts[sid].update(c)
        for le in logged:
            counts[le.event.song_id][le.event.event] -= 1
        return counts

    def _features(self, profile: UserProfile, song: Hit, ev: Event, counts: Counter
                  ) -> dict[str, float]:
        """A sample's features: those ``/v1/rank`` served when the impression names its
        request (exactly what serving saw), else built now from the profile as it stands, at
        the listener's local time when the event carries its UTC offset."""
        if getattr(ev, "request_id", None):
            served = self.served.get(ev.request_id, ev.song_id)
            if served is not None:
                return served
        hw = local_time(ev.ts, getattr(ev, "tz_offset_min", None))
        return build_features(profile=profile, song_payload=song.payload,
                              song_vectors=song.vectors, ts=ev.ts, song_counts=dict(counts),
                              recent_counts=self.recent.snapshot(song.key, ev.ts),
                              hour=hw[0] if hw else None, weekday=hw[1] if hw else None)

    def _apply(self, logged: Sequence[LoggedEvent], songs: Mapping[str, Hit],
               profiles: dict[str, list], counts: dict[str, Counter]) -> set[str]:
        """Fold logged events, in log order, into the ranker's joiner and the profiles.

        ``profiles`` maps user ids to ``[profile, applied_seq]`` and is updated in place (an
        event at or below a user's ``applied_seq`` is already in the profile); ``counts`` are
        the per-song counts before the first event. Returns the users whose profile changed.
        """
        touched: set[str] = set()
        skew = self.cs.event_skew_s
        for le in logged:
            ev, song = le.event, songs.get(le.event.song_id)
            if song is None or impossible_for_song(ev, song.payload, skew_s=skew) is not None:
                self.learner.skip_to(le.seq)
            else:
                entry = profiles.get(ev.user_id)
                if entry is None:
                    entry = profiles[ev.user_id] = [UserProfile(ev.user_id, self.profile_config),
                                                    0]
                if le.seq > self.learner.seq:
                    self.learner.add(le.seq, ev, partial(self._features, entry[0], song, ev,
                                                         counts[ev.song_id].copy()))
                self.recent.add(ev)
                if le.seq > entry[1]:
                    entry[0].update(ev, song.payload, song.vectors)
                    entry[1] = le.seq
                    touched.add(ev.user_id)
            counts[ev.song_id][ev.event] += 1
        return touched

    def _fold_logged(self, logged: Sequence[LoggedEvent], songs: Mapping[str, Hit]) -> None:
        """Online: fold, train on the samples now final, save the profiles, maybe snapshot."""
        if not logged:
            return
        profiles = {u: list(v) for u, v in
                    self.users.load_many(le.event.user_id for le in logged).items()}
        touched = self._apply(logged, songs, profiles, self._counts_before(logged))
        self.learner.train_ready()
        self.users.save([(profiles[u][0], profiles[u][1]) for u in sorted(touched)])
        if self.learner.pending_events >= self.cs.snapshot_every:
            self.learner.snapshot()

    def catch_up(self) -> int:
        """Replay the log after the ranker's snapshot (events a crash left unapplied).

        Profiles skip what they already hold (``applied_seq``); the ranker relearns the
        replayed samples, with features from the profiles as saved (which may already hold
        the outcome: a small leak, only after a crash).
        """
        n = 0
        with self.lock:
            while chunk := list(self.log.iter_events(self.learner.seq, limit=_CHUNK)):
                self._fold_logged(chunk, fetch_songs(self.catalog,
                                                     (le.event.song_id for le in chunk)))
                n += len(chunk)
        if n:
            log.info("cold start: replayed %d logged events after the ranker snapshot", n)
        return n

    # -- feedback --------------------------------------------------------------------------------
    def record(self, raw: Sequence[Any]) -> FeedbackResult:
        """Validate a client batch, log the good events durably, fold them in."""
        if len(raw) > self.cs.max_batch:
            raise PayloadTooLarge(f"{len(raw)} events in one batch; at most "
                                  f"{self.cs.max_batch} (coldstart.max_batch)")
        if time.monotonic() - self._background_at > self.cs.background_refresh_s or (
                self.profile_config.background is None
                and time.monotonic() - self._background_at > 60):
            self.refresh_background()
        good, rejected = validate_batch(raw, config=self.profile_config.signal)
        bad = {r.index for r in rejected}
        index = [i for i in range(len(raw)) if i not in bad]
        songs = fetch_songs(self.catalog, (ev.song_id for ev in good))
        with self.lock:
            clash = set(self.log.conflicts(good))
            if clash:  # an event_id reused for a different event would be dropped silently
                rejected = sorted(rejected + [EventProblem(
                    index[j], "event_id_conflict", f"event_id {good[j].event_id[:60]!r} is "
                    "already used by a different event (user, song, event or ts differ)")
                    for j in sorted(clash)], key=lambda p: p.index)
                index = [i for j, i in enumerate(index) if j not in clash]
                good = [ev for j, ev in enumerate(good) if j not in clash]
            before = self.log.last_seq()
            self.log.append(sorted(good, key=lambda e: e.ts))  # log order = time order
            new = list(self.log.iter_events(before))
            self._fold_logged(new, songs)
        warnings = []
        for j, ev in enumerate(good):
            hit = songs.get(ev.song_id)
            if hit is None:
                warnings.append(EventProblem(index[j], "unknown_song", f"song_id "
                                             f"{ev.song_id!r} is not in the catalog (unknown or "
                                             "deleted): the event is logged but changes no "
                                             "profile and trains nothing"))
            elif (p := impossible_for_song(ev, hit.payload, skew_s=self.cs.event_skew_s)):
                warnings.append(EventProblem(index[j], p.code, p.reason))
        return FeedbackResult(accepted=len(good), new=len(new), duplicates=len(good) - len(new),
                              rejected=rejected, warnings=warnings)

    # -- batch rebuild ---------------------------------------------------------------------------
    def rebuild(self, *, on_progress: Callable[[int], None] | None = None) -> RebuildSummary:
        """Rebuild every profile with events and the ranker from the whole log (in memory);
        the ranker is batch-fit (:meth:`Ranker.fit`) on every final sample, then snapshotted.

        Profiles of users without logged events (onboarding only) are left as they are.
        """
        t0 = time.perf_counter()
        self.refresh_background()
        with self.lock:
            old, self.learner = self.learner, self._new_learner(warm=False)
            try:
                summary = self._rebuild(on_progress, t0)
            except BaseException:
                self.learner = old  # nothing half-built gets snapshotted at close
                raise
        return summary

    def _rebuild(self, on_progress: Callable[[int], None] | None, t0: float) -> RebuildSummary:
        self.recent = RecentCounts()
        profiles: dict[str, list] = {}
        counts: dict[str, Counter] = defaultdict(Counter)
        songs: dict[str, Hit] = {}
        unknown: set[str] = set()
        n = n_unknown = n_impossible = 0
        for chunk in _chunks(self.log.iter_events(0)):
            need = {le.event.song_id for le in chunk} - songs.keys() - unknown
            found = fetch_songs(self.catalog, need)
            songs.update(found)
            unknown |= need - found.keys()
            self._apply(chunk, songs, profiles, counts)
            n += len(chunk)
            n_unknown += sum(le.event.song_id in unknown for le in chunk)
            n_impossible += sum(
                le.event.song_id in songs and impossible_for_song(
                    le.event, songs[le.event.song_id].payload, skew_s=self.cs.event_skew_s)
                is not None for le in chunk)
            if on_progress is not None:
                on_progress(len(chunk))
        samples = self.learner.fit_ready()
        self.users.save([(p, seq) for p, seq in profiles.values()])
        path = self.learner.snapshot()
        return RebuildSummary(events=n, events_unknown_song=n_unknown,
                              events_impossible=n_impossible, users=len(profiles),
                              songs=len(songs), samples=samples,
                              ranker=self.learner.describe(), snapshot=str(path),
                              seconds=time.perf_counter() - t0)
