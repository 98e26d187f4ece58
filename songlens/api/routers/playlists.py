"""POST /v1/playlists: tag-based playlists."""

from __future__ import annotations

from fastapi import APIRouter

from songlens.api.deps import CatalogDep, ReadScope
from songlens.api.schemas import ErrorOut, PlaylistOut
from songlens.search.playlist import Playlist, PlaylistRequest, generate_playlist

router = APIRouter(prefix="/v1", tags=["playlists"], dependencies=[ReadScope])


@router.post("/playlists", response_model=PlaylistOut,
             responses={s: {"model": ErrorOut} for s in (404, 422)})
def playlist(body: PlaylistRequest, catalog: CatalogDep) -> Playlist:
    """Required tags are hard filters (any tag within a dimension, every dimension), preferred
    tags and ``target_*`` attributes rank, ``min_*``/``max_*`` bound. ``relaxed`` lists what had to
    be relaxed to fill ``length``."""
    return generate_playlist(catalog, body)
