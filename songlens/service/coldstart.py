"""The cold-start service: feedback in; user profiles, the online ranker, recall and ranking out.

One object owns the pieces and their order of operations:

* the :class:`FeedbackLog` at ``<data_dir>/feedback.sqlite`` (durable first: a batch is in the
  log before anything else sees it);
* the user profiles in the ``users`` Qdrant collection (:class:`UserStore`), updated
  incrementally per batch with the songs' payloads and vectors from the catalog;
* the :class:`OnlineRanker` under ``<data_dir>/ranker``: warm-started from its last snapshot,
  then caught up by replaying the log after the snapshot's sequence number; updated online from
  impressions joined with their outcomes; snapshotted every ``coldstart.snapshot_every`` events
  and at shutdown.

Every event is folded in log order by :meth:`ColdStartService._apply`, online, at catch-up and in
:meth:`ColdStartService.rebuild`, so a rebuild from the log gives the profiles the live service
built. Ranker features of a sample are taken when its impression arrives, from the profile as it
was then (a label never leaks into its own features). Events for songs not in the catalog are
logged and counted but change no profile and train nothing.
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

from songlens.catalog.filters import SongFilter
from songlens.catalog.pipeline import Catalog
from songlens.catalog.record import song_tag_scores
from songlens.coldstart.events import EventProblem, signal_weight, validate_batch
from songlens.coldstart.feedback_log import FeedbackLog, LoggedEvent
from songlens.coldstart.profiles import ProfileConfig, UserProfile, onboarding_profile
from songlens.coldstart.recall import (
    OnboardingRecaller,
    RecallItem,
    SongAudienceRecaller,
    SongQuery,
    UserNewSongsRecaller,
)
from songlens.coldstart.user_store import UserStore
from songlens.coldstart.vector_search import SearchFn, store_search
from songlens.content.taxonomy import DIMENSIONS
from songlens.errors import InvalidInput, NotFound, PayloadTooLarge
from songlens.ranking.features import build_features
from songlens.ranking.online import OnlineRanker
from songlens.ranking.ranker import RankerConfig
from songlens.settings import Settings
from songlens.store import Hit

__all__ = ["ColdStartService"]

log = logging.getLogger(__name__)

DAY = 86_400.0
_CHUNK = 2000


def _chunks(it: Iterable[LoggedEvent], n: int = _CHUNK) -> Iterator[list[LoggedEvent]]:
    it = iter(it)
    while chunk := list(islice(it, n)):
        yield chunk


def _capturing(search: SearchFn) -> tuple[SearchFn, dict[str, Mapping[str, Any]]]:
    """``search`` that also remembers the payload of every hit (for the response items)."""
    seen: dict[str, Mapping[str, Any]] = {}

    def wrapped(vector: np.ndarray | None, space: str, k: int,
                filter: SongFilter | None = None) -> list[tuple[str, float, Mapping[str, Any]]]:
        hits = search(vector, space, k, filter)
        seen.update((key, payload) for key, _, payload in hits)
        return hits

    return wrapped, seen


def _matched_tags(affinity: Mapping[str, Mapping[str, float]],
                  song_payload: Mapping[str, Any]) -> dict[str, list[str]]:
    """The song's tags the user has a positive affinity for, by dimension."""
    out = {}
    for dim, tags in song_tag_scores(song_payload).items():
        hit = [t for t in tags if (affinity.get(dim) or {}).get(t, 0.0) > 0]
        if hit:
            out[dim] = hit
    return out


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
        self.profile_config = ProfileConfig(long_half_life_s=cs.long_half_life_days * DAY,
                                            short_half_life_s=cs.short_half_life_days * DAY,
                                            max_centroids=cs.max_interests)
        self.space = self.profile_config.centroid_space
        self._lock = threading.RLock()
        self.log = FeedbackLog(self.settings.data_path / "feedback.sqlite",
                               synchronous=cs.feedback_sync)
        try:
            self.users = UserStore(catalog.store, cs.users_collection,
                                   song_dims=catalog.spec.dense, config=self.profile_config)
            self.songs_search = store_search(catalog.store, catalog.spec)
            self.learner = self._new_learner(warm=warm_start)
            if warm_start:
                self.catch_up()
        except BaseException:
            self.log.close()
            raise

    def _new_learner(self, *, warm: bool) -> OnlineRanker:
        config = RankerConfig.from_settings(self.cs.ranker)
        make = OnlineRanker.open if warm else OnlineRanker
        return make(self.settings.data_path / "ranker", config=config,
                    window_s=self.cs.label_window_s, keep=self.cs.snapshots_kept)

    def close(self) -> None:
        """Snapshot the ranker if it learnt anything since the last one; close the log."""
        with self._lock:
            if self.learner.pending_events:
                self.learner.snapshot()
            self.log.close()

    # -- folding events in -----------------------------------------------------------------------
    def _songs(self, song_ids: Iterable[str]) -> dict[str, Hit]:
        ids = sorted(set(song_ids))
        out: dict[str, Hit] = {}
        for i in range(0, len(ids), 256):
            for h in self.catalog.store.get(self.catalog.spec, ids[i:i + 256], with_vectors=True):
                out[h.key] = h
        return out

    def _counts_before(self, logged: Sequence[LoggedEvent]) -> dict[str, Counter]:
        """Per-song event counts as they were before ``logged`` (which the log already holds)."""
        counts: dict[str, Counter] = defaultdict(Counter)
        for sid, c in self.log.song_counts([le.event.song_id for le in logged]).items():
            counts[sid].update(c)
        for le in logged:
            counts[le.event.song_id][le.event.event] -= 1
        return counts

    @staticmethod
    def _features(profile: UserProfile, song: Hit, ts: float, counts: Counter
                  ) -> dict[str, float]:
        return build_features(profile=profile, song_payload=song.payload,
                              song_vectors=song.vectors, ts=ts, song_counts=dict(counts))

    def _apply(self, logged: Sequence[LoggedEvent], songs: Mapping[str, Hit],
               profiles: dict[str, list], counts: dict[str, Counter]) -> set[str]:
        """Fold logged events, in log order, into the ranker's joiner and the profiles.

        ``profiles`` maps user ids to ``[profile, applied_seq]`` and is updated in place (an
        event at or below a user's ``applied_seq`` is already in the profile); ``counts`` are
        the per-song counts before the first event. Returns the users whose profile changed.
        """
        touched: set[str] = set()
        for le in logged:
            ev, song = le.event, songs.get(le.event.song_id)
            if song is None:
                self.learner.skip_to(le.seq)
            else:
                entry = profiles.get(ev.user_id)
                if entry is None:
                    entry = profiles[ev.user_id] = [UserProfile(ev.user_id, self.profile_config),
                                                    0]
                if le.seq > self.learner.seq:
                    self.learner.add(le.seq, ev, partial(self._features, entry[0], song, ev.ts,
                                                         counts[ev.song_id].copy()))
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
        with self._lock:
            while chunk := list(self.log.iter_events(self.learner.seq, limit=_CHUNK)):
                self._fold_logged(chunk, self._songs(le.event.song_id for le in chunk))
                n += len(chunk)
        if n:
            log.info("cold start: replayed %d logged events after the ranker snapshot", n)
        return n

    # -- feedback --------------------------------------------------------------------------------
    def record(self, raw: Sequence[Any]) -> dict[str, Any]:
        """Validate a client batch, log the good events durably, fold them in.

        Returns ``accepted`` (valid events), ``new`` (not seen before: a retried batch is not
        counted twice), ``duplicates``, ``rejected`` (``index``, ``code``, ``reason``) and
        ``warnings`` (valid events kept in the log that changed nothing: ``unknown_song``).
        """
        if len(raw) > self.cs.max_batch:
            raise PayloadTooLarge(f"{len(raw)} events in one batch; at most "
                                  f"{self.cs.max_batch} (coldstart.max_batch)")
        good, rejected = validate_batch(raw, config=self.profile_config.signal)
        bad = {r.index for r in rejected}
        index = [i for i in range(len(raw)) if i not in bad]
        songs = self._songs(ev.song_id for ev in good)
        with self._lock:
            before = self.log.last_seq()
            self.log.append(sorted(good, key=lambda e: e.ts))  # log order = time order
            new = list(self.log.iter_events(before))
            self._fold_logged(new, songs)
        warnings = [EventProblem(index[j], "unknown_song",
                                 f"song_id {ev.song_id!r} is not in the catalog: the event is "
                                 "logged but changes no profile and trains nothing")
                    for j, ev in enumerate(good) if ev.song_id not in songs]
        return {"accepted": len(good), "new": len(new), "duplicates": len(good) - len(new),
                "rejected": rejected, "warnings": warnings}

    # -- batch rebuild ---------------------------------------------------------------------------
    def rebuild(self, *, on_progress: Callable[[int], None] | None = None) -> dict[str, Any]:
        """Rebuild every profile with events and the ranker from the whole log (in memory);
        the ranker is batch-fit (:meth:`Ranker.fit`) on every final sample, then snapshotted.

        Profiles of users without logged events (onboarding only) are left as they are.
        """
        t0 = time.perf_counter()
        with self._lock:
            old, self.learner = self.learner, self._new_learner(warm=False)
            try:
                summary = self._rebuild(on_progress)
            except BaseException:
                self.learner = old  # nothing half-built gets snapshotted at close
                raise
        summary["seconds"] = time.perf_counter() - t0
        return summary

    def _rebuild(self, on_progress: Callable[[int], None] | None) -> dict[str, Any]:
        profiles: dict[str, list] = {}
        counts: dict[str, Counter] = defaultdict(Counter)
        songs: dict[str, Hit] = {}
        unknown: set[str] = set()
        n = n_unknown = 0
        for chunk in _chunks(self.log.iter_events(0)):
            need = {le.event.song_id for le in chunk} - songs.keys() - unknown
            found = self._songs(need)
            songs.update(found)
            unknown |= need - found.keys()
            self._apply(chunk, songs, profiles, counts)
            n += len(chunk)
            n_unknown += sum(le.event.song_id in unknown for le in chunk)
            if on_progress is not None:
                on_progress(len(chunk))
        samples = self.learner.fit_ready()
        self.users.save([(p, seq) for p, seq in profiles.values()])
        path = self.learner.snapshot()
        return {"events": n, "events_unknown_song": n_unknown, "users": len(profiles),
                "songs": len(songs), "samples": samples, "ranker": self.learner.describe(),
                "snapshot": str(path)}

    # -- users -----------------------------------------------------------------------------------
    def _tag_list(self, dim: str, scores: Mapping[str, float], n: int) -> list[dict[str, Any]]:
        en = self.catalog.taxonomy.en
        top = sorted(((t, v) for t, v in scores.items() if v > 0), key=lambda tv: -tv[1])[:n]
        return [{"tag": t, "en": en.get((dim, t), t), "affinity": round(v, 4)} for t, v in top]

    def _interests(self, profile: UserProfile) -> list[dict[str, Any]]:
        """Each interest centroid with its share, and the tags and songs of the liked songs
        closest to it (from the user's log)."""
        ints = profile.interests(self.space)
        if not ints:
            return []
        liked = [le.event.song_id for le in self.log.iter_events(user_id=profile.user_id)
                 if signal_weight(le.event, self.profile_config.signal) > 0]
        liked = list(dict.fromkeys(reversed(liked)))[:200]
        groups: list[list[tuple[float, Hit]]] = [[] for _ in ints]
        for h in self._songs(liked).values():
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
            out.append({"share": round(share, 4),
                        "top_tags": {d: [t for t, _ in tags[d].most_common(3)]
                                     for d in DIMENSIONS if tags.get(d)},
                        "songs": [h.key for _, h in group[:5]]})
        return out

    def user_view(self, user_id: str, *, n_tags: int = 5) -> dict[str, Any]:
        """What the service knows about a user (raises :class:`NotFound`)."""
        profile, payload = self.users.get(user_id)
        by_type = self.log.user_counts(user_id)

        def top(d: Mapping[str, float], n: int) -> list[dict[str, Any]]:
            return [{"name": k, "affinity": round(v, 4)} for k, v in
                    sorted(d.items(), key=lambda kv: -kv[1])[:n] if v > 0]

        return {
            "user_id": user_id,
            "created_ts": profile.created_ts, "last_event_ts": profile.t_ref,
            "updated_at": payload.get("updated_at"),
            "events": {"logged": sum(by_type.values()), "by_type": by_type,
                       "in_profile": profile.n_events, "positive": profile.n_positive,
                       "negative": profile.n_negative},
            "top_tags": {d: self._tag_list(d, profile.tag_affinity.get(d) or {}, n_tags)
                         for d in DIMENSIONS if profile.tag_affinity.get(d)},
            "interests": self._interests(profile),
            "languages": top(profile.language_affinity, 3),
            "artists": top(profile.artist_affinity, n_tags),
            "audio": payload.get("audio_usual") or {},
            "onboarding_tags": profile.onboarding_tags,
        }

    # -- recall ----------------------------------------------------------------------------------
    @staticmethod
    def _song_items(items: Sequence[RecallItem], payloads: Mapping[str, Mapping[str, Any]],
                    affinity: Mapping[str, Mapping[str, float]],
                    extra: Mapping[str, Mapping[str, Any]] | None = None) -> list[dict]:
        out = []
        for it in items:
            pl = payloads.get(it.id) or {}
            out.append({"song_id": it.id, "score": round(it.score, 6), "reason": it.reason,
                        "title": pl.get("title"), "artist": pl.get("artist"),
                        "ingested_at": pl.get("ingested_at"),
                        "matched_tags": _matched_tags(affinity, pl),
                        **(extra or {}).get(it.id, {})})
        return out

    def recall_song_audience(self, song_id: str, *, k: int = 20) -> dict[str, Any]:
        """(a) A new song → the users most likely to enjoy it (users who already heard or
        judged it are left out)."""
        hit = self.catalog.get_hit(song_id, with_vectors=True)
        heard = frozenset(le.event.user_id for le in self.log.iter_events(song_id=song_id)
                          if le.event.event != "impression")
        search, payloads = _capturing(self.users.search)
        spaces = tuple(f"interest_{i}" for i in range(self.cs.max_interests)) + (
            f"long_{self.space}",)
        rec = SongAudienceRecaller(search, song_space=self.space, user_spaces=spaces,
                                   tag_weight=self.cs.recall_tag_weight)
        items = rec.recall(k=k, song=SongQuery(song_id, hit.payload, hit.vectors or {}),
                           filter=SongFilter(exclude_ids=heard))
        return {"mode": "song_audience", "song_id": song_id, "items": [
            {"user_id": it.id, "score": round(it.score, 6), "reason": it.reason,
             "matched_tags": _matched_tags(payloads[it.id].get("tag_affinity") or {},
                                           hit.payload)} for it in items]}

    def recall_user_new_songs(self, user_id: str, *, k: int = 20,
                              window_days: float | None = None) -> dict[str, Any]:
        """(b) A user → new songs (ingested within ``window_days`` and with fewer than
        ``coldstart.few_interactions`` interactions) the user has not heard, per interest."""
        profile, _ = self.users.get(user_id)
        days = window_days or self.cs.new_song_window_days
        heard = frozenset(le.event.song_id for le in self.log.iter_events(user_id=user_id)
                          if le.event.event != "impression")
        search, payloads = _capturing(self.songs_search)
        filt = SongFilter(ingested_after=time.time() - days * DAY, exclude_ids=heard)
        rec = UserNewSongsRecaller(search, space=self.space, short_share=self.cs.short_share,
                                   tag_weight=self.cs.recall_tag_weight)
        if rec.sources(profile):
            items = rec.recall(k=2 * k, user=profile, filter=filt)
        else:  # no taste vector yet (onboarding tags only): by the chosen tags
            items = OnboardingRecaller(search, space=self.space).recall(k=2 * k, user=profile,
                                                                        filter=filt)
        n_int = self.log.interaction_counts([it.id for it in items])
        items = [it for it in items if n_int[it.id] < self.cs.few_interactions][:k]
        extra = {it.id: {"interactions": n_int[it.id]} for it in items}
        return {"mode": "user_new_songs", "user_id": user_id, "window_days": days,
                "items": self._song_items(items, payloads, profile.tag_affinity, extra)}

    def recall_onboarding(self, *, tags: Mapping[str, Sequence[str]],
                          liked_song_ids: Sequence[str], k: int = 20,
                          user_id: str | None = None) -> dict[str, Any]:
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
        hits = self._songs(liked)
        missing = [s for s in liked if s not in hits]
        if missing:
            raise NotFound(f"unknown liked_song_ids: {missing}", song_ids=missing)
        now = time.time()
        profile = onboarding_profile(
            user_id or "onboarding", tags=chosen, ts=now, config=self.profile_config,
            liked_song_vectors=[hits[s].vectors or {} for s in liked],
            liked_song_payloads=[hits[s].payload for s in liked])
        search, payloads = _capturing(self.songs_search)
        items = OnboardingRecaller(search, space=self.space).recall(
            k=k, user=profile, filter=SongFilter(exclude_ids=frozenset(liked)))
        saved = False
        if user_id is not None:
            with self._lock:
                if not self.users.exists(user_id):
                    self.users.save([(profile, 0)], onboarded_at=now)
                    saved = True
        return {"mode": "onboarding", "user_id": user_id, "saved": saved, "tags": chosen,
                "items": self._song_items(items, payloads, profile.tag_affinity)}

    # -- ranking ---------------------------------------------------------------------------------
    def rank(self, user_id: str, song_ids: Sequence[str], *, hour: int | None = None,
             weekday: int | None = None, n_features: int = 5) -> dict[str, Any]:
        """Order ``song_ids`` for ``user_id`` by the ranker's combined score. An unknown user is
        ranked with the "unknown user" features (``user_known: false``)."""
        ids = list(dict.fromkeys(song_ids))
        hits = self._songs(ids)
        missing = [s for s in ids if s not in hits]
        if missing:
            raise NotFound(f"unknown song_ids: {missing}", song_ids=missing)
        profile = self.users.find(user_id)
        counts = self.log.song_counts(ids)
        now = time.time()
        feats = [build_features(profile=profile, song_payload=hits[s].payload,
                                song_vectors=hits[s].vectors, ts=now, hour=hour,
                                weekday=weekday, song_counts=counts.get(s)) for s in ids]
        with self._lock:
            ranker = self.learner.ranker
            preds = [ranker.predict(f) for f in feats]
            why = [ranker.explain(f, n_features) for f in feats]
            info = self.learner.describe()
        order = sorted(range(len(ids)), key=lambda i: -preds[i][2])
        items = [{"song_id": ids[i], "rank": r + 1, "score": round(preds[i][2], 6),
                  "scores": {"complete": round(preds[i][0], 6), "like": round(preds[i][1], 6)},
                  "title": hits[ids[i]].payload.get("title"),
                  "artist": hits[ids[i]].payload.get("artist"),
                  "top_features": [{"feature": nm, "value": round(v, 4),
                                    "contribution": round(c, 6)} for nm, v, c in why[i]]}
                 for r, i in enumerate(order)]
        return {"user_id": user_id, "user_known": profile is not None,
                "ranker": {"version": info["version"], "samples_seen": info["samples_seen"]},
                "items": items}

