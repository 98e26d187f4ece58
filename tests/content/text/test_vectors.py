from __future__ import annotations

import subprocess
import sys

import numpy as np

from songlens.content.taxonomy import Evidence
from songlens.content.text.vectors import (
    cjk_share,
    sparse_lyrics_vector,
    tag_profile_dim,
    tag_profile_vector,
    token_index,
)


def test_token_index_is_stable_across_processes():
    code = ("from songlens.content.text.vectors import token_index;"
            "print(token_index('夜空'), token_index('love'))")
    outs = {subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                           env={"PYTHONHASHSEED": seed}, check=True).stdout
            for seed in ("1", "2")}
    assert outs == {f"{token_index('夜空')} {token_index('love')}\n"}
    assert 0 <= token_index("夜空") < 2**31


def test_sparse_vector_saturates_and_sorts():
    idx, val = sparse_lyrics_vector(["夜空", "夜空", "夜空", "星星", "Love"])
    assert idx == sorted(idx) and len(idx) == 3
    w = dict(zip(idx, val, strict=True))
    assert w[token_index("夜空")] > w[token_index("星星")]
    assert w[token_index("夜空")] < 3 * w[token_index("星星")]
    assert token_index("love") in w  # lowercased
    assert sparse_lyrics_vector([]) == ([], [])


def test_tag_profile_is_unit_and_blocked(resources):
    tax = resources.taxonomy
    ev = [Evidence("scene", "学习", "lyrics", "考研", 0.9),
          Evidence("emotion", "伤感", "lyrics", "眼泪", 0.7),
          Evidence("language", "华语", "lyrics", "script", 1.0)]
    v = tag_profile_vector(ev, tax)
    assert v.shape == (tag_profile_dim(tax),) and v.dtype == np.float32
    assert abs(float(np.linalg.norm(v)) - 1.0) < 1e-5
    similar = tag_profile_vector([Evidence("scene", "Study", "comments", "study", 0.8),
                                  Evidence("language", "华语", "lyrics", "script", 1.0)], tax)
    other = tag_profile_vector([Evidence("scene", "运动", "comments", "gym", 0.8),
                                Evidence("language", "欧美", "lyrics", "script", 1.0)], tax)
    assert float(v @ similar) > float(v @ other)
    assert not tag_profile_vector([], tax).any()
    from_scores = tag_profile_vector({"scene": {"学习": 0.9}}, tax)
    assert abs(float(np.linalg.norm(from_scores)) - 1.0) < 1e-5


def test_cjk_share():
    assert cjk_share("夜空中最亮的星") == 1.0
    assert cjk_share("hello") == 0.0
    assert 0.3 < cjk_share("我爱你 love") < 0.6
    assert cjk_share("") == 0.0 and cjk_share("123 !!") == 0.0
