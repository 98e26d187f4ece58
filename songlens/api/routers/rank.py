"""POST /v1/rank: order candidate songs for a user with the online ranker."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from songlens.api.deps import ColdStartDep, ReadScope
from songlens.api.schemas import ErrorOut, rounded
from songlens.service.results import RankResult

router = APIRouter(prefix="/v1", tags=["cold start"], dependencies=[ReadScope])

#: probabilities, scores and contributions: 6 decimals
Score6 = rounded(6)


class RankIn(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)
    user_id: str = Field(min_length=1, max_length=256)
    song_ids: list[str] = Field(min_length=1, max_length=500)
    hour: int | None = Field(None, ge=0, le=23, description="listener's local hour")
    weekday: int | None = Field(None, ge=0, le=6, description="listener's weekday, Monday 0")
    tz_offset_min: int | None = Field(None, ge=-840, le=840, description=(
        "listener's UTC offset in minutes: the local hour and weekday when those are not given"))
    n_features: int = Field(5, ge=0, le=50, description="top contributing features per item")


class TargetScoresOut(BaseModel):
    complete: Score6 = Field(description="p(complete play)")
    like: Score6 = Field(description="p(like)")


class FeatureOut(BaseModel):
    feature: str
    value: rounded(4)
    contribution: Score6 = Field(description="weight × value, both targets combined")


class RankedOut(BaseModel):
    song_id: str
    rank: int = Field(description="1 = best")
    score: Score6 = Field(description="the combined score")
    scores: TargetScoresOut
    title: str | None
    artist: str | None
    top_features: list[FeatureOut]


class RankerOut(BaseModel):
    version: int = Field(description="updates so far")
    samples_seen: int


class RankOut(BaseModel):
    user_id: str
    user_known: bool = Field(description="false: ranked with the unknown-user features")
    ranker: RankerOut
    items: list[RankedOut]
    request_id: str = Field(description="send it back as each impression's request_id: the "
                            "ranker then trains on exactly the features served here")


@router.post("/rank", response_model=RankOut,
             responses={s: {"model": ErrorOut} for s in (404, 422)})
def rank(body: RankIn, coldstart: ColdStartDep) -> RankResult:
    """Items by the combined score (weighted p(complete) and p(like)), with both per-target
    scores and the features that contributed most."""
    return coldstart.rank(body.user_id, body.song_ids, hour=body.hour, weekday=body.weekday,
                          tz_offset_min=body.tz_offset_min, n_features=body.n_features)
