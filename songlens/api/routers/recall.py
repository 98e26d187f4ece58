"""POST /v1/recall: cold-start recall — a new song's audience, new songs for a user, the home
feed's songs for a user (both through the content, collaborative and relation channels), or
songs for a new user from onboarding choices."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Body
from pydantic import BaseModel, ConfigDict, Field

from songlens.api.deps import CallerDep, ColdStartDep, ReadScope
from songlens.api.schemas import ErrorOut, rounded
from songlens.coldstart.audience import AudienceSegment
from songlens.service.results import (
    AudienceRecall,
    HomeRecall,
    NewSongsRecall,
    OnboardingRecall,
)

router = APIRouter(prefix="/v1", tags=["cold start"], dependencies=[ReadScope])

K = Field(20, ge=1, le=500)
#: recall scores: 6 decimals
Score6 = rounded(6)
MATCHED = Field(description="the tags of the song the user has a positive affinity for, per "
                "dimension")


class SongAudienceQuery(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)
    mode: Literal["song_audience"]
    song_id: str = Field(min_length=1)
    k: int = K
    active_days: float | None = Field(None, gt=0, le=3650, description=(
        "only listeners whose newest event is at most this many days old"))
    language: str | None = Field(None, min_length=1, max_length=64, description=(
        "only listeners with an affinity for this language (a taxonomy language tag)"))
    min_language_share: float = Field(0.2, gt=0, le=1, description=(
        "with language: its least share of the listener's positive language affinity"))
    exclude_heard: bool = Field(True, description="leave out listeners who heard the song")
    skipped_artist_days: float | None = Field(None, gt=0, le=3650, description=(
        "leave out listeners who skipped, disliked or blocked a song of the artist in that "
        "many days"))

    def segment(self) -> AudienceSegment:
        return AudienceSegment(active_days=self.active_days, language=self.language,
                               min_language_share=self.min_language_share,
                               exclude_heard=self.exclude_heard,
                               skipped_artist_days=self.skipped_artist_days)


class UserNewSongsQuery(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)
    mode: Literal["user_new_songs"]
    user_id: str = Field(min_length=1)
    k: int = K
    window_days: float | None = Field(None, gt=0, le=3650,
                                      description="default coldstart.new_song_window_days")


class HomeQuery(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)
    mode: Literal["home"]
    user_id: str = Field(min_length=1)
    k: int = K


class OnboardingQuery(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)
    mode: Literal["onboarding"]
    tags: dict[str, list[str]] = Field(default_factory=dict,
                                       description='chosen tags, e.g. {"style": ["电子"]}')
    liked_song_ids: list[str] = Field(default_factory=list, max_length=50)
    user_id: str | None = Field(None, min_length=1, max_length=256,
                                description="store the onboarding profile for this new user")
    k: int = K


RecallQuery = Annotated[SongAudienceQuery | UserNewSongsQuery | HomeQuery | OnboardingQuery,
                        Field(discriminator="mode")]


class RecalledUserOut(BaseModel):
    user_id: str
    score: Score6
    reason: str = Field(description="the user vector that matched, +tags")
    matched_tags: dict[str, list[str]] = MATCHED
    why: list[str] = Field(description="why this listener was chosen: the vector and tags "
                           "that matched and the segment conditions met")


class RecalledSongOut(BaseModel):
    song_id: str
    score: Score6
    reason: str = Field(description="interest:<i>, short, long or tags:<dim> (content), als "
                        "(collaborative), artist:<name> or album:<name> (relation)")
    title: str | None
    artist: str | None
    ingested_at: float | None
    release_date: str | None = Field(description="YYYY[-MM[-DD]] when the catalogue or the "
                                     "file's tags gave one")
    released_at: float | None = Field(description="unix seconds the song counts as released "
                                      "(new-song windows read it): its release date, or its "
                                      "first ingestion when it has none")
    matched_tags: dict[str, list[str]] = MATCHED
    channels: list[Literal["content", "collaborative", "relation"]] = Field(
        default_factory=list, description="the recall channels that found the song, the one "
        "it was taken for first (user_new_songs and home; empty for onboarding)")


class NewSongOut(RecalledSongOut):
    interactions: int = Field(description="the song's interactions so far (fewer than "
                              "coldstart.few_interactions)")


class SongAudienceOut(BaseModel):
    mode: Literal["song_audience"]
    song_id: str
    items: list[RecalledUserOut]


class UserNewSongsOut(BaseModel):
    mode: Literal["user_new_songs"]
    user_id: str
    window_days: float
    items: list[NewSongOut]


class HomeOut(BaseModel):
    mode: Literal["home"]
    user_id: str
    items: list[RecalledSongOut]


class OnboardingOut(BaseModel):
    mode: Literal["onboarding"]
    user_id: str | None
    saved: bool = Field(description="the onboarding profile was stored for user_id")
    tags: dict[str, list[str]] = Field(description="the chosen tags, canonical")
    items: list[RecalledSongOut]


RecallOut = Annotated[SongAudienceOut | UserNewSongsOut | HomeOut | OnboardingOut,
                      Field(discriminator="mode")]


@router.post("/recall", response_model=RecallOut,
             responses={s: {"model": ErrorOut} for s in (404, 422)})
def recall(body: Annotated[RecallQuery, Body()], coldstart: ColdStartDep, caller: CallerDep
           ) -> AudienceRecall | NewSongsRecall | HomeRecall | OnboardingRecall:
    """``items`` best first, each with the ``reason`` it was recalled (``interest:<i>``,
    ``short``, ``long``, ``tags:<dim>``, ``als``, ``artist:<name>``, ``album:<name>``; for an
    audience the user vector that matched), the tags that matched and, for new songs and home,
    the recall ``channels`` that found it. Onboarding with a ``user_id`` stores a profile: it
    needs the write scope."""
    if isinstance(body, OnboardingQuery) and body.user_id is not None:
        caller.require("write")
    if isinstance(body, SongAudienceQuery):
        return coldstart.recall_song_audience(body.song_id, k=body.k, segment=body.segment())
    if isinstance(body, UserNewSongsQuery):
        return coldstart.recall_user_new_songs(body.user_id, k=body.k,
                                               window_days=body.window_days)
    if isinstance(body, HomeQuery):
        return coldstart.recall_home(body.user_id, k=body.k)
    return coldstart.recall_onboarding(tags=body.tags, liked_song_ids=body.liked_song_ids,
                                       k=body.k, user_id=body.user_id)
