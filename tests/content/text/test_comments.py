from __future__ import annotations

import math

import pytest

from songlens.content.text.comments import (
    boilerplate_discount,
    comment_weight,
    comments_evidence,
    weigh_comments,
)
from songlens.content.text.lexicon import match_line


@pytest.fixture(scope="module")
def weigh(resources):
    def run(comments):
        return weigh_comments(comments, t2s=resources.t2s)
    return run


@pytest.fixture(scope="module")
def evidence(resources):
    """Comment evidence with each comment's cue hits, as the analysis computes them."""
    def run(weighted):
        tk, lexicon = resources.tokenizer, resources.lexicon
        return comments_evidence(weighted, [match_line(c.text, tk.segment(c.text),
                                                       lexicon=lexicon) for c in weighted])
    return run


def test_likes_weight_has_diminishing_returns():
    assert comment_weight(0) == 1.0
    assert comment_weight(10_000) == 1.0 + math.log1p(10_000)
    assert comment_weight(100) - comment_weight(10) > comment_weight(1000) - comment_weight(100) - 1
    assert comment_weight(-5) == 1.0 and comment_weight("x") == 1.0  # type: ignore[arg-type]


def test_boilerplate_is_discounted():
    for text in ["打卡", "前排!", "沙发", "第一", "来了来了", "2023年还有人听", "哈哈哈哈"]:
        assert boilerplate_discount(text) <= 0.1, text
    assert boilerplate_discount("好") == 0.3
    assert boilerplate_discount("") == 0.0
    assert boilerplate_discount("高三的时候一直单曲循环这首歌给自己加油") == 1.0


def test_weigh_comments_collapses_near_duplicates_and_sorts(weigh):
    rows = [("这首歌陪我度过了考研的日子", 10), ("这首歌陪我度过了考研的日子!!", 5),
            ("这首歌陪我度过了考研的日子啊", 1), ("打卡", 1000), ("👍👍", 50),
            ("跑步的时候听特别带感", 3)]
    out = weigh(rows)
    texts = [c.text for c in out]
    assert sum("考研" in t for t in texts) == 1
    dup = next(c for c in out if "考研" in c.text)
    assert dup.merged == 3 and dup.likes == 16
    assert out[0].text.startswith("这首歌")  # informative beats boilerplate with more likes
    assert all(t for t in texts) and "👍👍" not in texts
    assert [c.weight for c in out] == sorted((c.weight for c in out), reverse=True)


def test_malformed_rows_are_skipped(weigh):
    out = weigh([("好听的歌适合夜跑", 1), ("x",), None, (3, 4), ("夜跑必备歌曲", None)])
    assert len(out) == 2


def test_comment_evidence_is_like_weighted_and_relative(weigh, evidence):
    many = [("考研自习必听", 0)] * 1 + [(f"今天天气不错第{i}天的心情记录", 0) for i in range(99)]
    few = weigh(many)
    p_one = max(e.p for e in evidence(few) if e.tag == "学习")
    liked = weigh([("考研自习必听", 20000)] + many[1:])
    p_liked = max(e.p for e in evidence(liked) if e.tag == "学习")
    ten = weigh([(f"考研自习必听{i}号选手报到" + "的" * i, 0) for i in range(10)]
                         + many[1:91])
    p_ten = max(e.p for e in evidence(ten) if e.tag == "学习")
    assert p_one < 0.25 < p_liked
    assert p_ten > 0.6
    ev = next(e for e in evidence(liked) if e.tag == "学习")
    assert ev.source == "comments" and "考研" in ev.detail["example"]
