from __future__ import annotations

import pytest

from songlens.content.text.clean import (
    MAX_TEXT_CHARS,
    clean_comment,
    clean_lyrics,
    normalise_unicode,
    to_simplified,
)


@pytest.fixture(scope="module")
def t2s(resources):
    return resources.t2s

LRC = """[ti:晴天]
[ar:周杰伦]
[al:叶惠美]
[by:someone]
[offset:500]
[00:00.00]作词：方文山
[00:01.00]作曲 : 周杰伦
[00:02.00]编曲：钟兴民
[00:03.00]Producer: Jay Chou
[00:04.00]混音:某人
[00:29.36][01:45.20][02:50.10]故事的小黄花
[00:32.00]从出生那年就飘着
[01:48.00]童年的荡秋千
"""


def test_lrc_timestamps_tags_and_credits_are_removed(t2s):
    cl = clean_lyrics(LRC, t2s=t2s)
    assert cl.lines == ["故事的小黄花", "从出生那年就飘着", "童年的荡秋千"]
    assert "[" not in cl.text and "方文山" not in cl.text and "Producer" not in cl.text


def test_multi_stamp_line_counts_as_repeats_and_chorus_folds(t2s):
    text = LRC + "[03:00.00]故事的小黄花\n故事的小黄花！\n"
    cl = clean_lyrics(text, t2s=t2s)
    assert cl.counts[cl.lines.index("故事的小黄花")] == 3  # one line, then two more repeats
    assert len(cl.lines) == len(cl.counts) == 3


def test_enhanced_lrc_word_stamps_and_html_entities(t2s):
    cl = clean_lyrics("[00:01.00]<00:01.00>Rock &amp; <00:01.50>roll&#33; &quot;yeah&quot;",
                      t2s=t2s)
    assert cl.lines == ['Rock & roll! "yeah"']


def test_emoji_and_symbols_removed_text_kept(t2s):
    assert clean_comment("太好听了😭😭👍🏻 ❤️单曲循环", t2s=t2s) == "太好听了 单曲循环"
    assert clean_comment("[大哭][流泪]", t2s=t2s) == "大哭 流泪"


def test_traditional_converted_and_flagged(t2s):
    cl = clean_lyrics("我們的愛情 還在這裡\n時間會證明一切", t2s=t2s)
    assert cl.was_traditional
    assert cl.lines == ["我们的爱情 还在这里", "时间会证明一切"]
    assert cl.original.startswith("我們的愛情")
    simple = clean_lyrics("我们的爱情还在这里\n时间会证明一切", t2s=t2s)
    assert not simple.was_traditional


def test_japanese_kanji_are_not_converted(t2s):
    out, trad = to_simplified("愛している 時間がない", t2s=t2s)
    assert out == "愛している 時間がない" and not trad


def test_odd_unicode_does_not_crash(t2s):
    zw = "我\u200b爱\u200d你\u2060"
    assert normalise_unicode(zw) == "我爱你"
    rtl = "\u202e你好\u202c\u200f世界"
    assert normalise_unicode(rtl) == "你好世界"
    zalgo = "e" + "\u0301" * 30 + "x"
    assert normalise_unicode(zalgo) == "éx"
    lone = "前\ud800后\udfff"
    assert normalise_unicode(lone) == "前后"
    assert clean_lyrics("\ud83d\n\u0000\x1b[31m红色\n", t2s=t2s).lines == ["[31m红色"]
    assert clean_comment(None, t2s=t2s) == "" and clean_lyrics("", t2s=t2s).lines == []


def test_very_long_input_is_cut(t2s):
    cl = clean_lyrics("一二三四五六七八九十\n" * 10_000 + "尾巴", t2s=t2s)
    assert cl.counts == [MAX_TEXT_CHARS // 11 + 1] or cl.counts[0] > 1000
    assert "尾巴" not in cl.text


def test_fullwidth_normalised_and_boilerplate_lines_dropped(t2s):
    cl = clean_lyrics("ＨＥＬＬＯ　世界\n未经著作权人许可 不得翻唱 翻录或使用\n纯音乐，请欣赏",
                      t2s=t2s)
    assert cl.lines == ["HELLO 世界"]
