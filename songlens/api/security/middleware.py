"""A pure ASGI middleware that checks the Origin of state-changing requests, authenticates the
caller and takes a rate-limit token, all before the body is read. Each route's scope is checked
by its dependency (:func:`~songlens.api.security.access.require`); this layer refuses early what
no route would accept: an anonymous caller when keys are in force and reads are not public."""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import urlsplit

from starlette.datastructures import Headers
from starlette.responses import JSONResponse

from songlens.api.errors import error_body
from songlens.api.security.access import Caller, Guard
from songlens.errors import (
    ForbiddenOrigin,
    InvalidHost,
    RateLimited,
    SonglensError,
    Unauthorized,
)

__all__ = ["OPEN_PATHS", "SecurityMiddleware", "error_response", "same_origin"]

log = logging.getLogger(__name__)

STATE_CHANGING = frozenset({"POST", "PUT", "PATCH", "DELETE"})
#: paths anyone may call without a key (they reveal nothing sensitive)
OPEN_PATHS = frozenset({"/healthz", "/readyz"})
_DEFAULT_PORTS = {"http": 80, "https": 443, "ws": 80, "wss": 443}


def error_response(exc: SonglensError) -> JSONResponse:
    """The contract's error body, with ``WWW-Authenticate`` on a 401 and ``Retry-After`` on a
    429."""
    headers = {}
    if isinstance(exc, Unauthorized):
        headers["WWW-Authenticate"] = 'Bearer realm="songlens"'
    if isinstance(exc, RateLimited):
        headers["Retry-After"] = str(exc.retry_after_s)
    details = {k: v for k, v in exc.details.items() if isinstance(v, str | int | float)}
    return JSONResponse(error_body(exc.code, exc.message, details), status_code=exc.status,
                        headers=headers)


def _origin_tuple(scheme: str, netloc: str) -> tuple[str, str, int] | None:
    try:
        parts = urlsplit(f"//{netloc}")
        port = parts.port or _DEFAULT_PORTS.get(scheme)
    except ValueError:
        return None
    if not parts.hostname or port is None:
        return None
    return scheme, parts.hostname.lower(), port


def same_origin(origin: str, scope: dict[str, Any], host: str | None) -> bool:
    """Whether ``origin`` is this server's own (scheme, host and port of the request)."""
    parts = urlsplit(origin.strip())
    theirs = _origin_tuple(parts.scheme.lower(), parts.netloc)
    ours = _origin_tuple(scope.get("scheme", "http"), host or "")
    return theirs is not None and theirs == ours


class SecurityMiddleware:
    """Origin check, then (except on :data:`OPEN_PATHS`) authentication, the early refusal of
    anonymous callers who may not even read, and the rate limit. The :class:`Caller` goes to
    the route in ``request.state.caller``."""

    def __init__(self, app: Any, *, guard: Guard, cors_origins: list[str]) -> None:
        self.app = app
        self.guard = guard
        self.cors_origins = frozenset(cors_origins)

    def _check_origin(self, scope: dict[str, Any], headers: Headers) -> None:
        origin = headers.get("origin")
        if scope["method"] not in STATE_CHANGING or origin is None:
            return  # not a browser's cross-site write (curl, the CLI, servers send no Origin)
        if origin.strip().rstrip("/").lower() in self.cors_origins:
            return
        if same_origin(origin, scope, headers.get("host")):
            return
        raise ForbiddenOrigin(f"{scope['method']} from origin {origin!r} refused: only this "
                              "server's own origin and security.cors_origins may change data",
                              origin=origin)

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        try:
            if not self.guard.host_allowed(headers.get("host")):
                raise InvalidHost("this server answers to loopback names only (localhost, "
                                  "127.0.0.1, ::1); add others to security.allowed_hosts")
            self._check_origin(scope, headers)
            client = (scope.get("client") or ("unknown", 0))[0]
            if scope.get("path") in OPEN_PATHS:
                caller = Caller(id=f"ip:{client}", scopes=())
            else:
                caller = self.guard.authenticate(headers.get("authorization"), client)
                caller.require("read")
                self.guard.limit(caller)
        except SonglensError as exc:
            if exc.status in (403, 429):
                log.info("%s %s: %s", scope["method"], scope.get("path"), exc.message)
            await error_response(exc)(scope, receive, send)
            return
        scope.setdefault("state", {})["caller"] = caller
        await self.app(scope, receive, send)
