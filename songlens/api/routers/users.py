"""GET /v1/users/{user_id}: a listener's profile as the cold-start service sees it."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel, Field

from songlens.api.deps import ColdStartDep, ReadScope
from songlens.api.schemas import ErrorOut, rounded
from songlens.service.results import UserView

router = APIRouter(prefix="/v1/users", tags=["cold start"], dependencies=[ReadScope])

#: affinities and shares: 4 decimals
Affinity = rounded(4)


class EventCountsOut(BaseModel):
    logged: int = Field(description="events in the feedback log")
    by_type: dict[str, int]
    in_profile: int = Field(description="events folded into the profile (songs in the catalog)")
    positive: int
    negative: int


class TagAffinityOut(BaseModel):
    tag: str
    en: str
    affinity: Affinity


class NamedAffinityOut(BaseModel):
    name: str
    affinity: Affinity


class InterestOut(BaseModel):
    share: Affinity = Field(description="the interest's share of the user's taste")
    top_tags: dict[str, list[str]] = Field(description="tags of the liked songs closest to it")
    songs: list[str] = Field(description="the liked songs closest to it")


class AudioUsualOut(BaseModel):
    mean: float
    std: float


class UserOut(BaseModel):
    user_id: str
    created_ts: float | None
    last_event_ts: float | None
    updated_at: float | None
    events: EventCountsOut
    top_tags: dict[str, list[TagAffinityOut]] = Field(description="positive affinities, best "
                                                      "first, per dimension")
    interests: list[InterestOut]
    languages: list[NamedAffinityOut]
    artists: list[NamedAffinityOut]
    audio: dict[str, AudioUsualOut] = Field(description="usual tempo_bpm and energy of the "
                                            "liked songs")
    onboarding_tags: dict[str, list[str]]


@router.get("/{user_id}", response_model=UserOut, responses={404: {"model": ErrorOut}})
def get_user(user_id: str, coldstart: ColdStartDep) -> UserView:
    """Top tags per dimension, interests (share, tags, closest liked songs), languages, artists,
    usual tempo/energy and event counts."""
    return coldstart.user_view(user_id)
