"""POST /v1/similar: songs like an uploaded audio clip (multipart) or a text (JSON)."""

from __future__ import annotations

import json

from fastapi import APIRouter, Request
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

from songlens.api.deps import CatalogDep, ReadScope, SettingsDep
from songlens.api.schemas import ErrorOut, SimilarOut, SimilarQuery, inline_json_schema
from songlens.errors import InvalidInput, InvalidJSON, PayloadTooLarge
from songlens.search.similar import (
    SimilarFilters,
    similar_to_audio,
    similar_to_examples,
    similar_to_text,
)

router = APIRouter(prefix="/v1", tags=["similar"], dependencies=[ReadScope])


def _form_filters(raw: object) -> SimilarFilters:
    if raw is None or raw == "":
        return SimilarFilters()
    if not isinstance(raw, str):
        raise InvalidInput("the 'filters' part must be a JSON string, not a file")
    try:
        return SimilarFilters.model_validate_json(raw)
    except (ValueError, RecursionError) as exc:
        raise InvalidInput(f"filters: {_problems(exc)}") from exc


def _problems(exc: Exception) -> str:
    """A validation error's problems, one line each, without the input echoed back."""
    if isinstance(exc, ValidationError):
        return "; ".join(f"{'.'.join(str(x)[:40] for x in e['loc']) or 'body'}: {e['msg']}"
                         for e in exc.errors()[:20])
    if isinstance(exc, RecursionError):
        return "nested too deeply"
    return str(exc)


def _parse_query(raw: bytes) -> SimilarQuery:
    """The JSON body as a :class:`SimilarQuery` (run in a worker thread: parsing a body is never
    done on the event loop)."""
    try:
        data = json.loads(raw or b"null")
    except RecursionError as exc:
        raise InvalidJSON("body is not valid JSON: nested too deeply") from exc
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InvalidJSON(f"body is not valid JSON: {exc}") from exc
    try:
        return SimilarQuery.model_validate(data)
    except (ValueError, RecursionError) as exc:
        raise InvalidInput(f'body must be {{"text": "..."}} or {{"positive": [song ids]}}: '
                           f"{_problems(exc)}") from exc

ERRORS = {s: {"model": ErrorOut} for s in (400, 404, 413, 415, 422, 429)}


@router.post("/similar", response_model=SimilarOut, responses=ERRORS,
             openapi_extra={"requestBody": {"content": {
                 "application/json": {"schema": inline_json_schema(SimilarQuery)},
                 "multipart/form-data": {"schema": {
                     "type": "object", "required": ["audio"],
                     "properties": {"audio": {"type": "string", "format": "binary"},
                                    "k": {"type": "integer", "default": 10},
                                    "filters": {"type": "string", "description":
                                                "JSON: the filters object of the JSON body"}}}}}}})
async def similar(request: Request, catalog: CatalogDep, settings: SettingsDep) -> dict:
    """Songs like an audio clip (multipart ``audio``, optional ``k`` and ``filters``; the audio
    space), like example songs (JSON ``positive``/``negative``, in ``space``), or for a text
    (JSON ``text``: the text and lyrics spaces, and audio with a CLAP model)."""
    ctype = request.headers.get("content-type", "").lower()
    if ctype.startswith("multipart/form-data"):
        form = await request.form()  # a text part (k, filters) is at most 1 MiB
        upload = form.get("audio")
        if upload is None or isinstance(upload, str):
            raise InvalidInput("multipart body needs an 'audio' file part")
        try:
            k = int(form.get("k") or 10)
        except ValueError as exc:
            raise InvalidInput(f"k must be an integer, got {str(form.get('k'))[:20]!r}") from exc
        filters = _form_filters(form.get("filters"))
        data = await upload.read()
        if len(data) > settings.audio.max_upload_mb * 2**20:
            raise PayloadTooLarge("audio upload exceeds the size limit")
        items = await run_in_threadpool(similar_to_audio, catalog, data,
                                        filename=upload.filename or "", k=k,
                                        filter=filters.to_song_filter(catalog.taxonomy))
        return {"items": items}
    raw = await request.body()  # at most api.max_json_mb (BodySizeLimit)
    body = await run_in_threadpool(_parse_query, raw)
    flt = body.filters.to_song_filter(catalog.taxonomy)
    if body.positive:
        items = await run_in_threadpool(similar_to_examples, catalog, body.positive,
                                        body.negative, k=body.k, space=body.space, filter=flt)
    else:
        items = await run_in_threadpool(similar_to_text, catalog, body.text, k=body.k,
                                        filter=flt)
    return {"items": items}
