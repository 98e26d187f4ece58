"""Zero-shot tags from comments and lyric lines: the real USE-multilingual model against the
shipped tag descriptions and calibration, combined with the lexicon."""

from __future__ import annotations

import pytest

from songlens.content.tagging.fusion import fuse_tags
from songlens.content.tagging.text_zero_shot import (
    TextTagger,
    lexicon_matrix,
    load_tag_descriptions,
    load_text_tag_calibration,
)
from songlens.content.taxonomy import config_path
from songlens.content.text.analyse import analyse_text
from songlens.content.text.lexicon import match_line
from songlens.errors import ConfigError

PIANO = "这首钢琴曲弹得太美了，每天练琴都听"
PAINT = "钢琴烤漆的外壳很容易留指纹，做工一般"


def _tags(resources, dense, comments=None, lyrics=None):
    a = analyse_text(title="", artist="", comments=comments, lyrics=lyrics, resources=resources,
                     dense=dense)
    return a, fuse_tags(a.evidence, resources=resources)


def _q(resources, tagger: TextTagger, encode, text: str, dim: str, tag: str) -> float:
    match = tagger.match(encode([text]))[dim]
    hits = [match_line(text, resources.tokenizer.segment(text), lexicon=resources.lexicon)]
    q = tagger.probabilities(match, lexicon_matrix(match.tags, dim, hits), dim)
    return float(q[match.tags.index(tag), 0])


def test_every_tag_is_described_in_chinese_and_english(resources):
    desc = load_tag_descriptions(config_path("tag_descriptions.yaml"), taxonomy=resources.taxonomy)
    for dim in ("style", "scene", "emotion", "theme"):
        for tag in resources.taxonomy.tags[dim]:
            said = desc.tags[dim][tag]
            assert any(c.isascii() for c in said) and any(not c.isascii() for c in said), tag
        assert desc.background[dim]


def test_descriptions_must_name_taxonomy_tags(resources, tmp_path):
    bad = tmp_path / "d.yaml"
    bad.write_text("dimensions:\n  scene:\n    tags:\n      月球: [在月球上听]\n", "utf-8")
    with pytest.raises(ConfigError, match="月球"):
        load_tag_descriptions(bad, taxonomy=resources.taxonomy)


def test_calibration_is_per_text_model():
    assert load_text_tag_calibration(config_path("text_tags.yaml"), "no-such-model") is None
    cal = load_text_tag_calibration(config_path("text_tags.yaml"), "use-multilingual-v3")
    assert set(cal.operating_point) == {"scene", "emotion", "theme"}


def test_model_reads_context_the_lexicon_cannot(resources, dense_text):
    """Both texts hold the cue 钢琴; only one is about a piano. The lexicon gives both the same
    weight; the model's probability separates them."""
    enc = dense_text.encode
    piano = _q(resources, dense_text.tagger, enc, PIANO, "theme", "钢琴")
    paint = _q(resources, dense_text.tagger, enc, PAINT, "theme", "钢琴")
    assert piano > 0.9 and paint < 0.6 and piano - paint > 0.4


def test_zero_shot_finds_tags_without_a_lexicon_word(resources, dense_text):
    """No lexicon cue of 驾车 in the text (开着车 is not 开车 to jieba), yet the model reads it."""
    text = "一路开着车听这首歌"
    hits = match_line(text, resources.tokenizer.segment(text), lexicon=resources.lexicon)
    assert not [h for h in hits if h.cue.tag == "驾车"]
    q = _q(resources, dense_text.tagger, dense_text.encode, text, "scene", "驾车")
    none = _q(resources, dense_text.tagger, dense_text.encode, "今天中午吃了一碗面", "scene",
              "驾车")
    assert q > 0.1 and q > 20 * none


def test_evidence_names_the_description_and_the_cue(resources, dense_text):
    a, tags = _tags(resources, dense_text, comments=[("考研复习的时候天天单曲循环这首歌", 3)])
    assert [t.tag for t in tags["scene"]] == ["学习"]
    ev = tags["scene"][0].evidence[0]
    assert ev["source"] == "comments" and ev["by"] == "text model + lexicon"
    assert ev["cue"] in ("考研", "复习") and ev["description"] and ev["q"] > 0.5


def test_like_weighting_and_boilerplate_discount(resources, dense_text):
    """One liked night comment among boilerplate outweighs them; boilerplate alone tags nothing."""
    spam = [("打卡", 0), ("前排", 0), ("沙发", 0), ("第一", 0)] * 5
    _, alone = _tags(resources, dense_text, comments=spam)
    assert not any(alone[d] for d in ("scene", "emotion", "theme"))
    night = [("深夜一个人睡不着，戴着耳机听这首歌到凌晨", 5000)]
    _, mixed = _tags(resources, dense_text, comments=spam + night)
    assert "夜晚" in [t.tag for t in mixed["scene"]]
    _, unliked = _tags(resources, dense_text, comments=spam * 5 + [(night[0][0], 0)])
    liked_score = next(t.score for t in mixed["scene"] if t.tag == "夜晚")
    unliked_scores = [t.score for t in unliked["scene"] if t.tag == "夜晚"]
    assert not unliked_scores or unliked_scores[0] < liked_score


def test_lexicon_path_unchanged_without_a_model(resources):
    a = analyse_text(title="", artist="", comments=[(PAINT, 0)], resources=resources)
    assert [e.cue for e in a.evidence if e.dimension == "theme"] == ["钢琴"]
    assert all("by" not in e.detail for e in a.evidence if e.dimension == "theme")


def test_no_dense_text_for_an_english_only_model(minilm_text_encoder, resources):
    from songlens.catalog.text_model import build_dense_text

    assert build_dense_text(minilm_text_encoder, resources) is None  # MiniLM: lexicons alone


def test_calibration_must_fit_the_descriptions(resources, use_text_encoder):
    from songlens.content.tagging.text_zero_shot import TagDescriptions, TextTagCalibration

    desc = TagDescriptions({"scene": {t: (t,) for t in resources.taxonomy.tags["scene"]}})
    cal = TextTagCalibration(model="use-multilingual-v3", weights={},
                             intercepts={"scene": 0.0, "emotion": 0.0},
                             operating_point={"scene": 0.5, "emotion": 0.5})
    with pytest.raises(ConfigError, match=r"scores \['emotion'\]"):
        TextTagger(desc, encode=use_text_encoder.encode_queries, model="use-multilingual-v3",
                   calibration=cal)
