"""The recallers' :data:`~songlens.coldstart.recall.SearchFn` over a real vector store.

:class:`~songlens.coldstart.recall.SearchFilter` is store-neutral; :func:`to_store_filter`
translates it into the store's :class:`~songlens.store.Filter` (the same payload
fields the catalog indexes: ``ingested_at``, ``tag_<dim>``, ``language``), and
:func:`store_search` wraps one collection as a search callable.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from songlens.coldstart.recall import SearchFilter, SearchFn
from songlens.store import CollectionSpec, Filter, Match, Range, VectorStore

__all__ = ["to_store_filter", "store_search"]


def to_store_filter(f: SearchFilter | None) -> Filter | None:
    """``ingested_after`` → range on ``ingested_at``; ``exclude_ids`` → excluded keys;
    ``tags_any`` → one any-of match on ``tag_<dim>`` per dimension; ``languages`` → any-of
    match on ``language``. None when nothing is filtered."""
    if f is None:
        return None
    must: list[Match | Range] = []
    if f.ingested_after is not None:
        must.append(Range("ingested_at", gte=float(f.ingested_after)))
    for dim, tags in f.tags_any.items():
        if tags:
            must.append(Match(f"tag_{dim}", tuple(tags)))
    if f.languages:
        must.append(Match("language", tuple(f.languages)))
    flt = Filter(must=tuple(must), exclude_keys=tuple(sorted(f.exclude_ids)))
    return flt or None


def store_search(store: VectorStore, spec: CollectionSpec) -> SearchFn:
    """A :data:`SearchFn` over one collection: nearest points by the named vector ``space``,
    or (``vector=None``) a filtered scroll in storage order with score 0."""

    def search(vector: np.ndarray | None, space: str, k: int, filter: SearchFilter | None = None
               ) -> list[tuple[str, float, Mapping[str, Any]]]:
        if k <= 0:
            return []
        flt = to_store_filter(filter)
        if vector is None:
            hits, _ = store.scroll(spec, filter=flt, limit=k)
        else:
            hits = store.search(spec, using=space, vector=vector, limit=k, filter=flt)
        return [(h.key, float(h.score), h.payload) for h in hits]

    return search
