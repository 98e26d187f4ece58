"""The vector store: one interface (:class:`VectorStore`), two Qdrant backends, one constructor."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from songlens.store.base import (
    CollectionSpec,
    Filter,
    Hit,
    Match,
    Point,
    Prefetch,
    Range,
    VectorStore,
    point_id,
)

__all__ = ["CollectionSpec", "Filter", "Hit", "Match", "Point", "Prefetch", "Range",
           "VectorStore", "configured_store", "open_store", "point_id"]


def open_store(*, url: str | None = None, api_key: str | None = None,
               path: str | Path | None = None, hnsw_m: int = 16,
               hnsw_ef_construct: int = 100, search_threads: int | None = None,
               indexing_threshold_kb: int | None = None,
               hnsw_ef: int | str | None = None, quantization: str | None = None,
               oversampling: float = 2.0, recall_target: float = 0.98) -> VectorStore:
    """The one place a backend is chosen: a Qdrant server when ``url`` is set, else Qdrant Edge
    embedded on disk at ``path``. ``hnsw_ef``: the search-time beam width of every nearest-
    neighbour query (None: the engine's default, ``hnsw_ef_construct``; ``"auto"``: measured after
    each index build to reach ``recall_target``, see ``edge_recall.py``). ``quantization``
    ``"int8"``: dense vectors also kept as int8, searched on those, the best ``oversampling`` ×
    limit candidates scored again with the float32 vectors (None or ``"none"``: float32 only)."""
    if url:
        from songlens.store.server import ServerStore

        return ServerStore(url, api_key=api_key, hnsw_m=hnsw_m,
                           hnsw_ef_construct=hnsw_ef_construct, hnsw_ef=hnsw_ef,
                           quantization=quantization, oversampling=oversampling)
    if path is None:
        raise ValueError("open_store needs a url (server) or a path (embedded)")
    from songlens.store.edge import EdgeStore

    return EdgeStore(path, hnsw_m=hnsw_m, hnsw_ef_construct=hnsw_ef_construct,
                     search_threads=search_threads, indexing_threshold_kb=indexing_threshold_kb,
                     hnsw_ef=hnsw_ef, quantization=quantization, oversampling=oversampling,
                     recall_target=recall_target)


def configured_store(settings: Any) -> VectorStore:
    """The store as ``settings.qdrant`` describes it, every index and search setting passed (the
    service and the commands that open the store themselves). The embedded engine keeps the
    configuration a collection is opened with: opened with :func:`open_store`'s defaults, its
    next build would index it with those (m 16, no int8 copies)."""
    q = settings.qdrant
    return open_store(url=q.url, api_key=q.api_key, path=settings.qdrant_path,
                      hnsw_m=q.hnsw_m, hnsw_ef_construct=q.hnsw_ef_construct, hnsw_ef=q.hnsw_ef,
                      quantization=q.quantization, oversampling=q.oversampling,
                      recall_target=q.recall_target, search_threads=q.search_threads,
                      indexing_threshold_kb=q.indexing_threshold_kb)
