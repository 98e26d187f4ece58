"""Serving kept audio files: Starlette's FileResponse (single and multiple byte ranges, 206
Partial Content, ``Accept-Ranges``, ``If-Range``), with its two range errors answered in the JSON
error contract instead of plain text."""

from __future__ import annotations

import json
from typing import Any

from starlette.responses import FileResponse

from songlens.api.errors import error_body

__all__ = ["RangeFileResponse"]

#: the statuses FileResponse answers itself (a bad or an unsatisfiable Range header)
_RANGE_ERRORS = {400: "invalid_range", 416: "range_not_satisfiable"}


class RangeFileResponse(FileResponse):
    """A file, with byte ranges; a malformed Range is 400 ``invalid_range``, one past the end
    416 ``range_not_satisfiable`` (with ``Content-Range: bytes */size``), both JSON."""

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        status: int | None = None
        headers: list[tuple[bytes, bytes]] = []

        async def json_errors(message: Any) -> None:
            nonlocal status, headers
            if message["type"] == "http.response.start" and message["status"] in _RANGE_ERRORS:
                status = message["status"]
                headers = [(k, v) for k, v in message.get("headers", [])
                           if k.lower() == b"content-range"]
                return
            if status is None:
                await send(message)
                return
            if message.get("more_body"):
                return
            reason = "the Range header is malformed" if status == 400 else \
                "the Range header asks for bytes past the end of the file"
            detail = message.get("body", b"").decode("utf-8", "replace").strip()
            raw = json.dumps(error_body(_RANGE_ERRORS[status], f"{reason} ({detail})"
                                        if detail else reason)).encode()
            await send({"type": "http.response.start", "status": status,
                        "headers": [(b"content-type", b"application/json"),
                                    (b"content-length", str(len(raw)).encode()), *headers]})
            await send({"type": "http.response.body", "body": raw})

        await super().__call__(scope, receive, json_errors)
