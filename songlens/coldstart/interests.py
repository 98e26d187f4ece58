"""A listener's interest centroids: NetEase's "dynamic multi-interest" as an online spherical
k-means over the songs they liked.

Each positive song is assigned in one space (the profile's ``centroid_space``): it joins the
closest centroid, or seeds a new one when it is farther than ``new_cos`` from all of them (so a
listener with narrow taste keeps one centroid); at ``max_centroids`` the two closest centroids
merge to make room, unless the song is closer to one of them than they are to each other (then
it joins its closest centroid). Centroids closer than ``merge_cos`` merge. Every centroid keeps a
mass-weighted mean in every space and a mass (the caller decays it).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

__all__ = ["Centroid", "unit", "add_to_interests"]

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


def add_to_interests(centroids: list[Centroid], vecs: Mapping[str, np.ndarray], mass: float, *,
                     space: str, max_centroids: int, new_cos: float, merge_cos: float) -> None:
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
        See the module docstring.
    """
    key = vecs.get(space)
    if key is None:
        return
    if not centroids:
        centroids.append(Centroid(mass, {s: v.copy() for s, v in vecs.items()}))
        return
    sims = []
    for c in centroids:
        d = c.direction(space)
        sims.append(float(np.dot(d, key)) if d is not None else -1.0)
    best = int(np.argmax(sims))
    if sims[best] < new_cos:
        if len(centroids) >= max_centroids:
            i, j, cos_ij = _closest_pair(centroids, space)
            if cos_ij > sims[best]:
                _merge(centroids, i, j)
            else:
                _absorb(centroids[best], vecs, mass)
                return
        centroids.append(Centroid(mass, {s: v.copy() for s, v in vecs.items()}))
    else:
        _absorb(centroids[best], vecs, mass)
    while len(centroids) > 1:
        i, j, cos = _closest_pair(centroids, space)
        if cos < merge_cos:
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


def _closest_pair(centroids: list[Centroid], space: str) -> tuple[int, int, float]:
    best = (0, 1, -2.0)
    for i in range(len(centroids)):
        for j in range(i + 1, len(centroids)):
            a, b = centroids[i].direction(space), centroids[j].direction(space)
            cos = float(np.dot(a, b)) if a is not None and b is not None else -1.0
            if cos > best[2]:
                best = (i, j, cos)
    return best


def _merge(centroids: list[Centroid], i: int, j: int) -> None:
    _absorb(centroids[i], centroids[j].means, centroids[j].mass)
    del centroids[j]
