"""Instruments and voice from musicnn taggrams whose answer is known by construction, and the
纯音乐 decision taken from the audio's voice, not from an empty lyrics field."""

from __future__ import annotations

import numpy as np
import pytest

from songlens.content.musicnn.tagger import MODELS, musicnn_labels
from songlens.content.tagging.instruments import detect_instruments, instrument_evidence
from songlens.content.tagging.voice import detect_voice
from songlens.content.text.analyse import analyse_text
from songlens.errors import UnknownTag

N = 8
HOP = 3.0


@pytest.fixture(scope="module")
def labels():
    return {m: musicnn_labels(m) for m in MODELS}


def taggram(labels, resources, high: dict[str, tuple[float, slice]]):
    """Every tag at its lowest reference quantile (music that does not have it), the tags in
    ``high`` at a value over some patches."""
    mapping = resources.audio_tags
    out = {}
    for m, names in labels.items():
        g = np.zeros((N, len(names)), np.float32)
        for j, t in enumerate(names):
            q = mapping.quantiles.get(m, {}).get(t)
            g[:, j] = q[0] if q is not None else 0.01
            if t in high:
                value, where = high[t]
                g[where, j] = value
        out[m] = g
    return out


def test_instruments_named_with_zh_en_score_and_where_they_play(labels, resources):
    vocab = resources.instruments
    grams = taggram(labels, resources, {"piano": (0.9, slice(0, 5)), "flute": (0.7, slice(4, 8))})
    found = {i.name: i for i in detect_instruments(grams, labels, vocabulary=vocab, hop_s=HOP)}
    assert set(found) == {"piano", "flute"}
    piano = found["piano"].to_dict()
    assert (piano["zh"], piano["en"]) == ("钢琴", "piano")
    assert found["flute"].zh == "长笛"
    assert piano["timeline"]["segments"] == [[0.0, 15.0]]  # patches 0-4, 3 s apart
    assert len(piano["timeline"]["values"]) == N
    assert found["flute"].timeline["segments"] == [[12.0, 24.0]]
    assert piano["evidence"][0]["cue"] == "piano" and piano["evidence"][0]["source"] == "audio"
    # nothing high: nothing named
    assert detect_instruments(taggram(labels, resources, {}), labels, vocabulary=vocab,
                              hop_s=HOP) == []
    # 主题: 钢琴 from the piano; 器乐 only as strong as the absence of a voice
    ev = instrument_evidence(found.values(), vocabulary=vocab, voice_probability=0.9)
    tags = {(e.tag, e.source) for e in ev}
    assert ("钢琴", "instruments") in tags
    strongest = max(i.score for i in found.values())
    assert max(e.p for e in ev if e.tag == "器乐") <= 0.1 * strongest + 1e-9
    assert vocab.get("钢琴").name == vocab.get("Piano").name == "piano"
    with pytest.raises(UnknownTag, match="unknown instrument 'erhu'"):
        vocab.get("erhu")
    assert "erhu" in vocab.unnamed and vocab.unnamed["guzheng"]["zh"] == "古筝"


def test_voice_from_vocal_and_no_vocal_outputs(labels, resources):
    vocab = resources.instruments
    sung = taggram(labels, resources, {"singing": (0.6, slice(2, 8)), "vocals": (0.5, slice(2, 8)),
                                       "no vocals": (0.01, slice(0, 8))})
    v = detect_voice(sung, labels, vocabulary=vocab, hop_s=HOP)
    assert v.present and v.probability > 0.8
    assert v.timeline["segments"] == [[6.0, 24.0]] and v.share == pytest.approx(0.75)
    bare = taggram(labels, resources, {"no vocals": (0.5, slice(0, 8)),
                                       "no voice": (0.3, slice(0, 8))})
    w = detect_voice(bare, labels, vocabulary=vocab, hop_s=HOP)
    assert not w.present and w.probability < 0.3 and w.timeline["segments"] == []
    assert detect_voice({}, labels, vocabulary=vocab, hop_s=HOP) is None


def test_no_lyrics_with_a_voice_is_not_instrumental(resources):
    voice = {"probability": 0.92, "present": True,
             "evidence": {"source": "audio", "cue": "voice", "vocal_share": 0.8}}
    sung = analyse_text(title="Untitled", artist="Someone", lyrics=None, comments=[],
                        voice=voice, resources=resources)
    assert sung.language.primary is None
    assert not [e for e in sung.evidence if e.tag == "纯音乐"]
    silent = analyse_text(title="Untitled", artist="Someone", lyrics=None, comments=[],
                          voice={**voice, "probability": 0.08, "present": False,
                                 "evidence": {"source": "audio", "cue": "no voice",
                                              "vocal_share": 0.0}},
                          resources=resources)
    assert silent.language.primary == "纯音乐"
    (ev,) = [e for e in silent.evidence if e.tag == "纯音乐"]
    assert (ev.source, ev.cue) == ("audio", "no voice")
    assert ev.p == pytest.approx(0.92) and ev.detail["voice_probability"] == 0.08
    # lyrics stay evidence for the language once there is a voice
    worded = analyse_text(title="x", artist="y", lyrics="我想你 想到天亮", comments=[],
                          voice=voice, resources=resources)
    assert worded.language.primary == "华语"
    assert {(e.source, e.cue) for e in worded.evidence if e.dimension == "language"} == {
        ("lyrics", "script")}
