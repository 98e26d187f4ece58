"""The audio-sized body limit is for uploads only: a JSON route does not read a large body
because its Content-Type claims multipart."""

from __future__ import annotations

import pytest

from songlens.api.app import create_app
from tests.conftest import local_client

BIG = b"x" * (3 * 2**20)  # over api.max_json_mb (2 MiB), far under the upload limit


@pytest.fixture(scope="module")
def client(catalog):
    app = create_app(catalog.settings, catalog=catalog)
    with local_client(app) as c:
        yield c


@pytest.mark.parametrize("ctype", ["multipart/form-data; boundary=zz", "Multipart/Form-Data; b=1",
                                   "application/json", "text/plain"])
@pytest.mark.parametrize("path", ["/v1/rank", "/v1/playlists", "/v1/feedback", "/v1/recall"])
def test_json_routes_refuse_a_big_body_whatever_its_type(client, path, ctype):
    r = client.post(path, content=BIG, headers={"content-type": ctype})
    assert r.status_code == 413, r.text
    assert r.json()["error"]["code"] == "payload_too_large"


def test_uploads_still_take_audio_sized_bodies(client):
    r = client.post("/v1/similar", content=BIG,
                    headers={"content-type": "MULTIPART/form-data; boundary=zz"})
    assert r.status_code != 413, r.text  # read as an upload (then refused as malformed)
    assert r.json()["error"]["code"] in ("invalid_multipart", "invalid_input", "missing_field")
