"""What the cold-start service returns: plain dataclasses with full-precision numbers.

The HTTP routers (``songlens.api.routers``) decide what clients see: field names, rounding and
which fields are shown; the CLI prints :class:`RebuildSummary` as it is.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from songlens.coldstart.events import EventProblem
from songlens.ranking.online import RankerInfo

__all__ = ["FeedbackResult", "RebuildSummary", "EventCounts", "TagAffinity", "NamedAffinity",
           "AudioUsual", "Interest", "UserView", "RecalledSong", "RecalledUser",
           "AudienceRecall", "NewSongsRecall", "OnboardingRecall", "TargetScores",
           "FeatureContribution", "RankedSong", "RankResult"]


# -- feedback and training --------------------------------------------------------------------
@dataclass(frozen=True)
class FeedbackResult:
    """One feedback batch: ``accepted`` valid events, of which ``new`` were not logged before
    (a retried batch counts once) and ``duplicates`` were; the events ``rejected`` and the valid
    ones logged with a warning (``unknown_song``: they changed nothing)."""

    accepted: int
    new: int
    duplicates: int
    rejected: list[EventProblem]
    warnings: list[EventProblem]


@dataclass(frozen=True)
class RebuildSummary:
    """What ``songlens train`` rebuilt from the whole log."""

    events: int
    events_unknown_song: int
    users: int
    songs: int
    samples: int
    ranker: RankerInfo
    snapshot: str
    seconds: float
    events_impossible: int = 0  # timestamped before their song entered the catalog


# -- a user ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class EventCounts:
    """A user's events: ``logged`` (all, ``by_type``), ``in_profile`` (events for songs in the
    catalog), and how many of those were ``positive`` / ``negative`` signals."""

    logged: int
    by_type: dict[str, int]
    in_profile: int
    positive: int
    negative: int


@dataclass(frozen=True)
class TagAffinity:
    tag: str
    en: str
    affinity: float


@dataclass(frozen=True)
class NamedAffinity:
    """Affinity for a language or an artist."""

    name: str
    affinity: float


@dataclass(frozen=True)
class AudioUsual:
    """Mean and spread of an audio feature over the songs a user liked."""

    mean: float
    std: float


@dataclass(frozen=True)
class Interest:
    """One interest centroid: its ``share`` of the user's taste, the top tags (per dimension)
    and the closest of the liked songs."""

    share: float
    top_tags: dict[str, list[str]]
    songs: list[str]


@dataclass(frozen=True)
class UserView:
    """What the service knows about one user (``last_event_ts``: the profile's reference time;
    ``updated_at``: when the profile was last saved)."""

    user_id: str
    created_ts: float | None
    last_event_ts: float | None
    updated_at: float | None
    events: EventCounts
    top_tags: dict[str, list[TagAffinity]]
    interests: list[Interest]
    languages: list[NamedAffinity]
    artists: list[NamedAffinity]
    audio: dict[str, AudioUsual]
    onboarding_tags: dict[str, list[str]]


# -- recall ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class RecalledSong:
    """A recalled song, why (``reason``) and the song's tags the user likes (``matched_tags``);
    ``interactions`` only for new songs (their interaction count so far)."""

    song_id: str
    score: float
    reason: str
    title: str | None
    artist: str | None
    ingested_at: float | None
    release_date: str | None
    released_at: float | None
    matched_tags: dict[str, list[str]]
    interactions: int | None = None
    channels: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class RecalledUser:
    """A user recalled as the audience of a song, the song's tags the user likes, and why the
    user was chosen (the vector that matched, the tags, the segment conditions met)."""

    user_id: str
    score: float
    reason: str
    matched_tags: dict[str, list[str]]
    why: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class AudienceRecall:
    """(a) a song → its likely audience."""

    mode: Literal["song_audience"] = field(default="song_audience", init=False)
    song_id: str
    items: list[RecalledUser]


@dataclass(frozen=True)
class NewSongsRecall:
    """(b) a user → new songs of the last ``window_days``."""

    mode: Literal["user_new_songs"] = field(default="user_new_songs", init=False)
    user_id: str
    window_days: float
    items: list[RecalledSong]


@dataclass(frozen=True)
class HomeRecall:
    """A user → any catalogue song not heard yet, through every recall channel."""

    mode: Literal["home"] = field(default="home", init=False)
    user_id: str
    items: list[RecalledSong]


@dataclass(frozen=True)
class OnboardingRecall:
    """(c) a new user's songs from onboarding choices (``tags``: the chosen tags, canonical);
    ``saved``: the onboarding profile was stored for ``user_id``."""

    mode: Literal["onboarding"] = field(default="onboarding", init=False)
    user_id: str | None
    saved: bool
    tags: dict[str, list[str]]
    items: list[RecalledSong]


# -- ranking -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class TargetScores:
    """The ranker's probability of each target."""

    complete: float
    like: float


@dataclass(frozen=True)
class FeatureContribution:
    feature: str
    value: float
    contribution: float


@dataclass(frozen=True)
class RankedSong:
    """A ranked song: its ``rank`` (1 = best), the combined ``score`` and the per-target
    ``scores``, and the features that contributed most."""

    song_id: str
    rank: int
    score: float
    scores: TargetScores
    title: str | None
    artist: str | None
    top_features: list[FeatureContribution]


@dataclass(frozen=True)
class RankResult:
    """Candidates ordered for a user (``user_known``: the user has a profile)."""

    user_id: str
    user_known: bool
    ranker: RankerInfo
    items: list[RankedSong]
    request_id: str | None = None
