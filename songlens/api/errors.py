"""Map every error to the contract's shape: ``{"error": {"code": ..., "message": ...}}``."""

from __future__ import annotations

import logging
import re
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from songlens.errors import SonglensError

__all__ = ["error_body", "excerpt", "install_error_handlers"]

log = logging.getLogger(__name__)

_HTTP_CODES = {400: "bad_request", 404: "not_found", 405: "method_not_allowed",
               413: "payload_too_large", 415: "unsupported_media_type",
               422: "invalid_input", 429: "too_many_requests"}


#: the longest message a client gets back; messages echo client strings only as excerpts
MAX_MESSAGE = 1000
_UNPRINTABLE = re.compile(r"[\x00-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2066-\u2069\ufeff]")


def excerpt(text: object, max_len: int = 60) -> str:
    """``text`` safe to put in a message: control, zero-width and bidi characters escaped
    (``\\x1b``), at most ``max_len`` characters (``…`` marks a cut)."""
    s = _UNPRINTABLE.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), str(text))
    return s if len(s) <= max_len else s[:max_len - 1] + "…"


def error_body(code: str, message: str, details: dict[str, Any] | None = None) -> dict[str, Any]:
    """The contract's shape; ``message`` made printable and cut to :data:`MAX_MESSAGE`."""
    err: dict[str, Any] = {"code": code, "message": excerpt(message, MAX_MESSAGE)}
    if details:
        err["details"] = details
    return {"error": err}


def _jsonable(details: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for k, v in details.items():
        out[k] = v if isinstance(v, str | int | float | bool | type(None) | list | dict) else str(v)
    return out


def _body_error(request: Request, exc: Exception, message: str) -> tuple[int, str, str]:
    """A 400 from parsing the body (starlette's multipart parser, FastAPI's JSON decoding) as
    the contract names it: a part over the size limit is 413 ``payload_too_large``, a JSON body
    nested too deeply 422 ``invalid_json``, any other malformed multipart 400
    ``invalid_multipart``."""
    if isinstance(exc.__cause__, RecursionError):
        return 422, "invalid_json", "body is not valid JSON: nested too deeply"
    if message.startswith("Part exceeded maximum size"):
        return 413, "payload_too_large", (f"a multipart text part (such as 'metadata') "
                                          f"exceeds the limit: {message}")
    if request.headers.get("content-type", "").lower().startswith("multipart/"):
        return 400, "invalid_multipart", f"malformed multipart body: {message}"
    return 400, "bad_request", message


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(SonglensError)
    async def _ours(request: Request, exc: SonglensError) -> JSONResponse:
        if exc.status >= 500:
            log.error("%s on %s: %s", exc.code, request.url.path, exc.message)
        return JSONResponse(error_body(exc.code, exc.message, _jsonable(exc.details)),
                            status_code=exc.status)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = []
        for e in exc.errors()[:20]:
            loc = ".".join(excerpt(x, 40) for x in e.get("loc", ()) if x != "body")
            problems.append(f"{loc or 'body'}: {e.get('msg')}")
        if len(exc.errors()) > 20:
            problems.append(f"… {len(exc.errors()) - 20} more")
        missing = any(e.get("type") == "missing" for e in exc.errors())
        code = "missing_field" if missing else "invalid_input"
        if any(e.get("type") == "json_invalid" for e in exc.errors()):
            code = "invalid_json"
        return JSONResponse(error_body(code, "; ".join(problems)), status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        status, code, message = exc.status_code, _HTTP_CODES.get(exc.status_code,
                                                                 "http_error"), str(exc.detail)
        if status == 400:
            status, code, message = _body_error(request, exc, message)
        return JSONResponse(error_body(code, message), status_code=status,
                            headers=getattr(exc, "headers", None))

    @app.exception_handler(Exception)
    async def _bug(request: Request, exc: Exception) -> JSONResponse:
        from songlens.api.request_log import HEADER, current_request_id  # it imports us

        rid = current_request_id()
        log.exception("unhandled error on %s (request_id=%s)", request.url.path, rid)
        # this answer is sent outside the middleware that adds the id to every other one
        return JSONResponse(error_body("internal_error", "internal error; see the server log"),
                            status_code=500, headers={HEADER: rid} if rid else None)
