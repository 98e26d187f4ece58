from __future__ import annotations

import pytest

from songlens.content.text.clean import clean_lyrics
from songlens.content.text.language import (
    cantonese_probability,
    catalogue_language,
    detect_language,
)
from songlens.content.text.scripts import HAN_CHAR


@pytest.fixture(scope="module")
def detect(resources):
    def run(text, **kwargs):
        return detect_language(text, cantonese=resources.cantonese, **kwargs)
    return run


@pytest.fixture(scope="module")
def p_cantonese(resources):
    def run(text):
        return cantonese_probability(text, model=resources.cantonese)
    return run


@pytest.mark.parametrize(("text", "expected"), [
    ("夜空中最亮的星 能否听清 那仰望的人 心底的孤独和叹息", "华语"),
    ("我哋一齊行落去 你唔好再喊喇 佢話今晚唔返嚟", "粤语"),
    ("我而家好攰 唔想再講嘢 你點解仲係咁", "粤语"),
    ("Is this the real life? Is this just fantasy? Caught in a landslide", "欧美"),
    ("君の名前を呼んだ 夜空に響くように 忘れないで", "日语"),
    ("사랑해요 너무 보고 싶어요 오늘 밤에", "韩语"),
])
def test_primary_language(text, expected, detect):
    assert detect(text).primary == expected


def test_traditional_mandarin_without_markers_is_mandarin(detect, resources):
    cl = clean_lyrics("我們的愛情 還在這裡 時間會證明一切 關係再也回不去", t2s=resources.t2s)
    res = detect(cl.original)
    assert res.primary == "华语"
    assert res.scores.get("粤语", 0.0) < 0.3


@pytest.mark.parametrize("line", [
    # PyCantonese's CTCPC and Common Voice zh-HK sentences (CC0): none of the hand-written markers
    # (嘅 唔 咗 佢 …) decides these; the learnt n-grams (出街, 食飯, 好耐, 掛住) do
    "出街食飯女仔老奉要男友出錢。",
    "好耐無去上環光漢台探舅父",
    "套戲令我發現我好掛住劇集",
    "今年過年，人人都著得好光鮮",
])
def test_cantonese_without_hand_written_markers(line, detect):
    assert detect(line).primary == "粤语"


def test_script_is_not_evidence_either_way(p_cantonese):
    # the same Cantonese line in simplified script, the same Mandarin line in traditional
    assert p_cantonese("出街食饭女仔老奉要男友出钱。") > 0.5
    assert p_cantonese("一不小心把盛滿水的杯子打翻了") < 0.5
    # nothing to go on: the prior (a Chinese catalogue is mostly Mandarin) decides
    assert p_cantonese("春天") < 0.5


def test_guanxi_is_not_a_cantonese_marker(resources):
    def marker_density(text):  # marker weight per Han character
        return resources.cantonese.features(text)[2] / len(HAN_CHAR.findall(text))

    assert marker_density("關係") == 0.0
    assert marker_density("你係邊個") > 0.3


def test_one_english_word_does_not_outvote_a_chinese_line(detect):
    # Han characters are split between 华语 and 粤语 by probability; the script decides first
    res = detect("今晚聽 Hey Jude 好正")
    assert res.scores["欧美"] > max(res.scores["粤语"], res.scores["华语"])
    assert res.primary in ("粤语", "华语")


def test_mixed_language_primary_plus_others(detect):
    text = "我想你想到天亮 baby I miss you so much tonight 回不去的从前 只剩下我一个"
    res = detect(text)
    assert res.primary == "华语"
    assert "欧美" in res.scores and 0.2 < res.scores["欧美"] < 0.6
    assert abs(sum(res.scores.values()) - 1.0) < 0.05


def test_instrumental_when_no_lyrics_and_audio_says_so(detect):
    assert detect("", audio_instrumental=0.9).primary == "纯音乐"
    assert detect(None).primary is None
    assert detect("", audio_instrumental=0.2).primary is None


@pytest.mark.parametrize("line", [
    "爱你一万年", "你是我的眼 带我领略四季的变换", "后来 我总算学会了如何去爱",
    "这首歌 really makes me cry 每次听都想起你", "都过去了 别哭", "他们都说我傻",
    # chatterbot-corpus 1.3.3 (BSD-3-Clause), traditionalchinese/conversations.yml
    "早上好，你好嗎? 我挺好的，你呢", "我能幫你什麼嗎? 是的，我有個問題.",
])
def test_short_conversational_mandarin_stays_mandarin(line, detect):
    # the common case (listener comments, Mandarin pop lines): an n-gram model trained only on
    # formal Mandarin read 你/都/听 as Cantonese here; wordfreq's conversational counts fix it
    assert detect(line).primary == "华语"


def test_lines_that_are_also_cantonese_read_mandarin_in_a_mandarin_lyric_sheet(
        detect, p_cantonese):
    # 我好想你啊 is good Cantonese as well as Mandarin: alone it is a coin toss (p ≈ 0.7 粤语),
    # among other Mandarin lines of the same song the song reads 华语
    assert 0.3 < p_cantonese("我好想你啊") < 0.9
    sheet = "我好想你啊\n爱你一万年\n后来 我总算学会了如何去爱\n都过去了 别哭"
    assert detect(sheet).primary == "华语"


@pytest.mark.parametrize(("value", "tag"), [
    ("粤语", "粤语"), ("yue", "粤语"), ("zh-HK", "粤语"), ("zh_Hant_HK", "粤语"),
    ("Cantonese", "粤语"),
    ("zh", "华语"), ("zh-TW", "华语"), ("cmn-Hans-CN", "华语"), ("国语", "华语"), ("chi", "华语"),
    ("en-US", "欧美"), ("eng", "欧美"), ("fr", "欧美"), ("ja", "日语"), ("KOR", "韩语"),
    ("zxx", "纯音乐"), ("Instrumental", "纯音乐"),
    ("tlh", None), ("", None), (None, None), ("-", None),
])
def test_catalogue_language_codes(value, tag):
    assert catalogue_language(value) == tag


def test_line_languages_keeps_the_sung_order_and_tags_each_line(resources):
    from songlens.content.text.language import line_languages

    text = "深夜一个人在图书馆自习\nI miss you every night\n我哋今日唔返屋企\n\n2024\n夜空ノムコウ"
    lines = line_languages(text, cantonese=resources.cantonese)
    assert lines == [{"text": "深夜一个人在图书馆自习", "language": "华语"},
                     {"text": "I miss you every night", "language": "欧美"},
                     {"text": "我哋今日唔返屋企", "language": "粤语"},
                     {"text": "2024", "language": None},
                     {"text": "夜空ノムコウ", "language": "日语"}]
    long = line_languages("啊" * 400 + "\n" + "\n".join(["la la"] * 600),
                          cantonese=resources.cantonese, max_lines=3, max_chars=10)
    assert [x["text"] for x in long] == ["啊" * 9 + "…", "la la", "la la"]
