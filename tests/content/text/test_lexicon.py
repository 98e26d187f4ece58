from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from songlens.content.taxonomy import DIMENSIONS, config_path
from songlens.content.text.lexicon import aggregate_hits, load_lexicon, match_line
from songlens.errors import ConfigError


@pytest.fixture(scope="module")
def hits(resources):
    """Cue hits of one line, as the analysis computes them."""
    def run(line):
        return match_line(line, resources.tokenizer.segment(line), lexicon=resources.lexicon)
    return run


@pytest.fixture(scope="module")
def lyric_evidence(hits):
    def run(lines):
        return aggregate_hits([(hits(line), 1.0) for line in lines], source="lyrics")
    return run


def test_every_taxonomy_tag_has_cues(resources):
    covered = {(c.dimension, c.tag) for c in resources.lexicon.cues}
    tax = resources.taxonomy
    assert covered == {(d, t) for d in DIMENSIONS for t in tax.tags[d]}


def test_study_lyrics_give_study_scene_with_cue(lyric_evidence):
    ev = lyric_evidence(["考研的日子 每天在图书馆自习到深夜"])
    study = [e for e in ev if (e.dimension, e.tag) == ("scene", "学习")]
    assert {e.cue for e in study} >= {"考研", "自习", "图书馆"}
    assert all(e.source == "lyrics" for e in study)


def test_negation_cancels_sadness(lyric_evidence):
    neg = [e for e in lyric_evidence(["我不难过 真的"]) if e.tag == "伤感"]
    pos = [e for e in lyric_evidence(["我很难过 真的"]) if e.tag == "伤感"]
    assert pos and pos[0].p > 0.5
    assert not neg


def test_negation_stops_at_punctuation(lyric_evidence):
    ev = lyric_evidence(["我不说，难过也是一种生活"])
    assert any(e.tag == "伤感" for e in ev)


def test_english_cues_and_negation(hits):
    by_cue = {h.cue.text: h.negated for h in hits("Don't cry for me, let's go to the gym")}
    assert by_cue["cry"] is True
    assert by_cue["gym"] is False
    assert any(h.cue.text == "heartbreak" for h in hits("Heartbreak hotel"))


def test_multiword_english_cue_and_one_token_negation(hits):
    assert any(h.cue.text == "road trip" for h in hits("a long road trip tonight"))
    found = hits("今天不开心")
    assert found and all(h.negated for h in found if h.cue.text == "开心")


def test_repeated_lines_saturate(hits, lyric_evidence):
    once = lyric_evidence(["跑步"])[0].p
    thrice = aggregate_hits([(hits("跑步"), 3.0)], source="lyrics")[0].p
    assert once < thrice <= 1.0


def test_bad_lexicon_folder_raises(tmp_path: Path, resources):
    for f in config_path("lexicons").glob("*.yaml"):
        shutil.copy(f, tmp_path / f.name)
    text = (tmp_path / "scene.yaml").read_text(encoding="utf-8")
    (tmp_path / "scene.yaml").write_text(text.replace("  酒吧:", "  酒馆:"), encoding="utf-8")
    with pytest.raises(ConfigError, match="no cues for scene tags"):
        load_lexicon(str(tmp_path), taxonomy=resources.taxonomy)
