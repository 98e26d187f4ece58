"""/v1/songs: ingest, read, delete, similar songs. Handlers are ``def`` (run in the threadpool):
decoding and models never run on the event loop."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, File, Form, Path, Query, Response, UploadFile
from pydantic import ValidationError

from songlens.api.deps import CatalogDep, ReadScope, SettingsDep, WriteScope
from songlens.api.schemas import ErrorOut, SimilarOut, SongOut
from songlens.content.metadata import parse_metadata
from songlens.errors import InvalidInput, PayloadTooLarge
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
                                               '"lyrics", "comments": [{"text", "likes"}], '
                                               '"language"?, "release_date"?, '
                                               '"on_existing"?: "update"|"keep"}')],
    response: Response,
) -> dict:
    """201 with the stored song; 200 with the song as it was when ``on_existing`` is ``keep``
    and it is already stored (``kept: true``)."""
    meta = parse_metadata(metadata)
    data = read_upload(audio, settings.audio.max_upload_mb)
    result = catalog.ingest(data, meta, filename=audio.filename or "")
    doc = result.record.to_document()
    if result.replaced:
        doc["replaced"] = result.replaced
    if result.kept:
        doc["kept"] = True
        response.status_code = 200
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
                                        description="released in the last N days (see "
                                                    "released_at)")] = None,
    released_after: Annotated[str | None, Query(max_length=64, description=(
        "released on or after this date: YYYY-MM-DD, YYYY-MM or YYYY"))] = None,
    released_before: Annotated[str | None, Query(max_length=64, description=(
        "released before this date (YYYY-MM-DD, YYYY-MM or YYYY)"))] = None,
) -> dict:
    try:
        filters = SimilarFilters(language=language or [], style=style or [],
                                 min_tempo=min_tempo, max_tempo=max_tempo,
                                 exclude_artists=exclude_artist or [], days=days,
                                 released_after=released_after, released_before=released_before)
    except ValidationError as exc:
        raise InvalidInput("; ".join(str(e["msg"]).removeprefix("Value error, ")
                                     for e in exc.errors()[:5])) from exc
    return {"items": similar_to_song(catalog, song_id, k=k, space=space,
                                     filter=filters.to_song_filter(catalog.taxonomy))}
