"""The web app: static files (one HTML shell, a style sheet, ES modules) that the API's FastAPI
app serves at ``/`` and ``/web/``. The pages call the JSON API (``/v1/...``) like any other
client, with the API key the user pastes (kept in the browser's localStorage); the files
themselves hold no data, so they are served without a key (see
:data:`songlens.api.security.middleware.OPEN_PATHS`). Nothing is loaded from outside the server:
no CDN, no web fonts, no third-party script."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

__all__ = ["ASSET_PREFIX", "CSP", "PAGE_PATHS", "STATIC", "install_web"]

STATIC = Path(__file__).parent / "static"
#: where the assets are mounted (the shell is at ``/``)
ASSET_PREFIX = "/web/"
#: the shell's paths (pages are routed inside it: ``/#/song/<id>``)
PAGE_PATHS = frozenset({"/"})
#: the shell may load scripts, styles and media from this server only; song titles and lyrics are
#: user data, and the scripts write them as text, never as HTML
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
       "media-src 'self' blob:; connect-src 'self'; object-src 'none'; base-uri 'none'; "
       "frame-ancestors 'none'; form-action 'self'")
_HEADERS = {"Content-Security-Policy": CSP, "X-Content-Type-Options": "nosniff",
            "Referrer-Policy": "no-referrer", "Cache-Control": "no-cache"}


class _Assets(StaticFiles):
    """StaticFiles whose answers are revalidated (ETag) on every load, so an upgraded server's
    scripts are never mixed with a cached older module."""

    def file_response(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        response = super().file_response(*args, **kwargs)
        response.headers["Cache-Control"] = "no-cache"
        response.headers["X-Content-Type-Options"] = "nosniff"
        return response


def install_web(app: FastAPI) -> None:
    """Serve the shell at ``/`` and the assets under :data:`ASSET_PREFIX`."""
    app.mount(ASSET_PREFIX.rstrip("/"), _Assets(directory=STATIC), name="web")

    @app.get("/", include_in_schema=False)
    def index() -> FileResponse:
        return FileResponse(STATIC / "index.html", media_type="text/html; charset=utf-8",
                            headers=_HEADERS)
