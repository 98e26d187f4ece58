"""musicnn PyTorch port: checkpoint reader, front-end, and parity with the original TF model.

The reference outputs in tests/fixtures/musicnn/reference_tf.npz were produced by the original
musicnn 0.1.0 code on TensorFlow 2.15 (see tests/fixtures/musicnn/README.md).
"""

from __future__ import annotations

import json
import struct
from pathlib import Path

import librosa
import numpy as np
import pytest
import soundfile as sf
import torch

from songlens.content.musicnn import (
    Musicnn,
    MusicnnTagger,
    analyse_many,
    musicnn_labels,
    musicnn_patches,
    read_checkpoint,
)
from songlens.content.musicnn.checkpoint import read_index, snappy_decompress
from songlens.content.musicnn.frontend import PATCH_FRAMES, log_compress, mel_power
from songlens.content.musicnn.tagger import musicnn_dir
from songlens.errors import InvalidInput, ModelError

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "musicnn"
CLIPS = sorted(FIXTURES.glob("*.wav"))
MODELS = ("MSD_musicnn", "MTT_musicnn")


@pytest.fixture(scope="session")
def reference() -> dict[str, np.ndarray]:
    with np.load(FIXTURES / "reference_tf.npz") as z:
        return {k: z[k] for k in z.files}


@pytest.fixture(scope="session")
def msd_weights() -> dict[str, np.ndarray]:
    return read_checkpoint(str(musicnn_dir() / "MSD_musicnn") + "/")


@pytest.fixture(scope="session")
def port_outputs() -> dict[tuple[str, str], object]:
    out = {}
    taggers = {m: MusicnnTagger(m) for m in MODELS}
    for clip in CLIPS:
        y, sr = sf.read(clip, dtype="float32")
        assert sr == 16000
        for m in MODELS:
            out[(clip.stem, m)] = taggers[m].analyse(y)
    return out


# ----------------------------------------------------------------------------- checkpoint


def test_checkpoint_has_every_layer_with_tf_shapes(msd_weights):
    assert msd_weights["conv2d/kernel"].shape == (7, 38, 1, 204)
    assert msd_weights["conv2d_1/kernel"].shape == (7, 67, 1, 204)
    assert msd_weights["conv2d_2/kernel"].shape == (128, 1, 1, 51)
    assert msd_weights["conv2d_5/kernel"].shape == (7, 561, 1, 64)
    assert msd_weights["batch_normalization_9/moving_mean"].shape == (1506,)
    assert msd_weights["dense/kernel"].shape == (1506, 200)
    assert msd_weights["dense_1/kernel"].shape == (200, 50)
    assert all(v.dtype == np.float32 for v in msd_weights.values())
    assert np.all(msd_weights["batch_normalization_9/moving_variance"] > 0)


def test_index_entries_point_inside_the_data_file():
    entries, shards = read_index(musicnn_dir() / "MTT_musicnn" / ".index")
    size = (musicnn_dir() / "MTT_musicnn" / ".data-00000-of-00001").stat().st_size
    assert shards == 1
    assert max(e.offset + e.size for e in entries.values()) == size
    # blocks are prefix-compressed: names sharing long prefixes still decode whole
    assert "batch_normalization_10/moving_variance" in entries


def test_not_a_table_is_rejected(tmp_path):
    bad = tmp_path / "x.index"
    bad.write_bytes(b"\0" * 64)
    with pytest.raises(ModelError, match="not a LevelDB table"):
        read_index(bad)


def test_snappy_literal_and_overlapping_copy():
    # varint length 12, literal "abc", copy-1 of length 9 at offset 3 (overlaps its own output)
    data = bytes([12, 0x08]) + b"abc" + bytes([((9 - 4) << 2) | 1, 3])
    assert snappy_decompress(data) == b"abcabcabcabc"
    # copy-2 (2-byte offset) of 4 bytes at offset 6
    data = bytes([10, 0x14]) + b"xyzuvw" + bytes([(3 << 2) | 2]) + struct.pack("<H", 6)
    assert snappy_decompress(data) == b"xyzuvwxyzu"
    with pytest.raises(ModelError, match="snappy"):
        snappy_decompress(bytes([5, 0x08]) + b"abc" + bytes([((9 - 4) << 2) | 1, 7]))


def test_missing_or_unused_variables_fail_loudly(msd_weights):
    w = dict(msd_weights)
    del w["conv2d_3/bias"]
    with pytest.raises(ModelError, match="lacks variable 'conv2d_3/bias'"):
        Musicnn().load_tf_weights(w)
    w = dict(msd_weights) | {"conv2d_8/kernel": np.zeros((3, 3, 1, 1), np.float32)}
    with pytest.raises(ModelError, match="does not use.*conv2d_8/kernel"):
        Musicnn().load_tf_weights(w)
    w = dict(msd_weights) | {"dense/bias": np.zeros(7, np.float32)}
    with pytest.raises(ModelError, match="dense/bias.*shape"):
        Musicnn().load_tf_weights(w)


