"""The search beam width (``hnsw_ef``) each named vector needs to reach a recall target,
measured on the collection itself after each index build.

How far HNSW must search to find the true nearest neighbours depends on the data as much as on
the graph. At 100k songs, on the benchmark's realistic song embeddings a beam of 16 finds them
all, while on uniform random vectors (no structure, every point nearly as far as any other) the
same graph needs 1024 for recall@10 0.98 on the 912-d fused vector (benchmarks/RESULTS.md, "int8
vectors and a measured beam width"). One fixed ``hnsw_ef`` is then slow on one catalogue or
inaccurate on another. So after a build the store searches a sample of its own points both ways,
exactly (every point scored) and through the index at a rising ladder of widths, with the
search parameters it serves with, and keeps per named vector the narrowest width whose
recall@10 reaches the target with 95 % confidence (FAISS's ``ParameterSpace`` autotuning
likewise searches its parameters for a recall target). Searches with a payload filter are not
sampled: the engine switches to exact search for filters that leave few points, and its
filtered graph search was measured separately (``benchmarks/lookup_recall.py realistic``).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

import numpy as np
import qdrant_edge as qe

__all__ = ["LADDER", "SAMPLE", "measure", "search_params"]

#: Widths tried, narrowest first (steps of about √2); the widest is kept when none reaches the
#: target.
LADDER = (16, 24, 32, 48, 64, 96, 128, 192, 256, 384, 512, 768, 1024, 1536, 2048, 3072, 4096)
#: The width kept is the narrowest whose recall, less 1.645 standard errors over the sampled
#: queries (a one-sided 95 % bound), reaches the target: on 100k uniform vectors 64 queries said
#: 0.981 at width 128 where 200 held-out queries found 0.947.
Z95 = 1.645
#: Points sampled as queries, at random.
SAMPLE = 128


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


def _recall(shard: qe.EdgeShard, name: str, truth: list, params: qe.SearchParams | None,
            k: int) -> tuple[float, float]:
    """Mean recall@k over the sampled queries, and its one-sided 95 % lower bound."""
    per_query = []
    for pid, v, kth in truth:
        got = _ids_scores(shard.query(qe.QueryRequest(
            limit=k + 1, query=qe.Query.Nearest(v, name), with_payload=False, params=params)),
            pid, k)
        per_query.append(sum(score >= kth - 1e-6 for _, score in got) / k)
    r = np.asarray(per_query)
    if len(r) < 2:
        return float(r.mean()), float(r.mean())
    return float(r.mean()), float(r.mean() - Z95 * r.std(ddof=1) / np.sqrt(len(r)))


def _ladder(shard: qe.EdgeShard, name: str, truth: list, quantization: str | None,
            oversampling: float, target: float, k: int) -> tuple[int, float, float]:
    """The narrowest width whose lower bound reaches ``target`` (else the widest), its mean
    recall and the bound."""
    for ef in LADDER:
        recall, low = _recall(shard, name, truth, search_params(ef, quantization, oversampling),
                              k)
        if low >= target:
            break
    return ef, recall, low


def measure(shard: qe.EdgeShard, names: Sequence[str], quantization: str | None,
            oversampling: float, *, target: float, sample: int = SAMPLE,
            k: int = 10) -> dict[str, dict[str, Any]]:
    """``{name: {"hnsw_ef", "recall", "recall_low", "int8", "seconds"}}`` for each dense vector
    in ``names``
    that at least ``k + 1`` sampled points hold, searched as the store serves (``quantization``,
    ``oversampling``: :func:`search_params`).

    Each sampled point is a query with itself left out of both answers; a hit counts when its
    score reaches the exact k-th score (ties are not misses). The sample is drawn at random:
    the first points in id order were inserted into the graph first when the optimizer merged
    segments, and are easier to find (at 100k uniform vectors they gave 0.991 where four random
    samples gave 0.970-0.981). Where the int8 copies miss the target at every width, the
    float32 vectors are measured too and kept if they do better (``"int8": False``): a sparse
    vector such as the 71 tag probabilities, mostly zeros, loses its order in 256 levels
    (recall@10 0.86 at the widest beam in the 100k benchmark, 0.98 at width 32 in float32)."""
    recs = shard.query(qe.QueryRequest(limit=sample, query=qe.Sample.Random,
                                       with_payload=False, with_vector=list(names)))
    exact = qe.SearchParams(exact=True, quantization=qe.QuantizationSearchParams(ignore=True))
    out: dict[str, dict[str, Any]] = {}
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
        ef, recall, low = _ladder(shard, name, truth, quantization, oversampling, target, k)
        int8 = quantization == "int8"
        if int8 and low < target:
            ef32, recall32, low32 = _ladder(shard, name, truth, "none", oversampling, target, k)
            if low32 > low:
                ef, recall, low, int8 = ef32, recall32, low32, False
        out[name] = {"hnsw_ef": ef, "recall": round(recall, 4), "recall_low": round(low, 4),
                     "int8": int8, "seconds": round(time.perf_counter() - t0, 3)}
    return out
