"""Putting chosen songs in order: greedy maximal-marginal-relevance selection with artist
spacing (:func:`select_mmr`), and the playlist flows (:func:`order`): energy ``rising``,
``falling`` or ``arc``, and ``harmonic`` chains of Camelot-compatible keys with close tempos.

Candidates are ``(hit, relevance, reasons)`` triples sorted best first (ties by song id)."""

from __future__ import annotations

from typing import Any

import numpy as np

from songlens.content.features import camelot_step
from songlens.store import Hit

__all__ = ["order", "select_mmr"]

Scored = tuple[Hit, float, Any]


def order(items: list[Scored], flow: str) -> list[Scored]:
    """``items`` in the order ``flow`` asks for (``none``: as given)."""
    def energy(h: Hit) -> float:
        return float(h.payload.get("energy") or 0.0)

    if flow == "rising":
        return sorted(items, key=lambda x: (energy(x[0]), x[0].key))
    if flow == "falling":
        return sorted(items, key=lambda x: (-energy(x[0]), x[0].key))
    if flow == "arc":  # low → peak in the second third → low
        by = sorted(items, key=lambda x: (energy(x[0]), x[0].key))
        up, down = by[0::2], by[1::2]
        return up + down[::-1]
    if flow == "harmonic" and items:
        # greedy nearest-key chains from several starts; keep the one with the fewest clashes
        starts = range(len(items)) if len(items) <= 40 else range(20)
        return min((_harmonic_chain(items, s) for s in starts), key=_chain_cost)
    return items


def _step_cost(a: dict[str, Any], b: dict[str, Any]) -> tuple[int, float]:
    return (camelot_step(a.get("camelot"), b.get("camelot")),
            abs(float(a.get("tempo_bpm") or 0) - float(b.get("tempo_bpm") or 0)))


def _harmonic_chain(items: list, start: int) -> list:
    rest = list(items)
    out = [rest.pop(start)]
    while rest:
        last = out[-1][0].payload
        nxt = min(rest, key=lambda x: (*_step_cost(last, x[0].payload), x[0].key))
        rest.remove(nxt)
        out.append(nxt)
    return out


def _chain_cost(chain: list) -> tuple[int, int, float]:
    steps = [_step_cost(a[0].payload, b[0].payload) for a, b in zip(chain, chain[1:],
                                                                    strict=False)]
    return (sum(k > 1 for k, _ in steps), sum(k for k, _ in steps), sum(t for _, t in steps))


def select_mmr(cands: list[Scored], length: int, diversity: float, spacing: int
               ) -> tuple[list[Scored], bool]:
    """Greedy MMR with artist spacing; returns (picked, spacing_relaxed).

    Each step takes the candidate with the best ``λ·relevance − (1−λ)·max cosine to the picked
    songs`` (``fused`` vectors; 0 before the first pick or without a vector). The running maximum
    is kept per candidate and updated with one matrix-vector product per pick. ``cands`` is
    sorted, so ties keep the first (by id)."""
    lam = 1.0 - diversity
    n = len(cands)
    rel = np.array([r for _, r, _ in cands], dtype=np.float64)
    artists = [h.payload.get("artist_key") or None for h, _, _ in cands]
    has_vec = np.array([bool(h.vectors) and "fused" in h.vectors for h, _, _ in cands])
    vecs = np.stack([np.asarray(h.vectors["fused"], dtype=np.float32) for h, _, _ in cands
                     if h.vectors and "fused" in h.vectors]) if has_vec.any() else None
    rows = np.cumsum(has_vec) - 1  # candidate → row of ``vecs``
    max_sim = np.full(n, -np.inf)
    left = np.ones(n, dtype=bool)
    picked: list[int] = []
    relaxed = False
    while left.any() and len(picked) < length:
        recent = {artists[i] for i in picked[-spacing:]} - {None} if spacing else set()
        allowed = left & np.array([a is None or a not in recent for a in artists])
        if not allowed.any():
            allowed, relaxed = left, True
        sim = np.where(np.isneginf(max_sim), 0.0, max_sim)
        score = np.where(allowed, lam * rel - (1 - lam) * sim, -np.inf)
        best = int(np.argmax(score))
        left[best] = False
        picked.append(best)
        if vecs is not None and has_vec[best]:
            dots = (vecs @ vecs[rows[best]]).astype(np.float64)
            max_sim[has_vec] = np.maximum(max_sim[has_vec], dots)
    return [cands[i] for i in picked], relaxed
