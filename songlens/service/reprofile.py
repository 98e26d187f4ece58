"""Listener profiles after the songs' text vectors were re-embedded (``songlens reembed-text``).

A profile's text and fused vectors are averages of the vectors of the songs the listener played,
so after a text-model change they sit in the old model's space: with another dimension the users
collection no longer even opens. The profiles are rebuilt from the feedback log against the
re-embedded songs, as ``songlens train`` does; when the collection's vector sizes no longer fit,
it is dropped first. A profile made only from onboarding choices has no events to rebuild from:
it is kept when the sizes still fit and lost (and counted) when they do not."""

from __future__ import annotations

from dataclasses import dataclass

from songlens.catalog.pipeline import Catalog
from songlens.errors import VectorSizeMismatch
from songlens.service.coldstart import ColdStartService
from songlens.settings import Settings
from songlens.store.base import CollectionSpec

__all__ = ["ProfileRefresh", "refresh_profiles"]


@dataclass(frozen=True)
class ProfileRefresh:
    """``dropped``: profiles in a users collection whose sizes no longer fit (deleted);
    ``rebuilt``: profiles rebuilt from the log; ``lost``: dropped profiles with no events to
    rebuild from (onboarding only)."""

    dropped: int
    rebuilt: int
    lost: int
    events: int


def refresh_profiles(catalog: Catalog, settings: Settings) -> ProfileRefresh | None:
    """Rebuild the listener profiles for the catalogue's current text vectors (None: there is no
    users collection, so nothing to do)."""
    name = settings.coldstart.users_collection
    store = catalog.store
    sizes = store.collection_sizes(name)
    if sizes is None:
        return None
    dropped = 0
    try:
        service = ColdStartService(catalog, settings, warm_start=False)
    except VectorSizeMismatch:
        spec = CollectionSpec(name=name, key_field="user_id", dense=dict(sizes))  # as stored
        dropped = store.count(spec)
        store.drop_collection(spec)
        service = ColdStartService(catalog, settings, warm_start=False)
    try:
        summary = service.rebuild()
    finally:
        service.close()
    return ProfileRefresh(dropped=dropped, rebuilt=summary.users,
                          lost=max(0, dropped - summary.users), events=summary.events)
