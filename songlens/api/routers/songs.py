"""/v1/songs: ingest, read, delete, similar songs. Handlers are ``def`` (run in the threadpool):
decoding and models never run on the event loop."""

from __future__ import annotations

import os
from typing import Annotated, Literal

from fastapi import APIRouter, File, Form, Header, Path, Query, Response, UploadFile
from pydantic import ValidationError

from songlens.api.deps import CatalogDep, ReadScope, SettingsDep, WriteScope
from songlens.api.media import RangeFileResponse
from songlens.api.schemas import BrowseOut, ErrorOut, SimilarOut, SongOut, audio_url, song_document
from songlens.catalog.filters import SongFilter
from songlens.content.features.tonal import parse_key
from songlens.content.metadata import parse_metadata
from songlens.content.taxonomy import DIMENSIONS
from songlens.errors import InvalidInput, NotFound, PayloadTooLarge
from songlens.search.browse import browse
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
    doc = song_document(result.record)
    if result.replaced:
        doc["replaced"] = result.replaced
    if result.kept:
        doc["kept"] = True
        response.status_code = 200
    return doc


Tags = Annotated[list[str] | None, Query(max_length=30, description="tags (Chinese or English "
                                        "labels); the song must carry every one")]
Unit = Annotated[float | None, Query(ge=0, le=1, allow_inf_nan=False)]
Tempo = Annotated[float | None, Query(ge=0, le=400, allow_inf_nan=False)]


@router.get("", response_model=BrowseOut, responses=ERRORS, dependencies=[ReadScope])
def browse_songs(
    catalog: CatalogDep,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0, le=100_000)] = 0,
    language: Tags = None, style: Tags = None, scene: Tags = None, emotion: Tags = None,
    theme: Tags = None,
    min_tempo: Tempo = None, max_tempo: Tempo = None,
    min_energy: Unit = None, max_energy: Unit = None,
    key: Annotated[str | None, Query(max_length=20, description='"A minor", "Am", "C#", or a '
                                     'Camelot code such as "8A"')] = None,
    artist: Annotated[str | None, Query(min_length=1, max_length=200)] = None,
    instrument: Annotated[list[str] | None, Query(max_length=12, description=(
        "instruments (id, Chinese or English name: piano, 钢琴); the song must have every "
        "one"))] = None,
) -> dict:
    """Browse the catalogue, newest first: the songs matching every filter, their total, and
    facet counts (how many of them carry each tag, per dimension, and each instrument)."""
    wanted = dict(zip(DIMENSIONS, (language, style, scene, emotion, theme), strict=True))
    flt = SongFilter(
        all_tags={d: tuple(dict.fromkeys(catalog.taxonomy.canonical(d, t) for t in ts))
                  for d, ts in wanted.items() if ts},
        ranges={f: r for f, r in (("tempo_bpm", (min_tempo, max_tempo)),
                                  ("energy", (min_energy, max_energy))) if r != (None, None)},
        camelot=parse_key(key) if key else (), artists=(artist,) if artist else (),
        instruments=tuple(dict.fromkeys(catalog.resources.instruments.get(i).name
                                        for i in instrument or ())))
    page = browse(catalog, flt, offset=offset, limit=limit)
    songs = [s.__dict__ | {"audio_url": audio_url(s.song_id, s.has_audio)} for s in page.songs]
    return {"total": page.total, "songs": songs,
            "facets": {d: [f.__dict__ for f in fs] for d, fs in page.facets.items()}}


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
    space: Literal["fused", "audio", "text", "tags", "hybrid", "versions"] = "fused",
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
