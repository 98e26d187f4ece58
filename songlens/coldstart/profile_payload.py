"""A :class:`~songlens.coldstart.profiles.UserProfile` as a JSON-ready payload and back (the
user store keeps the payload beside the profile's named vectors; see the profiles module)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from songlens.coldstart.interests import Centroid
from songlens.errors import InvalidInput

if TYPE_CHECKING:
    from songlens.coldstart.profiles import ProfileConfig, UserProfile

__all__ = ["PAYLOAD_VERSION", "profile_from_payload", "profile_to_payload"]

PAYLOAD_VERSION = 2
_READABLE_VERSIONS = (1, 2)
_EPS = 1e-9


def profile_to_payload(self: UserProfile, *, include_vectors: bool = True) -> dict[str, Any]:
    """JSON-ready state. Without vectors, pair it with :meth:`named_vectors` (norms are
    kept here so nothing is lost)."""

    def vec(v: np.ndarray) -> dict[str, Any]:
        n = float(np.linalg.norm(v))
        out: dict[str, Any] = {"norm": n}
        if include_vectors:
            out["v"] = [float(x) for x in v]
        return out

    usual = {}
    for name in self.audio_stats:
        u = self.usual(name)
        if u is not None:
            usual[name] = {"mean": u[0], "std": u[1]}
    return {
        "user_id": self.user_id,
        "version": PAYLOAD_VERSION,
        "t_ref": self.t_ref,
        "created_ts": self.created_ts,
        "n_events": self.n_events,
        "n_positive": self.n_positive,
        "n_negative": self.n_negative,
        "pos_mass": self.pos_mass,
        "long": {s: vec(v) for s, v in self.long.items()},
        "short": {s: vec(v) for s, v in self.short.items()},
        "centroids": [{"mass": c.mass, "means": {s: vec(v) for s, v in c.means.items()}}
                      for c in self._by_mass()],
        "tag_affinity": {d: dict(t) for d, t in self.tag_affinity.items()},
        "top_tags": {d: [t for _, t, _ in self.top_tags(3, dim=d)]
                     for d in self.tag_affinity},
        "artist_affinity": dict(self.artist_affinity),
        "language_affinity": dict(self.language_affinity),
        "audio_stats": {k: list(v) for k, v in self.audio_stats.items()},
        "audio_usual": usual,
        "onboarding_tags": {d: list(t) for d, t in self.onboarding_tags.items()},
        "pending_impressions": dict(self.pending_impressions),
        "config": self.config.to_dict(),
    }

def profile_from_payload(cls: type[UserProfile], payload: Mapping[str, Any],
                         vectors: Mapping[str, np.ndarray] | None = None, *,
                         config: ProfileConfig | None = None) -> UserProfile:
    """Rebuild a profile from :meth:`to_payload` (and, without ``v`` lists, the vectors of
    :meth:`named_vectors`).

    ``config`` is the maths the profile goes on with (default :class:`ProfileConfig`); the
    payload's own ``config`` only records what built it and is not read.
    """
    version = payload.get("version")
    if version not in _READABLE_VERSIONS:
        raise InvalidInput(f"user profile payload version {version!r}; this build reads "
                           f"versions {_READABLE_VERSIONS}")
    vectors = vectors or {}
    p = cls(str(payload["user_id"]), config, created_ts=payload.get("created_ts"))

    def load(item: Mapping[str, Any], name: str) -> np.ndarray | None:
        if "v" in item:
            return np.asarray(item["v"], dtype=np.float64)
        if float(item.get("norm", 0.0)) < _EPS:
            return None
        u = vectors.get(name)
        if u is None:
            raise InvalidInput(f"user profile {p.user_id!r}: vector {name!r} missing")
        return np.asarray(u, dtype=np.float64) * float(item["norm"])

    p.t_ref = payload.get("t_ref")
    p.n_events = int(payload.get("n_events", 0))
    p.n_positive = int(payload.get("n_positive", 0))
    p.n_negative = int(payload.get("n_negative", 0))
    p.pos_mass = float(payload.get("pos_mass", 0.0))
    for term, dst in (("long", p.long), ("short", p.short)):
        for s, item in (payload.get(term) or {}).items():
            v = load(item, f"{term}_{s}")
            if v is not None:
                dst[s] = v
        # zero vectors (e.g. fully cancelled) are restored as zeros of the right size
    for s in list(p.long):
        p.short.setdefault(s, np.zeros_like(p.long[s]))
    for i, c in enumerate(payload.get("centroids") or []):
        means = {}
        for s, item in c["means"].items():
            v = load(item, f"centroid{i}_{s}" if version == 1
                     else p._centroid_vector_name(i, s))
            if v is not None:
                means[s] = v
        p.centroids.append(Centroid(float(c["mass"]), means))
    p.tag_affinity = {d: {t: float(v) for t, v in tags.items()}
                      for d, tags in (payload.get("tag_affinity") or {}).items()}
    p.artist_affinity = {k: float(v) for k, v in (payload.get("artist_affinity") or {}).items()}
    p.language_affinity = {k: float(v)
                           for k, v in (payload.get("language_affinity") or {}).items()}
    p.audio_stats = {k: [float(x) for x in v]
                     for k, v in (payload.get("audio_stats") or {}).items()}
    p.onboarding_tags = {d: list(t) for d, t in (payload.get("onboarding_tags") or {}).items()}
    p.pending_impressions = {str(k): float(v) for k, v in
                             (payload.get("pending_impressions") or {}).items()}
    return p
