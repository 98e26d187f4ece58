"""POST /v1/rank: order candidate songs for a user with the online ranker."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from songlens.api.deps import ColdStartDep
from songlens.api.schemas import ErrorOut

router = APIRouter(prefix="/v1", tags=["cold start"])


class RankIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    user_id: str = Field(min_length=1, max_length=256)
    song_ids: list[str] = Field(min_length=1, max_length=500)
    hour: int | None = Field(None, ge=0, le=23, description="listener's local hour")
    weekday: int | None = Field(None, ge=0, le=6, description="listener's weekday, Monday 0")
    n_features: int = Field(5, ge=0, le=50, description="top contributing features per item")


@router.post("/rank", responses={s: {"model": ErrorOut} for s in (404, 422)})
def rank(body: RankIn, coldstart: ColdStartDep) -> dict[str, Any]:
    """Items by the combined score (weighted p(complete) and p(like)), with both per-target
    scores and the features that contributed most."""
    return coldstart.rank(body.user_id, body.song_ids, hour=body.hour, weekday=body.weekday,
                          n_features=body.n_features)
