"""API security: keys with scopes (hashed at rest), Origin checks, CORS, per-key rate limits.

:func:`install_security` wires it into an app; routes declare their scope with
``dependencies=[Depends(READ)]`` / ``WRITE`` (see :mod:`songlens.api.deps`)."""

from __future__ import annotations

from typing import Any

from fastapi import Depends, FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.middleware.cors import CORSMiddleware

from songlens.api.docs import install_docs
from songlens.api.security.access import (
    ADMIN,
    READ,
    WRITE,
    Caller,
    Guard,
    is_loopback_host,
    require,
)
from songlens.api.security.keys import SCOPES, ApiKey, KeyFile, KeyRing
from songlens.api.security.middleware import SecurityMiddleware, error_response
from songlens.api.security.ratelimit import RateLimiter
from songlens.errors import RateLimited, Unauthorized
from songlens.settings import Settings

__all__ = ["ADMIN", "NO_DEFAULT_DOCS", "READ", "SCOPES", "WRITE", "ApiKey", "Caller", "Guard",
           "KeyFile", "KeyRing", "RateLimiter", "SecurityMiddleware", "install_security",
           "is_loopback_host", "require"]

#: the FastAPI constructor arguments that leave the docs to :func:`install_security`
NO_DEFAULT_DOCS: dict[str, Any] = {"docs_url": None, "redoc_url": None, "openapi_url": None}


def install_security(app: FastAPI, settings: Settings) -> Guard:
    """Add the security middleware (and CORS when ``security.cors_origins`` lists origins), the
    401/429 error headers, and ``/openapi.json``, ``/docs``, ``/redoc`` behind the read rule.
    Call it after the other middleware: it becomes the outer layer, so a refused request's body
    is never read. The app must be built with :data:`NO_DEFAULT_DOCS`."""
    guard = Guard(settings)
    app.state.guard = guard
    origins = settings.security.cors_origins
    app.add_middleware(SecurityMiddleware, guard=guard, cors_origins=origins)
    if origins:  # outermost: answers preflights, adds its headers to every answer
        app.add_middleware(CORSMiddleware, allow_origins=origins, allow_credentials=False,
                           allow_methods=["GET", "POST", "DELETE"],
                           allow_headers=["Authorization", "Content-Type"],
                           expose_headers=["Retry-After"], max_age=600)

    async def _with_headers(request: Request, exc: Exception) -> JSONResponse:
        return error_response(exc)  # type: ignore[arg-type]

    app.add_exception_handler(Unauthorized, _with_headers)
    app.add_exception_handler(RateLimited, _with_headers)

    install_docs(app, dependencies=[Depends(READ)])

    return guard
