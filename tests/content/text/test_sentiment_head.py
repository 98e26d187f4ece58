"""The sentiment head: shipped per text model, applied with the lexicon to music comments."""

from __future__ import annotations

import numpy as np
import pytest

from songlens.content.text.analyse import analyse_text
from songlens.content.text.sentiment_head import HEADS_DIR, SentimentHead
from songlens.errors import ConfigError

POSITIVE = ["太好听了，单曲循环一百遍，爱死这首歌了", "听完心情超级好，温暖又治愈，谢谢你",
            "what a beautiful song, I love it"]
NEGATIVE = ["难听死了，浪费我的时间，垃圾", "听了好难过，心都碎了，为什么要分开",
            "this is the worst song I have ever heard"]


def test_head_loads_for_its_model_only(tmp_path):
    head = SentimentHead.load("use-multilingual-v3")
    assert head is not None and head.w.shape == (512,)
    assert head.about["model"] == "use-multilingual-v3" and head.about["n_train"] > 10000
    assert SentimentHead.load("no-such-model") is None
    (tmp_path / "other.npz").write_bytes((HEADS_DIR / "use-multilingual-v3.npz").read_bytes())
    with pytest.raises(ConfigError, match="is for 'use-multilingual-v3', not 'other'"):
        SentimentHead.load("other", folder=tmp_path)
    with pytest.raises(ValueError, match="expects 512-d"):
        head.logit(np.zeros((1, 384), dtype=np.float32))


def test_head_orders_obvious_comments(dense_text):
    head = dense_text.sentiment
    assert head is not None and head.combine["head"] > 0
    logits = head.logit(dense_text.encode(POSITIVE + NEGATIVE))
    assert logits[:3].min() > logits[3:].max(), logits


def test_song_valence_with_head_and_lexicon(resources, dense_text):
    def valence(comments):
        a = analyse_text(title="", artist="", comments=[(c, 10) for c in comments],
                         resources=resources, dense=dense_text)
        # the tagger reads each comment's emotion; the valence is no emotion evidence of its own
        assert not [e for e in a.evidence if e.cue == "valence"]
        return a.sentiment

    pos, neg = valence(POSITIVE), valence(NEGATIVE)
    assert pos > 0.3 and neg < -0.3
