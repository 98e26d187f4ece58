"""One request, observed: its id, one structured log line, its metrics.

:class:`RequestObserver` is the outermost middleware, so it sees every answer, including those of
the security layer (401, 403, 429), the size limits (413) and the catch-all (500). The request id
is the client's ``X-Request-ID`` when it is sane (:data:`REQUEST_ID`: letters, digits and
``._:-``, at most 128 characters), else a new one; it is echoed in the response's
``X-Request-ID`` and available to log lines as :func:`current_request_id`."""

from __future__ import annotations

import asyncio
import contextvars
import json
import logging
import re
import time
import uuid
from typing import Any

from starlette.routing import Match

from songlens.api.errors import error_body
from songlens.api.metrics import AppMetrics, bounded_method

__all__ = ["HEADER", "REQUEST_ID", "RequestObserver", "current_request_id", "logfmt",
           "route_template"]

log = logging.getLogger("songlens.access")

HEADER = "X-Request-ID"
REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
_request_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id",
                                                                         default=None)
_BARE = re.compile(r"[A-Za-z0-9._:/{}@+-]+")


def current_request_id() -> str | None:
    """The id of the request being answered (in its task and the threads it starts)."""
    return _request_id.get()


def logfmt(fields: dict[str, Any]) -> str:
    """``key=value`` pairs; a value with anything but plain characters is quoted, with quotes,
    backslashes and control characters escaped (a client's path cannot forge a line)."""
    out = []
    for k, v in fields.items():
        if isinstance(v, int | float):
            out.append(f"{k}={v:.1f}" if isinstance(v, float) else f"{k}={v}")
            continue
        s = str(v)
        if not _BARE.fullmatch(s):
            s = '"' + s.encode("unicode_escape").decode("ascii").replace('"', '\\"') + '"'
        out.append(f"{k}={s}")
    return " ".join(out)


def route_template(scope: dict[str, Any], original: dict[str, Any] | None = None) -> str:
    """The path template of the route that answered (``/v1/songs/{song_id}``; a mount's
    prefix), or that would have if a middleware had not answered first; ``unmatched`` when no
    route matches. ``original`` is the scope as it came in (routing rewrites a mount's
    ``root_path``)."""
    route = scope.get("route")
    if route is None:
        probe = original if original is not None else scope
        partial = None
        for candidate in getattr(getattr(scope.get("app"), "router", None), "routes", ()):
            try:
                match, _ = candidate.matches(probe)
            except Exception:  # noqa: BLE001 - a route that cannot judge does not match
                continue
            if match is Match.FULL:
                route = candidate
                break
            if match is Match.PARTIAL and partial is None:
                partial = candidate  # the path matches, the method does not (405)
        route = route or partial
    path = getattr(route, "path", None)
    return path if isinstance(path, str) and path else "unmatched"


def _header(scope: dict[str, Any], name: bytes) -> str | None:
    for k, v in scope.get("headers", ()):
        if k == name:
            return v.decode("latin-1")
    return None


class RequestObserver:
    """Request id, access log line (logger ``songlens.access``, INFO, logfmt) and request
    metrics for every HTTP request.

    A request cancelled before it answered (uvicorn cancels what is still running when
    ``api.shutdown_grace_s`` has passed after SIGTERM) is answered 503 ``shutting_down``
    instead of a dropped connection; the work it started writes nothing (see
    ``Catalog.close``)."""

    def __init__(self, app: Any, *, metrics: AppMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = (_header(scope, b"x-request-id") or "").strip()
        rid = given if REQUEST_ID.fullmatch(given) else uuid.uuid4().hex
        _request_id.set(rid)  # this request's task (and its threads) only: not reset on exit
        status = 500  # if the app fails before answering, the server's error page says 500
        started = False
        original = dict(scope)
        t0 = time.perf_counter()

        async def send_with_id(message: Any) -> None:
            nonlocal status, started
            if message["type"] == "http.response.start":
                status, started = message["status"], True
                headers = [h for h in message.get("headers", ()) if h[0].lower() !=
                           b"x-request-id"]
                message = {**message, "headers": [*headers, (b"x-request-id", rid.encode())]}
            await send(message)

        self.metrics.in_progress.inc()
        try:
            await self.app(scope, receive, send_with_id)
        except asyncio.CancelledError:
            if started:
                raise
            status = 503
            raw = json.dumps(error_body("shutting_down", "the server is shutting down; the "
                                        "request was stopped and nothing was written; retry "
                                        "when it is back")).encode()
            await send({"type": "http.response.start", "status": 503,
                        "headers": [(b"content-type", b"application/json"),
                                    (b"content-length", str(len(raw)).encode()),
                                    (b"connection", b"close"),
                                    (b"x-request-id", rid.encode())]})
            await send({"type": "http.response.body", "body": raw})
        finally:
            seconds = time.perf_counter() - t0
            self.metrics.in_progress.dec()
            route = route_template(scope, original)
            self.metrics.observe_request(scope["method"], route, status, seconds)
            if log.isEnabledFor(logging.INFO):
                client = (scope.get("client") or ("-", 0))[0]
                log.info("%s", logfmt({
                    "method": bounded_method(scope["method"]), "route": route,
                    "path": scope.get("path", "")[:200], "status": status,
                    "duration_ms": seconds * 1000, "request_id": rid, "client": client}))
