"""POST /v1/playlists: tag-based playlists."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from songlens.api.deps import CatalogDep
from songlens.api.schemas import ErrorOut
from songlens.search.playlist import PlaylistRequest, generate_playlist

router = APIRouter(prefix="/v1", tags=["playlists"])


@router.post("/playlists", responses={s: {"model": ErrorOut} for s in (404, 422)})
def playlist(body: PlaylistRequest, catalog: CatalogDep) -> dict[str, Any]:
    """Required tags are hard filters (any tag within a dimension, every dimension), preferred
    tags and ``target_*`` attributes rank, ``min_*``/``max_*`` bound. ``relaxed`` lists what had to
    be relaxed to fill ``length``."""
    return generate_playlist(catalog, body).to_dict()
