"""The recallers' :data:`~songlens.coldstart.recall.SearchFn` over a real vector store:
:func:`store_search` wraps one collection as a search callable; its filter is a
:class:`~songlens.catalog.filters.SongFilter`, translated by :meth:`SongFilter.to_store`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from songlens.catalog.filters import SongFilter
from songlens.coldstart.recall import SearchFn
from songlens.store import CollectionSpec, VectorStore

__all__ = ["store_search"]


def store_search(store: VectorStore, spec: CollectionSpec) -> SearchFn:
    """A :data:`SearchFn` over one collection: nearest points by the named vector ``space``,
    or (``vector=None``) a filtered scroll in storage order with score 0."""

    def search(vector: np.ndarray | None, space: str, k: int, filter: SongFilter | None = None
               ) -> list[tuple[str, float, Mapping[str, Any]]]:
        if k <= 0:
            return []
        flt = filter.to_store() if filter is not None else None
        if vector is None:
            hits, _ = store.scroll(spec, filter=flt, limit=k)
        else:
            hits = store.search(spec, using=space, vector=vector, limit=k, filter=flt)
        return [(h.key, float(h.score), h.payload) for h in hits]

    return search