def test_labels_come_from_the_wheel():
    msd, mtt = musicnn_labels("MSD_musicnn"), musicnn_labels("MTT_musicnn")
    assert len(msd) == len(mtt) == 50
    assert msd[:3] == ("rock", "pop", "alternative") and "Hip-Hop" in msd
    assert mtt[:2] == ("guitar", "classical") and "no vocals" in mtt
    with pytest.raises(InvalidInput, match="unknown musicnn model 'MSD_vgg'.*MTT_musicnn"):
        MusicnnTagger("MSD_vgg")


# ----------------------------------------------------------------------------- front-end


def test_mel_matches_librosa():
    y, _ = sf.read(CLIPS[0], dtype="float32")
    ref = librosa.feature.melspectrogram(y=y, sr=16000, hop_length=256, n_fft=512, n_mels=96).T
    ours = mel_power(y=y).numpy()
    assert ours.shape == ref.shape
    rel = np.abs(ours - ref) / (np.abs(ref) + 1e-6 * ref.max())
    assert float(np.max(rel)) < 1e-4
    assert float(np.median(rel)) < 1e-5
    # the original: float16 cast, then log10(10000 x + 1) promoted to float32 (NumPy 1.x rules)
    ref_log = np.log10(10000 * ref.astype(np.float16).astype(np.float32) + 1)
    ours_log = log_compress(torch.from_numpy(ours)).numpy()
    assert np.isfinite(ours_log).all()
    # equal up to float32 log10 rounding, except where the float16 rounding of a value within
    # ~1e-5 of a float16 rounding boundary went the other way (one float16 step, < 1e-3 after log)
    assert float(np.mean(np.abs(ours_log - ref_log) < 1e-6)) > 0.99
    assert float(np.abs(ours_log - ref_log).max()) < 1e-3


def test_patches_are_non_overlapping_3s_and_short_audio_is_repeat_padded():
    rng = np.random.default_rng(0)
    y = rng.standard_normal(16000 * 10).astype(np.float32) * 0.1
    p = musicnn_patches(y)
    assert p.shape == (3, PATCH_FRAMES, 96)  # 626 frames → patches at 0, 187, 374
    full = log_compress(mel_power(y=y))
    assert torch.equal(p[1], full[187:374])
    short = musicnn_patches(y[:16000])  # 63 frames, repeated to fill 187
    assert short.shape == (1, PATCH_FRAMES, 96)
    assert torch.equal(short[0, 63:126], short[0, :63])
    with pytest.raises(InvalidInput, match="mono"):
        musicnn_patches(np.zeros((2, 16000), np.float32))


# ----------------------------------------------------------------------------- parity


@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize("clip", [c.stem for c in CLIPS])
def test_parity_with_original_tensorflow(reference, port_outputs, clip, model):
    out = port_outputs[(clip, model)]
    key = f"{clip}/{model}"
    assert list(reference[f"{key}/labels"]) == out.tags
    taggram = reference[f"{key}/taggram"]
    assert out.patch_probs.shape == taggram.shape == (4, 50)
    assert float(np.abs(out.patch_probs - taggram).max()) < 1e-4
    pen = reference[f"{key}/penultimate"]
    assert float(np.abs(out.penultimate - pen).max()) < 1e-3
    cos = (out.penultimate * pen).sum(1) / (
        np.linalg.norm(out.penultimate, axis=1) * np.linalg.norm(pen, axis=1))
    assert cos.min() > 0.999
    assert float(np.abs(out.mean_pool - reference[f"{key}/mean_pool"]).max()) < 1e-2
    np.testing.assert_allclose(out.track_probs, out.patch_probs.mean(0), rtol=1e-6)


def test_reference_was_made_by_tensorflow(reference):
    meta = json.loads(str(reference["meta"]))
    assert meta["tensorflow"].startswith("2.") and meta["musicnn"] == "0.1.0"


def test_metal_clip_is_tagged_metal(port_outputs):
    out = port_outputs[("metal_muldjord_chaos_god", "MSD_musicnn")]
    top = [out.tags[i] for i in np.argsort(-out.track_probs)[:3]]
    assert "metal" in top
    strings = port_outputs[("strings_wesnoth_traveling_minstrels", "MTT_musicnn")]
    top = [strings.tags[i] for i in np.argsort(-strings.track_probs)[:4]]
    assert {"violin", "strings", "classical"} & set(top)


# ----------------------------------------------------------------------------- runtime


def test_onnx_runtime_matches_the_torch_port_and_threads_do_not_change_results():
    tagger = MusicnnTagger("MTT_musicnn", batch_size=2)
    y, _ = sf.read(CLIPS[0], dtype="float32")
    patches = musicnn_patches(np.tile(y, 2))  # 8 patches: 4 batches to spread
    with torch.inference_mode():
        ref = tagger.net(patches)
    one = analyse_many([tagger], patches, threads=1)[0]
    two = analyse_many([tagger], patches, threads=2)[0]
    assert float(np.abs(one.patch_probs - ref["probs"].numpy()).max()) < 1e-5
    assert float(np.abs(one.penultimate - ref["penultimate"].numpy()).max()) < 1e-4
    for k in ("patch_probs", "penultimate", "mean_pool", "max_pool"):
        np.testing.assert_array_equal(getattr(one, k), getattr(two, k))
