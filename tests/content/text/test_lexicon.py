from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from songlens.content.taxonomy import config_path, load_taxonomy
from songlens.content.text.lexicon import aggregate_hits, load_lexicon, match_line
from songlens.errors import ConfigError


def _evidence(lines):
    return aggregate_hits([(match_line(line), 1.0) for line in lines], source="lyrics")


def test_every_taxonomy_tag_has_cues():
    lex = load_lexicon()
    tax = load_taxonomy()
    assert lex.tags_covered() == set(tax.all_tags())


def test_study_lyrics_give_study_scene_with_cue():
    ev = _evidence(["考研的日子 每天在图书馆自习到深夜"])
    study = [e for e in ev if (e.dimension, e.tag) == ("scene", "学习")]
    assert {e.cue for e in study} >= {"考研", "自习", "图书馆"}
    assert all(e.source == "lyrics" for e in study)


def test_negation_cancels_sadness():
    neg = [e for e in _evidence(["我不难过 真的"]) if e.tag == "伤感"]
    pos = [e for e in _evidence(["我很难过 真的"]) if e.tag == "伤感"]
    assert pos and pos[0].p > 0.5
    assert not neg


def test_negation_stops_at_punctuation():
    ev = _evidence(["我不说，难过也是一种生活"])
    assert any(e.tag == "伤感" for e in ev)


def test_english_cues_and_negation():
    hits = match_line("Don't cry for me, let's go to the gym")
    by_cue = {h.cue.text: h.negated for h in hits}
    assert by_cue["cry"] is True
    assert by_cue["gym"] is False
    assert any(h.cue.text == "heartbreak" for h in match_line("Heartbreak hotel"))


def test_multiword_english_cue_and_one_token_negation():
    assert any(h.cue.text == "road trip" for h in match_line("a long road trip tonight"))
    hits = match_line("今天不开心")
    assert hits and all(h.negated for h in hits if h.cue.text == "开心")


def test_repeated_lines_saturate():
    once = _evidence(["跑步"])[0].p
    thrice = aggregate_hits([(match_line("跑步"), 3.0)], source="lyrics")[0].p
    assert once < thrice <= 1.0


def test_bad_lexicon_folder_raises(tmp_path: Path):
    for f in config_path("lexicons").glob("*.yaml"):
        shutil.copy(f, tmp_path / f.name)
    text = (tmp_path / "scene.yaml").read_text(encoding="utf-8")
    (tmp_path / "scene.yaml").write_text(text.replace("  酒吧:", "  酒馆:"), encoding="utf-8")
    with pytest.raises(ConfigError, match="no cues for scene tags"):
        load_lexicon(str(tmp_path))
