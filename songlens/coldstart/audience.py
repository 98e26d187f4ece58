"""Who a new song may be seeded to: the segment conditions of song → audience recall.

A release team targets a segment, not "everyone ever seen": listeners active in the last N days,
with an affinity for the song's language, who have not heard the song, leaving out those who
skipped (or disliked, blocked) the artist recently. :class:`AudienceSegment` holds those
conditions; the ones a users-collection filter can express (activity, ids to leave out) become a
:class:`~songlens.catalog.filters.SongFilter`, the language share is checked on each candidate's
payload, and :meth:`AudienceSegment.why` says, for a listener that passes, which conditions they
meet — the explanation every audience item carries.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from songlens.catalog.filters import SongFilter
from songlens.errors import InvalidInput
from songlens.units import DAY

__all__ = ["AudienceSegment", "language_share"]


def language_share(payload: Mapping[str, Any], language: str) -> float:
    """``language``'s share of a user's positive language affinity (0 when there is none)."""
    aff = payload.get("language_affinity") or {}
    pos = {k: float(v) for k, v in aff.items() if float(v) > 0}
    tot = sum(pos.values())
    return pos.get(language, 0.0) / tot if tot > 0 else 0.0


@dataclass(frozen=True)
class AudienceSegment:
    """Conditions on the listeners of an audience (all must hold; None = not asked).

    ``active_days``: the listener's newest event (``t_ref``) is at most this many days old;
    ``language`` / ``min_language_share``: that language (a canonical taxonomy tag) is at least
    this share of the listener's positive language affinity; ``exclude_heard``: leave out
    listeners with any event but an impression for the song; ``skipped_artist_days``: leave out
    listeners with a negative event (early skip, dislike, block) for any song of the song's
    artist in that many days.
    """

    active_days: float | None = None
    language: str | None = None
    min_language_share: float = 0.2
    exclude_heard: bool = True
    skipped_artist_days: float | None = None

    def __post_init__(self) -> None:
        for name in ("active_days", "skipped_artist_days"):
            v = getattr(self, name)
            if v is not None and not v > 0:
                raise InvalidInput(f"{name} must be > 0 days, got {v!r}")
        if not 0.0 < self.min_language_share <= 1.0:
            raise InvalidInput(f"min_language_share must be in (0, 1], got "
                               f"{self.min_language_share!r}")

    def store_filter(self, *, now: float, exclude: frozenset[str]) -> SongFilter:
        """The conditions a users-collection filter expresses: activity and ids left out."""
        ranges = {}
        if self.active_days is not None:
            ranges["t_ref"] = (now - self.active_days * DAY, None)
        return SongFilter(ranges=ranges, exclude_ids=exclude)

    def why(self, payload: Mapping[str, Any], *, now: float, artist: str | None = None
            ) -> list[str] | None:
        """The segment conditions ``payload``'s listener meets, as short phrases; None when a
        condition checked here (language share, activity) fails."""
        out = []
        if self.active_days is not None:
            t = payload.get("t_ref")
            if not isinstance(t, int | float) or t < now - self.active_days * DAY:
                return None
            out.append(f"active {max(now - t, 0.0) / DAY:.1f} days ago "
                       f"(within {self.active_days:g})")
        if self.language is not None:
            share = language_share(payload, self.language)
            if share < self.min_language_share:
                return None
            out.append(f"{self.language} is {share:.0%} of their language affinity "
                       f"(at least {self.min_language_share:.0%})")
        if self.exclude_heard:
            out.append("has not heard the song")
        if self.skipped_artist_days is not None and artist:
            out.append(f"no skip or dislike of {artist} in the last "
                       f"{self.skipped_artist_days:g} days")
        return out
