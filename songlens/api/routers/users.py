"""GET /v1/users/{user_id}: a listener's profile as the cold-start service sees it."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from songlens.api.deps import ColdStartDep
from songlens.api.schemas import ErrorOut

router = APIRouter(prefix="/v1/users", tags=["cold start"])


@router.get("/{user_id}", responses={404: {"model": ErrorOut}})
def get_user(user_id: str, coldstart: ColdStartDep) -> dict[str, Any]:
    """Top tags per dimension, interests (share, tags, closest liked songs), languages, artists,
    usual tempo/energy and event counts."""
    return coldstart.user_view(user_id)
