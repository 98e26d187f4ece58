"""MusicnnEncoder on real music clips (tests/fixtures/musicnn, see its README)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from songlens.embeddings.encoders import AudioEncoder
from songlens.embeddings.musicnn_encoder import MusicnnEncoder
from songlens.errors import InvalidInput

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "musicnn"


def _clip(name: str) -> np.ndarray:
    y, sr = sf.read(FIXTURES / f"{name}.wav", dtype="float32")
    assert sr == 16000
    return y


@pytest.fixture(scope="session")
def encoder() -> MusicnnEncoder:
    return MusicnnEncoder()


@pytest.fixture(scope="session")
def analyses(encoder):
    names = ("metal_muldjord_chaos_god", "strings_wesnoth_traveling_minstrels",
             "guitar_drascula_track5")
    out = {n: encoder.analyse(_clip(n)) for n in names}
    out["metal_first_6s"] = encoder.analyse(_clip("metal_muldjord_chaos_god")[: 6 * 16000])
    return out


def test_vector_shape_and_norm(encoder, analyses):
    assert isinstance(encoder, AudioEncoder)
    assert encoder.dim == 400
    assert encoder.config() == {"name": "musicnn", "dim": 400,
                                "models": ["MSD_musicnn", "MTT_musicnn"], "pooling": "mean"}
    for a in analyses.values():
        assert a.vector.shape == (400,) and a.vector.dtype == np.float32
        assert abs(float(np.linalg.norm(a.vector)) - 1.0) < 1e-5
        # each model's block was normalised before the whole: both halves weigh the same
        np.testing.assert_allclose(np.linalg.norm(a.vector[:200]), np.sqrt(0.5), rtol=1e-5)


def test_tag_probs_per_model(analyses):
    a = analyses["metal_muldjord_chaos_god"]
    assert set(a.tag_probs) == {"MSD_musicnn", "MTT_musicnn"}
    assert len(a.tag_probs["MSD_musicnn"]) == len(a.tag_probs["MTT_musicnn"]) == 50
    assert max(a.tag_probs["MSD_musicnn"], key=a.tag_probs["MSD_musicnn"].get) == "metal"
    assert a.extra["n_patches"] == 4
    assert a.extra["taggram"]["MTT_musicnn"].shape == (4, 50)


def test_excerpt_is_nearer_its_track_than_other_music(analyses):
    metal = analyses["metal_muldjord_chaos_god"].vector
    excerpt = analyses["metal_first_6s"].vector
    assert float(excerpt @ metal) > 0.9
    for other in ("strings_wesnoth_traveling_minstrels", "guitar_drascula_track5"):
        assert float(excerpt @ metal) > float(excerpt @ analyses[other].vector) + 0.1


def test_pooling_options_and_single_model():
    enc = MusicnnEncoder(models=("MTT_musicnn",), pooling="mean+std")
    assert enc.dim == 400
    a = enc.analyse(_clip("guitar_drascula_track5"))
    assert a.vector.shape == (400,) and set(a.tag_probs) == {"MTT_musicnn"}
    assert MusicnnEncoder(pooling="mean+max").dim == 800


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"pooling": "median"}, "unknown pooling 'median'; allowed: mean, mean\\+std, mean\\+max"),
    ({"models": ()}, "at least one model"),
    ({"models": ("MSD_musicnn", "MSD_musicnn")}, "duplicate"),
    ({"models": ("MSD_vgg",)}, "unknown musicnn model 'MSD_vgg'"),
])
def test_bad_arguments(kwargs, match):
    with pytest.raises(InvalidInput, match=match):
        MusicnnEncoder(**kwargs)
