"""User profiles in Qdrant: one point per user in a ``users`` collection.

A point holds the profile's unit vectors as named dense vectors (``long_<space>``,
``short_<space>``, ``interest_<i>`` and ``centroid<i>_<space>``, see
:meth:`UserProfile.named_vectors`; zero vectors are left out of the point) and
``profile.to_payload(include_vectors=False)`` as payload (the norms stay there, so a profile
reloads exactly up to float32 rounding), plus ``applied_seq``: the highest feedback-log sequence
number folded into the profile, which makes replaying the log idempotent.

Profiles load with the store's :class:`ProfileConfig` (the current settings), not the config
recorded in their payload.

Collections written before payload version 2 also have a ``centroid<i>_<centroid_space>`` slot
(a copy of ``interest_<i>``). The embedded store opens a collection only with its exact set of
vectors, so such a collection is opened with that layout and used as it is: its old points
load, new points leave the old slot empty.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from songlens.coldstart.profiles import ProfileConfig, UserProfile
from songlens.coldstart.vector_search import SearchFn, store_search
from songlens.errors import ConfigError, NotFound, VectorSizeMismatch
from songlens.store import CollectionSpec, Hit, Point, VectorStore

__all__ = ["users_spec", "UserStore"]

log = logging.getLogger(__name__)


def users_spec(name: str, song_dims: Mapping[str, int], config: ProfileConfig, *,
               legacy: bool = False) -> CollectionSpec:
    """The users collection for profiles over songs with vectors of ``song_dims``
    (``legacy``: the layout of collections written before payload version 2)."""
    dense: dict[str, int] = {}
    for s in config.spaces:
        dense[f"long_{s}"] = dense[f"short_{s}"] = song_dims[s]
    for i in range(config.max_centroids):
        dense[f"interest_{i}"] = song_dims[config.centroid_space]
        for s in config.spaces:
            if legacy or s != config.centroid_space:
                dense[f"centroid{i}_{s}"] = song_dims[s]
    return CollectionSpec(name=name, key_field="user_id", dense=dense,
                          indexes={"n_events": "integer", "t_ref": "float"})


class UserStore:
    """Load, save and search user profiles in ``store``; profiles load with ``config``."""

    def __init__(self, store: VectorStore, name: str, *, song_dims: Mapping[str, int],
                 config: ProfileConfig) -> None:
        self.store, self.config = store, config
        self.spec = users_spec(name, song_dims, config)
        try:
            store.ensure_collection(self.spec)
        except ConfigError as exc:
            legacy = users_spec(name, song_dims, config, legacy=True)
            try:
                store.ensure_collection(legacy)
            except ConfigError:
                if isinstance(exc, VectorSizeMismatch):  # the songs moved to another model
                    raise VectorSizeMismatch(
                        f"the listener profiles in collection {name!r} were built over song "
                        f"vectors of other sizes ({', '.join(exc.changed)}); run 'songlens "
                        "reembed-text' (the server stopped): it rebuilds them from the feedback "
                        "log", changed=exc.changed) from None
                raise exc from None
            log.info("users collection %r has the layout before payload version 2; using it",
                     name)
            self.spec = legacy
        self.search: SearchFn = store_search(store, self.spec)

    def _profile(self, hit: Hit) -> UserProfile:
        return UserProfile.from_payload(hit.payload, hit.vectors or {}, config=self.config)

    def load_many(self, user_ids: Iterable[str]) -> dict[str, tuple[UserProfile, int]]:
        """``{user_id: (profile, applied_seq)}`` for the users that have a profile."""
        ids = sorted(set(user_ids))
        out = {}
        for i in range(0, len(ids), 256):
            for h in self.store.get(self.spec, ids[i:i + 256], with_vectors=True):
                out[h.key] = (self._profile(h), int(h.payload.get("applied_seq", 0)))
        return out

    def get(self, user_id: str) -> tuple[UserProfile, dict[str, Any]]:
        """(profile, stored payload); raises :class:`NotFound` for an unknown user."""
        hits = self.store.get(self.spec, [user_id], with_vectors=True)
        if not hits:
            raise NotFound(f"no profile for user_id {user_id!r}: no feedback for a known song "
                           "and no onboarding yet", user_id=user_id)
        return self._profile(hits[0]), hits[0].payload

    def find(self, user_id: str) -> UserProfile | None:
        hits = self.store.get(self.spec, [user_id], with_vectors=True)
        return self._profile(hits[0]) if hits else None

    def exists(self, user_id: str) -> bool:
        return bool(self.store.get(self.spec, [user_id]))

    def _point(self, profile: UserProfile, applied_seq: int, **extra: Any) -> Point:
        vectors = profile.named_vectors()
        dropped = set(vectors) - set(self.spec.dense)
        if dropped:  # a profile made with more centroids than this collection holds
            log.warning("user %s: vectors %s have no slot in %s; left out", profile.user_id,
                        sorted(dropped), self.spec.name)
        payload = profile.to_payload(include_vectors=False)
        payload.update(applied_seq=int(applied_seq), updated_at=time.time(), **extra)
        return Point(key=profile.user_id, payload=payload,
                     vectors={k: v for k, v in vectors.items() if k in self.spec.dense})

    def save(self, profiles: Sequence[tuple[UserProfile, int]], **extra: Any) -> None:
        """Upsert ``(profile, applied_seq)`` pairs (a point is replaced whole)."""
        for i in range(0, len(profiles), 256):
            self.store.upsert(self.spec, [self._point(p, seq, **extra)
                                          for p, seq in profiles[i:i + 256]])
