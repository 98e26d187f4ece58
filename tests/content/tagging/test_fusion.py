from __future__ import annotations

import pytest

from songlens.content.tagging.fusion import (
    FusionConfig,
    fuse_tags,
    load_fusion_config,
    metadata_evidence,
)
from songlens.content.taxonomy import DIMENSIONS, Evidence, config_path
from songlens.errors import ConfigError

CFG = FusionConfig(weights={"audio": 1.0, "lyrics": 0.5, "comments": 0.8, "default": 0.5},
                   thresholds={d: 0.1 for d in DIMENSIONS}, top_k={d: 3 for d in DIMENSIONS})


def test_noisy_or_known_answer(resources):
    ev = [Evidence("scene", "学习", "lyrics", "考研", 0.6),
          Evidence("scene", "学习", "lyrics", "自习", 0.5),
          Evidence("scene", "学习", "comments", "图书馆", 0.5)]
    out = fuse_tags(ev, resources=resources, config=CFG)
    lyrics = 1 - (1 - 0.6) * (1 - 0.5)  # 0.8
    expected = 1 - (1 - 0.5 * lyrics) * (1 - 0.8 * 0.5)
    assert out["scene"][0].score == pytest.approx(expected)


def test_all_dimensions_present_sorted_with_evidence(resources):
    ev = [Evidence("emotion", "伤感", "audio", "sad", 0.7),
          Evidence("emotion", "Happy", "comments", "开心", 0.3),
          Evidence("emotion", "伤感", "lyrics", "眼泪", 0.4),
          Evidence("emotion", "孤独", "lyrics", "孤单", 0.9)]
    out = fuse_tags(ev, resources=resources, config=CFG)
    assert set(out) == set(DIMENSIONS) and out["style"] == []
    emo = out["emotion"]
    assert [t.tag for t in emo] == ["伤感", "孤独", "快乐"]
    assert [t.score for t in emo] == sorted((t.score for t in emo), reverse=True)
    assert emo[0].evidence[0] == {"source": "audio", "cue": "sad", "p": 0.7}
    assert {e["source"] for e in emo[0].evidence} == {"audio", "lyrics"}
    assert emo[2].en == "Happy"


def test_threshold_top_k_and_bad_evidence(resources):
    ev = [Evidence("theme", t, "audio", t, p) for t, p in
          [("钢琴", 0.9), ("吉他", 0.8), ("器乐", 0.7), ("经典", 0.6), ("KTV", 0.05)]]
    ev += [Evidence("theme", "不存在", "audio", "x", 0.9), Evidence("theme", "儿童", "audio", "x",
                                                                     float("nan"))]
    out = fuse_tags(ev, resources=resources, config=CFG, top_k={"theme": 2})
    assert [t.tag for t in out["theme"]] == ["钢琴", "吉他"]
    out = fuse_tags(ev, resources=resources, config=CFG, threshold=0.65)
    assert [t.tag for t in out["theme"]] == ["钢琴", "吉他", "器乐"]


def test_source_weights_override(resources):
    ev = [Evidence("style", "摇滚", "lyrics", "摇滚", 1.0)]
    out = fuse_tags(ev, resources=resources, config=CFG, weights={"lyrics": 0.2}, threshold=0.0)
    assert out["style"][0].score == pytest.approx(0.2)


def test_shipped_config_loads():
    cfg = load_fusion_config(config_path("fusion.yaml"))
    assert set(cfg.thresholds) == set(DIMENSIONS) and 0 < cfg.weights["audio"] <= 1


def test_bad_config_raises(tmp_path):
    p = tmp_path / "fusion.yaml"
    p.write_text("weights: {audio: 3}\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="must be in"):
        load_fusion_config(str(p))


@pytest.mark.parametrize(("title", "album", "tag"), [
    ("光年之外 (电影《太空旅客》中文主题曲)", None, "影视原声"),
    ("後來 (Live)", None, "综艺"),
    ("晴天 (钢琴版)", None, "钢琴"),
    ("Someone Like You (Cover Adele)", None, "翻唱"),
    ("稻香", "稻香 伴奏", "器乐"),
    ("红色高跟鞋 (DJ版)", None, "舞曲"),
    ("Summer", "菊次郎的夏天 Original Soundtrack", "影视原声"),
])
def test_metadata_cues(title, album, tag):
    ev = metadata_evidence(title, album, "someone")
    assert any(e.tag == tag and e.source == "metadata" for e in ev), ev


def test_plain_title_gives_no_metadata_evidence():
    assert metadata_evidence("稻香", None, "周杰伦") == []
