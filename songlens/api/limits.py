"""A pure ASGI middleware that refuses request bodies over the configured size, early."""

from __future__ import annotations

import json
from typing import Any

from starlette.exceptions import HTTPException

from songlens.api.errors import error_body

__all__ = ["BodySizeLimit"]


class _TooLarge(HTTPException):
    """Raised from inside ``receive``; an HTTPException so FastAPI's body parsing lets it through
    to the error handlers (413) instead of wrapping it as a 400."""


class BodySizeLimit:
    """413 ``payload_too_large`` when Content-Length or the streamed body exceeds ``max_bytes``."""

    def __init__(self, app: Any, *, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def _reject(self, send: Any) -> None:
        body = json.dumps(error_body(
            "payload_too_large",
            f"request body exceeds the limit of {self.max_bytes / 2**20:.0f} MiB")).encode()
        await send({"type": "http.response.start", "status": 413,
                    "headers": [(b"content-type", b"application/json"),
                                (b"content-length", str(len(body)).encode()),
                                (b"connection", b"close")]})
        await send({"type": "http.response.body", "body": body})

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope.get("headers", []):
            if name == b"content-length":
                try:
                    too_big = int(value) > self.max_bytes
                except ValueError:
                    too_big = False
                if too_big:
                    await self._reject(send)
                    return
        seen = 0
        started = False

        async def counted_receive() -> Any:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise _TooLarge(413, f"request body exceeds the limit of "
                                          f"{self.max_bytes / 2**20:.0f} MiB")
            return message

        async def tracked_send(message: Any) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counted_receive, tracked_send)
        except _TooLarge:
            if not started:
                await self._reject(send)
