"""The interactive API docs, served from local files: ``/docs`` (Swagger UI), ``/redoc`` (ReDoc)
and ``/openapi.json``. FastAPI's own pages load their JavaScript and CSS from a CDN and stay
blank on an offline machine; here the same pages (FastAPI's ``get_swagger_ui_html`` and
``get_redoc_html``) point at the files the PyPI package ``fastapi-offline`` ships (Swagger UI
5.32.6, Apache-2.0; ReDoc 2.5.3, MIT), mounted under :data:`ASSETS_URL`. No Google fonts, no
online validator badge, and a Content-Security-Policy that keeps the browser on this server
(ReDoc's footer asks ``cdn.redoc.ly`` for its logo; the policy stops that request before it
is made, and ReDoc then leaves the logo out)."""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.staticfiles import StaticFiles

__all__ = ["ASSETS_URL", "assets_dir", "install_docs"]

#: where the docs' JavaScript, CSS and favicon are served
ASSETS_URL = "/docs-assets"

#: the docs pages may load from this server only; both pages start from an inline script and
#: style, and ReDoc runs its search index in a worker made from a blob
DOCS_CSP = ("default-src 'self'; script-src 'self' 'unsafe-inline'; "
            "style-src 'self' 'unsafe-inline'; img-src 'self' data:; worker-src 'self' blob:; "
            "connect-src 'self'; font-src 'self' data:; frame-ancestors 'none'")


def _local_only(page: HTMLResponse) -> HTMLResponse:
    page.headers["Content-Security-Policy"] = DOCS_CSP
    return page


def assets_dir() -> Path:
    """The folder of ``swagger-ui-bundle.js``, ``swagger-ui.css``, ``redoc.standalone.js`` and
    ``favicon.png`` inside the installed ``fastapi-offline`` package."""
    return Path(str(files("fastapi_offline") / "static"))


def install_docs(app: FastAPI, *, dependencies: list[Any]) -> None:
    """Add ``/openapi.json``, ``/docs``, ``/redoc`` (each with ``dependencies``, e.g. the read
    scope) and the static assets. The assets are behind the same security middleware as every
    other path, so whoever may open the docs may load them. The app must be built with
    ``docs_url=None, redoc_url=None, openapi_url=None``."""
    app.mount(ASSETS_URL, StaticFiles(directory=assets_dir()), name="docs-assets")
    favicon = f"{ASSETS_URL}/favicon.png"

    @app.get("/openapi.json", include_in_schema=False, dependencies=dependencies)
    def openapi() -> JSONResponse:
        return JSONResponse(app.openapi())

    @app.get("/docs", include_in_schema=False, dependencies=dependencies)
    def docs() -> HTMLResponse:
        return _local_only(get_swagger_ui_html(
            openapi_url="/openapi.json", title=f"{app.title} - docs",
            swagger_js_url=f"{ASSETS_URL}/swagger-ui-bundle.js",
            swagger_css_url=f"{ASSETS_URL}/swagger-ui.css", swagger_favicon_url=favicon,
            # the default validator is an online service: its badge would call out
            swagger_ui_parameters={"validatorUrl": None}))

    @app.get("/redoc", include_in_schema=False, dependencies=dependencies)
    def redoc() -> HTMLResponse:
        return _local_only(get_redoc_html(
            openapi_url="/openapi.json", title=f"{app.title} - ReDoc",
            redoc_js_url=f"{ASSETS_URL}/redoc.standalone.js", redoc_favicon_url=favicon,
            with_google_fonts=False))
