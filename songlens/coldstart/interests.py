"""A listener's interest centroids: NetEase's "dynamic multi-interest" as an online spherical
k-means over the songs they liked.

Each positive song is assigned in one space (the profile's ``centroid_space``): it joins the
closest centroid, or seeds a new one when it is farther than the join threshold from all of them
(so a listener with narrow taste keeps one centroid); at the cap the two closest centroids merge
to make room, unless the song is closer to one of them than they are to each other (then it
joins its closest centroid). Centroids closer than the merge threshold merge. Every centroid
keeps a mass-weighted mean in every space and a mass (the caller decays it).

Thresholds. With a fixed ``new_cos`` / ``merge_cos`` a real catalogue defeats the split: real
embeddings share a large common direction, so songs of unrelated sources sit at cosine 0.4–0.7
and never fall below 0.3. With a :class:`SimilarityBackground` (a sample of the catalogue's song
vectors, kept by the catalogue side) the thresholds follow the catalogue instead. Cosines are
then taken after subtracting the catalogue's mean vector (the shared direction that makes
everything look alike), a song joins a centroid when it is closer to it than the ``quantile`` of
catalogue songs are (the centroid's own neighbourhood: 0.8 = its nearest fifth of the
catalogue), and two centroids merge when each lies inside the other's neighbourhood. The
centroids' stored means stay in the original space (recall searches with them).

Cap. The caller passes the cap. Optionally (``ProfileConfig.interest_growth``, off by default:
it measured barely better and can lock an early mixture of two tastes into one centroid), it
grows with the history as MIND grows capsules: :func:`interest_cap` =
``min(max_centroids, 1 + floor(log2(n)))`` for ``n`` positive songs so far (1, 2, 2, 3, …, 4
from 8 songs on).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

__all__ = ["Centroid", "SimilarityBackground", "unit", "add_to_interests", "interest_cap"]

_EPS = 1e-9


def unit(v: np.ndarray | None) -> np.ndarray | None:
    """``v`` scaled to length 1; None for None or a (near-)zero vector."""
    if v is None:
        return None
    n = float(np.linalg.norm(v))
    return None if n < _EPS else (v / n)


@dataclass
class Centroid:
    """One interest: decayed ``mass`` and a (not normalised) mean vector per space."""

    mass: float
    means: dict[str, np.ndarray]

    def direction(self, space: str) -> np.ndarray | None:
        return unit(self.means.get(space))


class SimilarityBackground:
    """Unit vectors of a sample of catalogue songs in one ``space``: what "close" means there.

    Parameters
    ----------
    vectors : ndarray [shape=(n, d)]
        Song vectors (normalised here); rows that are zero are dropped.
    space : str
        The named vector space they are in.
    quantile : float
        The neighbourhood of a direction is the ``quantile`` of the sample's cosines to it
        (0.8: closer than four songs in five of the catalogue).
    """

    def __init__(self, vectors: np.ndarray, *, space: str, quantile: float = 0.8) -> None:
        m = np.asarray(vectors, dtype=np.float64)
        if m.ndim != 2 or len(m) == 0:
            raise ValueError(f"SimilarityBackground needs a (n, d) sample with n > 0, got shape "
                             f"{m.shape}")
        if not 0.0 < quantile < 1.0:
            raise ValueError(f"quantile must be in (0, 1), got {quantile!r}")
        n = np.linalg.norm(m, axis=1)
        m = m[n > _EPS] / n[n > _EPS, None]
        self._raw = m
        self.mean = m.mean(axis=0)
        c = m - self.mean
        nc = np.linalg.norm(c, axis=1)
        self.sample = c / np.maximum(nc, _EPS)[:, None]
        self.space, self.quantile = space, float(quantile)

    def view(self, v: np.ndarray | None) -> np.ndarray | None:
        """``v`` less the catalogue mean, unit length (None for None or a zero result)."""
        return None if v is None else unit(np.asarray(v, dtype=np.float64) - self.mean)

    def __len__(self) -> int:
        return len(self.sample)

    def threshold(self, direction: np.ndarray) -> float:
        """The cosine a song needs to be among the ``quantile`` closest to ``direction`` (both
        as :meth:`view` gives them)."""
        return float(np.quantile(self.sample @ direction, self.quantile))

    def pair_cosines(self, n: int = 2000, seed: int = 0) -> np.ndarray:
        """Cosines of ``n`` random song pairs of the sample, as they come (not centred)."""
        rng = np.random.default_rng(seed)
        m = self._raw
        i = rng.integers(0, len(m), size=n)
        j = rng.integers(0, len(m), size=n)
        keep = i != j
        return np.einsum("ij,ij->i", m[i[keep]], m[j[keep]])


def interest_cap(n_positive: int, max_centroids: int) -> int:
    """Centroids allowed after ``n_positive`` positive songs (MIND's growth with history)."""
    return max(1, min(max_centroids, 1 + int(np.floor(np.log2(max(n_positive, 1))))))


def add_to_interests(centroids: list[Centroid], vecs: Mapping[str, np.ndarray], mass: float, *,
                     space: str, max_centroids: int, new_cos: float, merge_cos: float,
                     background: SimilarityBackground | None = None) -> None:
    """Fold one positive song into ``centroids`` (in place).

    Parameters
    ----------
    centroids : list of Centroid
        The listener's centroids, changed in place.
    vecs : mapping of str to ndarray
        The song's unit vectors by space; a song without a ``space`` vector changes nothing.
    mass : float
        The song's (decayed, positive) weight.
    space, max_centroids, new_cos, merge_cos
        See the module docstring; ``max_centroids`` is the cap for this call
        (:func:`interest_cap`).
    background : SimilarityBackground, optional
        When given (and in ``space``), the join and merge thresholds come from it and
        ``new_cos`` / ``merge_cos`` are not used.
    """
    if background is not None and background.space != space:
        background = None
    key = vecs.get(space)
    if key is None:
        return
    if not centroids:
        centroids.append(Centroid(mass, {s: v.copy() for s, v in vecs.items()}))
        return
    if background is not None:
        key = background.view(key)
        if key is None:  # the catalogue's mean song: says nothing about which interest
            return
    sims, joins = [], []
    for c in centroids:
        d = _dir(c, space, background)
        sims.append(float(np.dot(d, key)) if d is not None else -1.0)
        joins.append(background.threshold(d) if background is not None and d is not None
                     else new_cos)
    best = int(np.argmax(sims))
    if all(s < t for s, t in zip(sims, joins, strict=True)):
        if len(centroids) >= max_centroids:
            i, j, cos_ij = _closest_pair(centroids, space, background)
            if cos_ij > sims[best]:
                _merge(centroids, i, j)
            else:
                _absorb(centroids[best], vecs, mass)
                return
        centroids.append(Centroid(mass, {s: v.copy() for s, v in vecs.items()}))
    else:
        _absorb(centroids[best], vecs, mass)
    while len(centroids) > 1:
        i, j, cos = _closest_pair(centroids, space, background)
        if background is None:
            if cos < merge_cos:
                return
        else:
            di, dj = _dir(centroids[i], space, background), _dir(centroids[j], space, background)
            if di is None or dj is None or cos < max(background.threshold(di),
                                                     background.threshold(dj)):
                return
        _merge(centroids, i, j)


def _absorb(c: Centroid, vecs: Mapping[str, np.ndarray], mass: float) -> None:
    tot = c.mass + mass
    for s, v in vecs.items():
        if s in c.means:
            c.means[s] = (c.means[s] * c.mass + v * mass) / tot
        else:
            c.means[s] = v.copy()
    c.mass = tot


def _dir(c: Centroid, space: str, background: SimilarityBackground | None
         ) -> np.ndarray | None:
    """A centroid's direction in ``space`` as assignment sees it (centred with a background)."""
    return c.direction(space) if background is None else background.view(c.means.get(space))


def _closest_pair(centroids: list[Centroid], space: str,
                  background: SimilarityBackground | None = None) -> tuple[int, int, float]:
    best = (0, 1, -2.0)
    for i in range(len(centroids)):
        for j in range(i + 1, len(centroids)):
            a, b = _dir(centroids[i], space, background), _dir(centroids[j], space, background)
            cos = float(np.dot(a, b)) if a is not None and b is not None else -1.0
            if cos > best[2]:
                best = (i, j, cos)
    return best


def _merge(centroids: list[Centroid], i: int, j: int) -> None:
    _absorb(centroids[i], centroids[j].means, centroids[j].mass)
    del centroids[j]
