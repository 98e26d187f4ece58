"""POST /v1/feedback: listening events in; logged durably, folded into profiles and the ranker."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from songlens.api.deps import ColdStartDep, WriteScope
from songlens.api.schemas import ErrorOut
from songlens.service.results import FeedbackResult

router = APIRouter(prefix="/v1", tags=["cold start"], dependencies=[WriteScope])


class FeedbackIn(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)
    events: list[Any] = Field(min_length=1, description=(
        "each {user_id, song_id, event, ts (unix s), play_ms?, event_id?, request_id? (of the "
        "/v1/rank answer that showed it), tz_offset_min? (listener's UTC offset)}; event one "
        "of play, complete, like, collect, share, download, skip, dislike, block, impression"))


class Problem(BaseModel):
    index: int
    code: str
    reason: str


class FeedbackOut(BaseModel):
    accepted: int = Field(description="valid events (logged)")
    new: int = Field(description="valid events not seen before (a retried batch counts once)")
    duplicates: int
    rejected: list[Problem] = Field(description="invalid events, by index in the batch")
    warnings: list[Problem] = Field(description="logged events that cannot be true and so "
                                    "changed nothing: unknown_song (not in the catalog: unknown "
                                    "or deleted), before_song_existed (timestamped more than "
                                    "coldstart.event_skew_s before the song entered the "
                                    "catalog)")


@router.post("/feedback", response_model=FeedbackOut,
             responses={s: {"model": ErrorOut} for s in (413, 422)})
def post_feedback(body: FeedbackIn, coldstart: ColdStartDep) -> FeedbackResult:
    """Bad events are rejected with their reasons; the good ones of the same batch are kept."""
    return coldstart.record(body.events)
