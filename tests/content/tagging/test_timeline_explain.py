"""The tag timeline (per-patch activations cut to the strongest tags) and the sentences that
explain tag evidence."""

from __future__ import annotations

import numpy as np

from songlens.content.tagging.explain import explain, with_explanations
from songlens.content.tagging.timeline import tag_timeline


def test_timeline_keeps_the_strongest_tags_and_merges_shared_ones():
    a = np.array([[0.9, 0.1, 0.2], [0.7, 0.3, 0.2]])  # model A: rock, piano, sad
    b = np.array([[0.1, 0.95], [0.2, 0.05]])          # model B: piano, loud
    tl = tag_timeline({"A": a, "B": b}, {"A": ["rock", "piano", "sad"], "B": ["piano", "loud"]},
                      hop_s=2.992, top_n=3)
    # means: rock 0.8, piano max(.1,.1)=0.1 / max(.3,.2)=0.3 → 0.2, sad 0.2, loud 0.5
    assert tl["tags"] == ["rock", "loud", "piano"]
    assert tl["values"] == [[0.9, 0.7], [0.95, 0.05], [0.1, 0.3]]
    assert tl["hop_s"] == 2.992
    assert tag_timeline({}, {}, hop_s=3.0) is None
    assert tag_timeline({"A": np.zeros((2, 2))}, {"A": ["x"]}, hop_s=3.0) is None  # mislabelled


def test_every_kind_of_evidence_reads_as_a_sentence():
    cases = [
        ({"source": "audio", "cue": "metal", "p": 0.96, "model": "MSD_musicnn",
          "percentile": 0.988}, "Metal",
         "The audio model (musicnn, trained on Million Song Dataset tags) hears “metal” more "
         "strongly than in 99% of reference songs."),
        ({"source": "comments", "cue": "考研", "p": 0.9, "count": 3, "example": "考研天天听"},
         "Study", "3 listener comments mention “考研”, e.g. “考研天天听”."),
        ({"source": "comments", "cue": "考研", "p": 0.9, "count": 1}, "Study",
         "A listener comment mentions “考研”."),
        ({"source": "lyrics", "cue": "深夜", "p": 0.6, "count": 1}, "Night",
         "The lyrics mention “深夜”."),
        ({"source": "lyrics", "cue": "valence", "p": 0.25, "valence": -0.508, "by": "lexicon"},
         "Sad", "The lyrics read as sad or negative overall (valence -0.51, by a sentiment "
         "word list)."),
        ({"source": "lyrics", "cue": "script", "p": 0.79, "primary": True}, "Mandarin",
         "About 79% of the lyrics are written in Mandarin, the main language."),
        ({"source": "metadata", "cue": "OST", "p": 0.8, "field": "title"}, "Soundtrack",
         "The title contains “OST”."),
        ({"source": "metadata", "cue": "catalogue", "p": 1.0, "field": "language"}, "Cantonese",
         "The catalogue gives the song's language as Cantonese."),
    ]
    for ev, en, sentence in cases:
        assert explain(ev, tag_en=en) == sentence
    tags = {"style": [{"tag": "金属", "en": "Metal", "score": 0.9, "evidence": [cases[0][0]]}]}
    out = with_explanations(tags)
    assert out["style"][0]["evidence"][0]["why"] == cases[0][2]
    assert "why" not in tags["style"][0]["evidence"][0]  # the stored tags are not changed


def test_instrumental_language_is_explained_by_the_audio():
    from songlens.content.tagging.explain import with_explanations

    tags = {"language": [{"tag": "纯音乐", "en": "Instrumental", "score": 0.47, "evidence": [
        {"source": "audio", "cue": "no voice", "p": 0.63, "primary": True,
         "voice_probability": 0.37, "vocal_share": 0.1}]}]}
    why = with_explanations(tags)["language"][0]["evidence"][0]["why"]
    assert "instrumental" in why and "10%" in why and "lyrics" not in why, why
