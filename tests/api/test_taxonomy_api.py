"""GET /v1/taxonomy: the shipped taxonomy, bilingual, in display order."""

from __future__ import annotations

import pytest

from songlens.api.app import create_app
from songlens.content.taxonomy import load_taxonomy
from tests.conftest import local_client


@pytest.fixture(scope="module")
def client(catalog):
    with local_client(create_app(catalog.settings, catalog=catalog)) as c:
        yield c


def test_taxonomy_lists_every_dimension_and_tag_in_order(client):
    r = client.get("/v1/taxonomy")
    assert r.status_code == 200, r.text
    dims = r.json()["dimensions"]
    assert [d["key"] for d in dims] == ["language", "style", "scene", "emotion", "theme"]
    assert [(d["zh"], d["en"]) for d in dims] == [("语种", "Language"), ("风格", "Style"),
                                                  ("场景", "Scene"), ("情感", "Emotion"),
                                                  ("主题", "Theme")]
    assert dims[0]["tags"][:2] == [{"tag": "华语", "en": "Mandarin"},
                                   {"tag": "粤语", "en": "Cantonese"}]
    shipped = load_taxonomy()
    for d in dims:
        assert [t["tag"] for t in d["tags"]] == shipped.tags[d["key"]]
        assert all(t["en"] == shipped.en[(d["key"], t["tag"])] for t in d["tags"])
