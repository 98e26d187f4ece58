"""/docs and /redoc load nothing from outside the server: every script, stylesheet and icon
they reference is a local path that the app serves, with the right content type."""

from __future__ import annotations

import re

import pytest

from songlens.api.app import create_app
from tests.conftest import local_client

#: src=, href= and the spec URL inside the pages
_REFS = re.compile(r"""(?:src|href|spec-url)\s*=\s*["']([^"']+)["']|url:\s*'([^']+)'""")
_TYPES = {".js": "javascript", ".css": "text/css", ".png": "image/png",
          ".json": "application/json"}


@pytest.fixture(scope="module")
def client(test_settings_factory):
    # no lifespan (no `with`): the docs need neither models nor the store
    return local_client(create_app(test_settings_factory()))


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_docs_pages_reference_only_local_assets_that_are_served(client, page):
    r = client.get(page)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    refs = [a or b for a, b in _REFS.findall(r.text)]
    assert len(refs) >= 3, refs  # script, favicon, spec (+ stylesheet for Swagger UI)
    assert "http://" not in r.text and "https://" not in r.text and "//" not in "".join(refs)
    assert "fonts.googleapis" not in r.text
    for ref in refs:
        assert ref.startswith("/"), ref
        if ref == "/openapi.json":
            continue
        asset = client.get(ref)
        assert asset.status_code == 200, ref
        kind = _TYPES[ref[ref.rindex("."):]]
        assert kind in asset.headers["content-type"], (ref, asset.headers["content-type"])
        assert len(asset.content) > 1000, ref


def test_swagger_ui_and_redoc_bundles_are_the_real_libraries(client):
    js = client.get("/docs-assets/swagger-ui-bundle.js").text
    assert "SwaggerUIBundle" in js and 'PACKAGE_VERSION:"5.' in js
    assert "Redoc" in client.get("/docs-assets/redoc.standalone.js").text
    assert client.get("/docs").text.count('"validatorUrl": null') == 1  # no online badge


def test_assets_follow_the_read_rule_and_refuse_paths_outside(test_settings_factory):
    settings = test_settings_factory()
    app = create_app(settings)
    # a request from another machine to a key-less server: refused like every read
    from fastapi.testclient import TestClient

    remote = TestClient(app, base_url="http://localhost", client=("203.0.113.9", 5000))
    assert remote.get("/docs-assets/swagger-ui.css").status_code == 401
    local = local_client(app)
    for path in ("/docs-assets/../__init__.py", "/docs-assets/%2e%2e/core.py",
                 "/docs-assets/nope.js"):
        assert local.get(path).status_code == 404, path


def test_assets_are_counted_under_their_mount_not_per_file(client):
    for name in ("swagger-ui.css", "favicon.png", "missing.js"):
        client.get(f"/docs-assets/{name}")
    lines = [line for line in client.get("/metrics").text.splitlines()
             if line.startswith("songlens_http_requests_total{")]
    assert any('route="/docs-assets",status="200"' in line for line in lines), lines
    assert any('route="/docs-assets",status="404"' in line for line in lines), lines
    assert not any("swagger-ui.css" in line or "missing.js" in line for line in lines)
