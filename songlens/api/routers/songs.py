"""/v1/songs: ingest, read, delete, similar songs. Handlers are ``def`` (run in the threadpool):
decoding and models never run on the event loop."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, File, Form, Path, Query, Response, UploadFile

from songlens.api.deps import CatalogDep, ReadScope, SettingsDep, WriteScope
from songlens.api.schemas import ErrorOut, SimilarOut, SongOut
from songlens.content.metadata import parse_metadata
from songlens.errors import PayloadTooLarge
from songlens.search.similar import SimilarFilters, similar_to_song

router = APIRouter(prefix="/v1/songs", tags=["songs"])

ERRORS = {s: {"model": ErrorOut} for s in (400, 404, 413, 415, 422, 429)}
#: a stored song's id (ingested ids are at most 128 characters; see SongMetadata.song_id)
SongId = Annotated[str, Path(min_length=1, max_length=256)]


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
    doc = result.record.to_document()
    if result.replaced:
        doc["replaced"] = result.replaced
    return doc


@router.get("/{song_id}", response_model=SongOut, responses=ERRORS, dependencies=[ReadScope])
def get_song(song_id: SongId, catalog: CatalogDep) -> dict:
    return catalog.get(song_id).to_document()


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
