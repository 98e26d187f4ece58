from __future__ import annotations

import pytest

from songlens.content.text.clean import clean_lyrics
from songlens.content.text.language import cantonese_marker_density, detect_language


@pytest.mark.parametrize(("text", "expected"), [
    ("夜空中最亮的星 能否听清 那仰望的人 心底的孤独和叹息", "华语"),
    ("我哋一齊行落去 你唔好再喊喇 佢話今晚唔返嚟", "粤语"),
    ("我而家好攰 唔想再講嘢 你點解仲係咁", "粤语"),
    ("Is this the real life? Is this just fantasy? Caught in a landslide", "欧美"),
    ("君の名前を呼んだ 夜空に響くように 忘れないで", "日语"),
    ("사랑해요 너무 보고 싶어요 오늘 밤에", "韩语"),
])
def test_primary_language(text, expected):
    assert detect_language(text).primary == expected


def test_traditional_mandarin_without_markers_is_mandarin():
    cl = clean_lyrics("我們的愛情 還在這裡 時間會證明一切 關係再也回不去")
    res = detect_language(cl.original, was_traditional=cl.was_traditional)
    assert res.primary == "华语"
    assert res.scores.get("粤语", 0.0) < 0.3


def test_guanxi_is_not_a_cantonese_marker():
    assert cantonese_marker_density("關係") == 0.0
    assert cantonese_marker_density("你係邊個") > 0.3


def test_mixed_language_primary_plus_others():
    text = "我想你想到天亮 baby I miss you so much tonight 回不去的从前 只剩下我一个"
    res = detect_language(text)
    assert res.primary == "华语"
    assert "欧美" in res.scores and 0.2 < res.scores["欧美"] < 0.6
    assert abs(sum(res.scores.values()) - 1.0) < 0.05


def test_instrumental_when_no_lyrics_and_audio_says_so():
    assert detect_language("", audio_instrumental=0.9).primary == "纯音乐"
    assert detect_language(None).primary is None
    assert detect_language("", audio_instrumental=0.2).primary is None


@pytest.mark.parametrize("line", [
    "我好想你啊", "爱你一万年", "你是我的眼 带我领略四季的变换", "后来 我总算学会了如何去爱",
    "这首歌 really makes me cry 每次听都想起你", "都过去了 别哭", "他们都说我傻",
])
def test_short_conversational_mandarin_stays_mandarin(line):
    # the common case (listener comments, Mandarin pop lines): a Cantonese model trained on
    # formal Mandarin corpora read 你/都/听 as Cantonese here and was not shipped for that reason
    assert detect_language(line).primary == "华语"
