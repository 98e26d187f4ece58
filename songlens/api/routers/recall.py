"""POST /v1/recall: cold-start recall — a new song's audience, new songs for a user, or songs
for a new user from onboarding choices."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body
from pydantic import BaseModel, ConfigDict, Field

from songlens.api.deps import ColdStartDep
from songlens.api.schemas import ErrorOut

router = APIRouter(prefix="/v1", tags=["cold start"])

K = Field(20, ge=1, le=500)


class SongAudienceQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")
    mode: Literal["song_audience"]
    song_id: str = Field(min_length=1)
    k: int = K


class UserNewSongsQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")
    mode: Literal["user_new_songs"]
    user_id: str = Field(min_length=1)
    k: int = K
    window_days: float | None = Field(None, gt=0, le=3650,
                                      description="default coldstart.new_song_window_days")


class OnboardingQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")
    mode: Literal["onboarding"]
    tags: dict[str, list[str]] = Field(default_factory=dict,
                                       description='chosen tags, e.g. {"style": ["电子"]}')
    liked_song_ids: list[str] = Field(default_factory=list, max_length=50)
    user_id: str | None = Field(None, min_length=1, max_length=256,
                                description="store the onboarding profile for this new user")
    k: int = K


RecallQuery = Annotated[SongAudienceQuery | UserNewSongsQuery | OnboardingQuery,
                        Field(discriminator="mode")]


@router.post("/recall", responses={s: {"model": ErrorOut} for s in (404, 422)})
def recall(body: Annotated[RecallQuery, Body()], coldstart: ColdStartDep) -> dict[str, Any]:
    """``items`` best first, each with the ``reason`` it was recalled (``interest:<i>``,
    ``short``, ``long``, ``tags:<dim>``; for an audience the user vector that matched) and the
    tags that matched."""
    if isinstance(body, SongAudienceQuery):
        return coldstart.recall_song_audience(body.song_id, k=body.k)
    if isinstance(body, UserNewSongsQuery):
        return coldstart.recall_user_new_songs(body.user_id, k=body.k,
                                               window_days=body.window_days)
    return coldstart.recall_onboarding(tags=body.tags, liked_song_ids=body.liked_song_ids,
                                       k=body.k, user_id=body.user_id)
