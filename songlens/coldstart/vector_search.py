"""The search callable every recaller gets its candidates through, and its two implementations.

::

    search(vector, space, k, filter) -> list[(id, score, payload)]

``vector`` is a unit query vector (or None: "filter only, any order"), ``space`` the named vector
to search, ``filter`` a :class:`~songlens.catalog.filters.SongFilter` (or None).
:func:`store_search` puts a vector store collection behind it (Qdrant: the service);
:class:`BruteForceIndex` is its exact numpy twin (the simulator benchmark and the tests). Both
read the filter through the one filter type, so they agree on what passes.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from songlens.catalog.filters import SongFilter
from songlens.errors import InvalidInput
from songlens.store import CollectionSpec, VectorStore

__all__ = ["SearchFn", "store_search", "BruteForceIndex"]

SearchFn = Callable[[np.ndarray | None, str, int, SongFilter | None],
                    list[tuple[str, float, Mapping[str, Any]]]]


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


class BruteForceIndex:
    """Exact cosine search over in-memory unit vectors: the numpy twin of a collection.

    Call it as a :data:`SearchFn`. Points may lack some spaces (like Qdrant's optional named
    vectors); those points are not candidates in that space.
    """

    def __init__(self) -> None:
        self._ids: dict[str, list[str]] = {}
        self._mats: dict[str, list[np.ndarray]] = {}
        self._cache: dict[str, tuple[list[str], np.ndarray]] = {}
        self.payloads: dict[str, Mapping[str, Any]] = {}

    def add(self, key: str, vectors: Mapping[str, np.ndarray],
            payload: Mapping[str, Any]) -> None:
        if key in self.payloads:
            raise InvalidInput(f"BruteForceIndex: key {key!r} already added")
        self.payloads[key] = payload
        for s, v in vectors.items():
            self._ids.setdefault(s, []).append(key)
            self._mats.setdefault(s, []).append(np.asarray(v, dtype=np.float32))
            self._cache.pop(s, None)
            self._cache.pop(f"{s}\x00ingested", None)

    def __len__(self) -> int:
        return len(self.payloads)

    def _matrix(self, space: str) -> tuple[list[str], np.ndarray]:
        if space not in self._cache:
            ids = self._ids.get(space, [])
            mat = np.stack(self._mats[space]) if ids else np.zeros((0, 1), np.float32)
            self._cache[space] = (ids, mat)
        return self._cache[space]

    def _ingested(self, space: str) -> np.ndarray:
        key = f"{space}\x00ingested"
        ids, _ = self._matrix(space)
        if key not in self._cache:
            arr = np.array([float(self.payloads[k].get("ingested_at", -np.inf)) for k in ids])
            self._cache[key] = (ids, arr)
        return self._cache[key][1]

    def __call__(self, vector: np.ndarray | None, space: str, k: int,
                 filter: SongFilter | None = None) -> list[tuple[str, float, Mapping[str, Any]]]:
        ids, mat = self._matrix(space)
        if not ids or k <= 0:
            return []
        if vector is None:
            scores = np.zeros(len(ids), dtype=np.float32)
        else:
            scores = mat @ np.asarray(vector, dtype=np.float32)
        order = np.arange(len(ids))
        if filter is not None and filter.ingested_after is not None:  # vectorised pre-filter
            order = order[self._ingested(space) >= filter.ingested_after]
        if vector is not None:
            order = order[np.argsort(-scores[order], kind="stable")]
        out = []
        for i in order:
            key = ids[i]
            if filter is not None and not filter.matches(key, self.payloads[key]):
                continue
            out.append((key, float(scores[i]), self.payloads[key]))
            if len(out) >= k:
                break
        return out
