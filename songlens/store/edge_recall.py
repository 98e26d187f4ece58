"""The search beam width (``hnsw_ef``) each named vector needs to reach a recall target,
measured on the collection itself after each index build.

How far HNSW must search to find the true nearest neighbours depends on the data as much as on
the graph. On the benchmark's realistic song embeddings a narrow beam finds them all, while on
uniform random vectors (no structure, every point nearly as far as any other) the same graph
needs a beam four times wider for recall@10 0.98 at 100k songs (benchmarks/RESULTS.md, "int8
vectors and a measured beam width"). One fixed ``hnsw_ef`` is then slow on one catalogue or
inaccurate on another. So after a build the store searches a sample of its own points both ways,
exactly (every point scored) and through the index at a rising ladder of widths, with the
search parameters it serves with, and keeps per named vector the smallest width whose mean
recall@10 reaches the target (FAISS's ``ParameterSpace`` autotuning does the same for its
indexes). Searches with a payload filter are not sampled: the engine switches to exact search
for filters that leave few points, and its filtered graph search was measured separately
(``benchmarks/lookup_recall.py realistic``).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from functools import lru_cache
from typing import Any

import qdrant_edge as qe

from songlens.store.base import FIRST_EF

__all__ = ["FIRST_EF", "LADDER", "measure", "search_params"]

#: Widths tried, narrowest first; the widest is kept when none reaches the target.
LADDER = (16, 32, 64, 128, 256, 512, 1024, 2048, 4096)


@lru_cache(maxsize=64)
def search_params(hnsw_ef: int | None, quantization: str | None,
                  oversampling: float) -> qe.SearchParams | None:
    """Every nearest-neighbour query's parameters: the beam width (None: the engine's default,
    ef_construct), and with int8 copies the ``oversampling`` × limit best candidates rescored
    with the float32 vectors; ``"none"`` ignores int8 copies a store may already hold."""
    if quantization == "int8":
        quant = qe.QuantizationSearchParams(rescore=True, oversampling=oversampling)
    elif quantization == "none":
        quant = qe.QuantizationSearchParams(ignore=True)
    else:
        quant = None
    if not hnsw_ef and quant is None:
        return None
    return qe.SearchParams(hnsw_ef=hnsw_ef or None, quantization=quant)


def _ids_scores(points: Sequence[Any], skip: Any, k: int) -> list[tuple[str, float]]:
    return [(str(p.id), float(p.score)) for p in points if str(p.id) != skip][:k]


def measure(shard: qe.EdgeShard, names: Sequence[str],
            params: Callable[[int], qe.SearchParams | None], *, target: float, sample: int = 64,
            k: int = 10) -> dict[str, dict[str, float]]:
    """``{name: {"hnsw_ef", "recall", "seconds"}}`` for each dense vector in ``names`` that at
    least ``k + 1`` sampled points hold. ``params(ef)``: the parameters searches are served
    with at width ``ef``. Each sampled point is a query with itself left out of both answers;
    a hit counts when its score reaches the exact k-th score (ties are not misses). The sample
    is the first ``sample`` points in point-id order: uuid5 hashes of the keys, an arbitrary
    subset of the catalogue."""
    recs, _ = shard.scroll(qe.ScrollRequest(limit=sample, with_payload=False,
                                            with_vector=list(names)))
    exact = qe.SearchParams(exact=True, quantization=qe.QuantizationSearchParams(ignore=True))
    out: dict[str, dict[str, float]] = {}
    for name in names:
        t0 = time.perf_counter()
        queries = [(str(r.id), list(r.vector[name])) for r in recs
                   if r.vector and isinstance(r.vector.get(name), list)]
        truth = []
        for pid, v in queries:
            got = _ids_scores(shard.query(qe.QueryRequest(
                limit=k + 1, query=qe.Query.Nearest(v, name), with_payload=False,
                params=exact)), pid, k)
            if len(got) == k:
                truth.append((pid, v, got[-1][1]))
        if not truth:
            continue
        for ef in LADDER:
            hits = 0
            for pid, v, kth in truth:
                got = _ids_scores(shard.query(qe.QueryRequest(
                    limit=k + 1, query=qe.Query.Nearest(v, name), with_payload=False,
                    params=params(ef))), pid, k)
                hits += sum(score >= kth - 1e-6 for _, score in got)
            recall = hits / (k * len(truth))
            if recall >= target or ef == LADDER[-1]:
                out[name] = {"hnsw_ef": ef, "recall": round(recall, 4),
                             "seconds": round(time.perf_counter() - t0, 3)}
                break
    return out
