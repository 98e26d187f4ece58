from __future__ import annotations

from songlens.content.tagging.fusion import fuse_tags
from songlens.content.text.analyse import analyse_text
from songlens.content.text.vectors import token_index

LYRICS = """[00:10.00]考研的夜晚 图书馆的灯还亮着
[00:15.00]自习室里 我写下梦想
[00:20.00][01:00.00]我不难过 因为明天会更好
作词：某人
"""


def test_analyse_text_end_to_end(resources):
    comments = [("考研上岸了！每天自习都听这首", 500), ("打卡", 2000), ("前排", 0),
                ("图书馆必备", 30), ("😭😭😭", 100)]
    a = analyse_text(title="自习室", artist="某乐队", album="青春纪念", lyrics=LYRICS,
                     comments=comments, resources=resources)
    assert a.language.primary == "华语"
    study = [e for e in a.evidence if e.tag == "学习"]
    assert {e.source for e in study} >= {"lyrics", "comments"}
    assert any(e.cue == "考研" for e in study)
    assert not any(e.tag == "伤感" and e.cue == "难过" for e in a.evidence)
    assert "考研" in a.tokens and "某人" not in a.tokens
    assert a.sparse[0] and token_index("考研") in a.sparse[0]
    assert "考研" in a.keywords
    assert a.dense_text.startswith("自习室 - 某乐队")
    assert "打卡" not in a.dense_text
    assert a.cjk_share > 0.9 and -1.0 <= a.sentiment <= 1.0
    tags = fuse_tags(a.evidence, resources=resources)
    assert tags["scene"][0].tag == "学习"
    assert tags["language"][0].tag == "华语"


def test_analyse_text_without_lyrics_or_comments(resources):
    a = analyse_text(title="River Flows in You (Piano Version)", artist="Yiruma", album=None,
                     lyrics=None, comments=[], audio_instrumental=0.95, resources=resources)
    assert a.language.primary == "纯音乐"
    assert any(e.tag == "钢琴" and e.source == "metadata" for e in a.evidence)
    assert a.sentiment == 0.0


def test_sentiment_sign(resources):
    happy = analyse_text(title="x", artist="y", lyrics="今天好开心 好快乐 阳光灿烂", comments=[],
                         resources=resources)
    sad = analyse_text(title="x", artist="y", lyrics="失恋的夜 眼泪 心碎 好难过", comments=[],
                       resources=resources)
    assert happy.sentiment > 0.2 > -0.2 > sad.sentiment


def test_who_decides_the_primary_language(resources):
    formal = "明天的路 我们一起走过\n风雨之中 你给我温暖"
    lyrics_only = analyse_text(title="明天", artist="x", lyrics=formal, resources=resources)
    assert (lyrics_only.language.primary, lyrics_only.language.source) == ("华语", "lyrics")
    # a version marker in the title beats the lyrics ...
    version = analyse_text(title="明天 (粤语版)", artist="x", lyrics=formal, resources=resources)
    assert (version.language.primary, version.language.source) == ("粤语", "title")
    assert version.language.scores == lyrics_only.language.scores  # still what the lyrics say
    # ... and the catalogue beats both
    told = analyse_text(title="明天 (粤语版)", artist="x", lyrics=formal, catalogue_language="华语",
                        resources=resources)
    assert (told.language.primary, told.language.source) == ("华语", "catalogue")
    assert fuse_tags(told.evidence, resources=resources)["language"][0].tag == "华语"
