"""The web app's files as the server hands them out: the shell at /, the assets under /web/,
nothing from another origin, every module the pages import present and packaged."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path, PurePosixPath

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from songlens.web import ASSET_PREFIX, STATIC, install_web

ROOT = Path(__file__).resolve().parents[2]
FILES = sorted(p for p in STATIC.rglob("*") if p.is_file())
SCRIPTS = [p for p in FILES if p.suffix == ".js"]


@pytest.fixture(scope="module")
def client():
    app = FastAPI()
    install_web(app)
    with TestClient(app) as c:
        yield c


def test_shell_is_served_with_a_strict_content_security_policy(client):
    r = client.get("/")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    csp = r.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "default-src 'self'" in csp
    assert '<script type="module" src="/web/js/app.js">' in r.text


@pytest.mark.parametrize("path", [p.relative_to(STATIC).as_posix() for p in FILES])
def test_every_asset_is_served_with_its_type(client, path):
    r = client.get(ASSET_PREFIX + path)
    assert r.status_code == 200
    want = {".js": "javascript", ".css": "text/css", ".html": "text/html"}[Path(path).suffix]
    assert want in r.headers["content-type"]
    assert r.headers["cache-control"] == "no-cache"


@pytest.mark.parametrize("path", ["/web/%2e%2e/__init__.py", "/web/..%2f__init__.py",
                                  "/web/js/../../__init__.py"])
def test_assets_never_leave_the_static_folder(client, path):
    r = client.get(path)
    assert r.status_code == 404
    assert "STATIC" not in r.text and "import" not in r.text


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_nothing_is_loaded_from_another_origin(path):
    # the SVG namespace is a name, never fetched
    text = path.read_text("utf-8").replace('"http://www.w3.org/2000/svg"', "")
    assert not re.search(r"https?://|//[a-z0-9-]+\.[a-z]{2,}/|@import|fonts\.googleapis", text), \
        f"{path.name} refers to another origin: the app must work offline"


def test_every_imported_module_exists():
    for script in SCRIPTS:
        for spec in re.findall(r"""(?:from|import)\s*\(?\s*["'](\.{1,2}/[^"']+)["']""",
                               script.read_text("utf-8")):
            assert (script.parent / spec).resolve().is_file(), f"{script.name} imports {spec}"


def test_every_module_is_preloaded():
    """The shell names every module (modulepreload), so the browser fetches them in parallel
    rather than one import level after another."""
    html = (STATIC / "index.html").read_text("utf-8")
    for script in SCRIPTS:
        href = f"/web/{script.relative_to(STATIC).as_posix()}"
        assert f'<link rel="modulepreload" href="{href}">' in html or \
            f'<script type="module" src="{href}">' in html, f"{href} is not preloaded"


def test_every_static_file_is_package_data():
    globs = tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))["tool"]["setuptools"][
        "package-data"]["songlens"]
    package = STATIC.parents[1]  # songlens/
    for path in FILES:
        rel = PurePosixPath(path.relative_to(package).as_posix())
        assert any(rel.match(g) for g in globs), f"{rel} is not in package-data: {globs}"
