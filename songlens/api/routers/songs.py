"""/v1/songs: ingest, read, delete, similar songs. Handlers are ``def`` (run in the threadpool):
decoding and models never run on the event loop."""

from __future__ import annotations

import os
from typing import Annotated, Literal
from urllib.parse import quote

from fastapi import APIRouter, File, Form, Header, Path, Query, Response, UploadFile

from songlens.api.deps import CatalogDep, ReadScope, SettingsDep, WriteScope
from songlens.api.media import RangeFileResponse
from songlens.api.schemas import ErrorOut, SimilarOut, SongOut
from songlens.catalog.record import SongRecord
from songlens.content.metadata import parse_metadata
from songlens.errors import NotFound, PayloadTooLarge
from songlens.search.similar import SimilarFilters, similar_to_song

router = APIRouter(prefix="/v1/songs", tags=["songs"])

ERRORS = {s: {"model": ErrorOut} for s in (400, 404, 413, 415, 422, 429)}
#: a stored song's id (ingested ids are at most 128 characters; see SongMetadata.song_id)
SongId = Annotated[str, Path(min_length=1, max_length=256)]


def audio_url(song_id: str, has_audio: bool) -> str | None:
    """Where a song's kept audio is served (None when it has none)."""
    return f"/v1/songs/{quote(song_id, safe='')}/audio" if has_audio else None


def song_document(record: SongRecord) -> dict:
    """The song document as ``GET /v1/songs/{id}`` shows it."""
    return record.to_document() | {"audio_url": audio_url(record.song_id,
                                                          bool(record.audio_file))}


def read_upload(upload: UploadFile, max_mb: float) -> bytes:
    limit = int(max_mb * 2**20)
    data = upload.file.read(limit + 1)
    if len(data) > limit:
        raise PayloadTooLarge(f"audio upload exceeds the limit of {max_mb:.0f} MiB")
    return data


@router.post("", status_code=201, response_model=SongOut, responses=ERRORS,
             dependencies=[WriteScope])
def ingest_song(
    catalog: CatalogDep,
    settings: SettingsDep,
    audio: Annotated[UploadFile, File(description="mp3, ogg, flac, wav, m4a")],
    metadata: Annotated[str, Form(description='JSON: {"song_id"?, "title", "artist", "album", '
                                               '"lyrics", "comments": [{"text", "likes"}]}')],
) -> dict:
    meta = parse_metadata(metadata)
    data = read_upload(audio, settings.audio.max_upload_mb)
    result = catalog.ingest(data, meta, filename=audio.filename or "")
    doc = song_document(result.record)
    if result.replaced:
        doc["replaced"] = result.replaced
    return doc


@router.get("/{song_id}", response_model=SongOut, responses=ERRORS, dependencies=[ReadScope])
def get_song(song_id: SongId, catalog: CatalogDep) -> dict:
    return song_document(catalog.get(song_id))


AUDIO_RESPONSES = {200: {"content": {"audio/*": {}}, "description": "the whole file"},
                   206: {"content": {"audio/*": {}}, "description": "the asked byte range(s)"},
                   **{s: {"model": ErrorOut} for s in (400, 404, 416, 422, 429)}}


@router.get("/{song_id}/audio", response_class=RangeFileResponse, responses=AUDIO_RESPONSES,
            dependencies=[ReadScope])
def song_audio(
    song_id: SongId,
    catalog: CatalogDep,
    range_header: Annotated[str | None, Header(
        alias="range", description="bytes=START-END (one or more ranges)")] = None,
) -> RangeFileResponse:
    """The song's kept audio file, as uploaded, with HTTP range requests (seeking): 206 with
    ``Content-Range`` for a ``Range`` header; 404 when the song keeps no audio."""
    ref = catalog.audio_file(song_id)
    path = catalog.audio_files.path(ref)
    try:
        stat = os.stat(path)
    except FileNotFoundError:  # deleted since: the song was replaced or deleted meanwhile
        raise NotFound(f"song {song_id!r} has no kept audio", song_id=song_id) from None
    return RangeFileResponse(path, media_type=ref.media_type, stat_result=stat,
                             headers={"cache-control": "private, max-age=86400"})


@router.delete("/{song_id}", status_code=204, responses=ERRORS, dependencies=[WriteScope])
def delete_song(song_id: SongId, catalog: CatalogDep) -> Response:
    catalog.delete(song_id)
    return Response(status_code=204)


@router.get("/{song_id}/similar", response_model=SimilarOut, responses=ERRORS,
            dependencies=[ReadScope])
def similar_songs(
    song_id: SongId,
    catalog: CatalogDep,
    k: Annotated[int, Query(ge=1, le=200)] = 10,
    space: Literal["fused", "audio", "text", "tags", "hybrid"] = "fused",
    language: Annotated[list[str] | None, Query(description="语种 tags, any of")] = None,
    style: Annotated[list[str] | None, Query(description="风格 tags, any of")] = None,
    min_tempo: Annotated[float | None, Query(ge=0, le=400, allow_inf_nan=False)] = None,
    max_tempo: Annotated[float | None, Query(ge=0, le=400, allow_inf_nan=False)] = None,
    exclude_artist: Annotated[list[str] | None, Query()] = None,
    days: Annotated[float | None, Query(gt=0, allow_inf_nan=False,
                                        description="ingested in the last N days")] = None,
) -> dict:
    filters = SimilarFilters(language=language or [], style=style or [], min_tempo=min_tempo,
                             max_tempo=max_tempo, exclude_artists=exclude_artist or [],
                             days=days)
    return {"items": similar_to_song(catalog, song_id, k=k, space=space,
                                     filter=filters.to_song_filter(catalog.taxonomy))}
