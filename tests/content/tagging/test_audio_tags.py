"""musicnn tags → taxonomy evidence: the shipped mapping, calibration, and real clips."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from songlens.content.musicnn import MusicnnTagger
from songlens.content.musicnn.tagger import MODELS, musicnn_labels
from songlens.content.tagging.audio_tags import AudioTagMapping, audio_evidence
from songlens.errors import ConfigError

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "musicnn"


@pytest.fixture(scope="session")
def mapping(resources) -> AudioTagMapping:
    return resources.audio_tags


def _targets(mapping, model, cue):
    return {(d, t) for d, t, _ in mapping.targets[model][cue]}


def test_shipped_mapping_points_at_the_right_tags(mapping):
    assert ("emotion", "伤感") in _targets(mapping, "MSD_musicnn", "sad")
    assert ("style", "说唱") in _targets(mapping, "MSD_musicnn", "Hip-Hop")
    assert _targets(mapping, "MSD_musicnn", "instrumental") == {("theme", "器乐")}
    # 纯音乐 comes from the voice detector alone (tagging/voice.py), not from one tag
    assert not any(d == "language" for cues in mapping.targets.values()
                   for ts in cues.values() for d, _, _ in ts)
    assert ("theme", "钢琴") in _targets(mapping, "MTT_musicnn", "piano")
    assert ("theme", "吉他") in _targets(mapping, "MTT_musicnn", "guitar")
    assert ("emotion", "放松") in _targets(mapping, "MSD_musicnn", "chill")
    assert {("style", "舞曲"), ("scene", "酒吧")} <= _targets(mapping, "MSD_musicnn", "party")
    # decades of music are not listener generations
    for era in ("60s", "70s", "80s", "90s"):
        assert not {t for _, t in _targets(mapping, "MSD_musicnn", era)} & {"70后", "80后", "90后"}
        assert all(w <= 0.5 for *_, w in mapping.targets["MSD_musicnn"][era])


def test_reference_quantiles_cover_every_tag(mapping):
    for model in MODELS:
        assert set(mapping.quantiles[model]) == set(musicnn_labels(model))
        for q in mapping.quantiles[model].values():
            assert np.all(np.diff(q) >= 0) and 0 <= q[0] and q[-1] <= 1


def test_calibration_is_a_prior_shift(mapping):
    c = mapping.calibration
    for model, cue in (("MSD_musicnn", "rock"), ("MSD_musicnn", "sad"), ("MTT_musicnn", "piano")):
        base = min(max(mapping.base_rate(model, cue), c.base_floor), c.base_cap)
        assert mapping.calibrate(model, cue, base) == pytest.approx(c.target_prior, abs=1e-6)
        ps = [mapping.calibrate(model, cue, r) for r in (0.01, 0.1, 0.3, 0.6, 0.9)]
        assert ps == sorted(ps) and ps[-1] > 0.5
        # odds 9x the base odds → odds 9x the target prior's
        odds = 9 * base / (1 - base)
        p = mapping.calibrate(model, cue, odds / (1 + odds))
        assert p / (1 - p) == pytest.approx(9 * c.target_prior / (1 - c.target_prior), rel=1e-4)


def test_evidence_from_tag_probs(mapping):
    probs = {"MSD_musicnn": {"metal": 0.9, "sad": 0.01, "female vocalists": 0.5},
             "MTT_musicnn": {"piano": 0.8},
             "unknown_model": {"metal": 1.0}}
    ev = audio_evidence(probs, mapping=mapping)
    assert [e.p for e in ev] == sorted((e.p for e in ev), reverse=True)
    assert all(e.source == "audio" for e in ev)
    metal = [e for e in ev if e.cue == "metal"]
    assert {(e.dimension, e.tag) for e in metal} == _targets(mapping, "MSD_musicnn", "metal")
    top = next(e for e in metal if e.tag == "金属")
    assert top.detail["model"] == "MSD_musicnn" and top.detail["raw"] == 0.9
    assert top.p == pytest.approx(mapping.calibrate("MSD_musicnn", "metal", 0.9))
    assert any(e.tag == "钢琴" and e.detail["model"] == "MTT_musicnn" for e in ev)
    assert not any(e.cue in ("sad", "female vocalists") for e in ev)  # too weak / unmapped
    assert audio_evidence({}, mapping=mapping) == []
    assert audio_evidence({"MSD_musicnn": {"metal": math.nan}}, mapping=mapping) == []


def test_bad_mappings_are_config_errors(resources):
    labels = {m: musicnn_labels(m) for m in MODELS}
    tax = resources.taxonomy
    with pytest.raises(ConfigError,
                       match="'hip hop', which is not a MSD_musicnn tag; allowed: rock"):
        AudioTagMapping({"mapping": {"MSD_musicnn": {"hip hop": [["style", "说唱", 1.0]]}}},
                        taxonomy=tax, labels=labels)
    with pytest.raises(ConfigError, match="MSD_musicnn/rock: unknown style tag '摇摆'"):
        AudioTagMapping({"mapping": {"MSD_musicnn": {"rock": [["style", "摇摆", 1.0]]}}},
                        taxonomy=tax, labels=labels)
    with pytest.raises(ConfigError, match="weight must be in"):
        AudioTagMapping({"mapping": {"MSD_musicnn": {"rock": [["style", "Rock", 2]]}}},
                        taxonomy=tax, labels=labels)
    with pytest.raises(ConfigError, match="target_prior must be in"):
        AudioTagMapping({"calibration": {"target_prior": 1.5}}, taxonomy=tax)


@pytest.mark.parametrize(("clip", "expected"), [
    ("metal_muldjord_chaos_god", "金属"),
    ("strings_wesnoth_traveling_minstrels", "古典"),
])
def test_real_clips_get_the_right_style(mapping, clip, expected):
    y, _ = sf.read(FIXTURES / f"{clip}.wav", dtype="float32")
    probs = {m: MusicnnTagger(m).analyse(y).tag_probs() for m in MODELS}
    styles = [e for e in audio_evidence(probs, mapping=mapping) if e.dimension == "style"]
    assert styles and styles[0].tag == expected
