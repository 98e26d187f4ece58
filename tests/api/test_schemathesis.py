"""Property-based requests from the OpenAPI schema (schemathesis), bounded: no 5xx, and every
4xx in the error contract."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, settings

from songlens.api.app import create_app
from songlens.settings import Settings
from tests.conftest import local_client

schemathesis = pytest.importorskip("schemathesis")

pytestmark = pytest.mark.slow

# the schema is read from an app that is never started (no store, no models, nothing written
# under ./data: cheap at import); the requests go to a started app on the test catalog (``app=``)
schema = schemathesis.openapi.from_dict(create_app(Settings()).openapi())


@pytest.fixture(scope="module")
def app(catalog):
    # schemathesis' ASGI client connects as "testclient", not a loopback address, so this app
    # lets key-less callers in whatever their address (security.allow_unauthenticated)
    settings = catalog.settings.model_copy(update={"security": catalog.settings.security.model_copy(
        update={"allow_unauthenticated": True})})
    app = create_app(settings, catalog=catalog)
    # TestClient runs the lifespan: app.state holds the catalog while the module runs
    with local_client(app):
        yield app


@schema.parametrize()
@settings(max_examples=15, deadline=None, derandomize=True,
          suppress_health_check=list(HealthCheck))
def test_no_server_error_and_errors_in_the_contract(app, case):
    response = case.call(app=app, headers={"Host": "localhost"})
    assert response.status_code < 500, (case.method, case.path, response.text[:500])
    if response.status_code >= 400:
        ctype = response.headers.get("content-type") or [""]
        ctype = ctype[0] if isinstance(ctype, list) else ctype
        assert ctype.startswith("application/json"), response.text[:500]
        body = response.json()
        assert set(body) == {"error"} and body["error"]["code"] and body["error"]["message"]
        # the requests really reach the routes
        assert body["error"]["code"] not in ("invalid_host", "unauthorized")
