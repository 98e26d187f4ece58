"""The instrument head: a logistic layer on musicnn's per-patch vectors names the instruments it
was trained on, where they play; drums and other encoders stay with musicnn's own tags."""

from __future__ import annotations

import copy

import numpy as np
import pytest

from songlens.content.musicnn.tagger import MODELS, musicnn_labels
from songlens.content.tagging.explain import explain
from songlens.content.tagging.instrument_head import InstrumentHead
from songlens.content.tagging.instruments import detect_instruments
from songlens.errors import ConfigError
from tests.content.tagging.test_instruments_voice import HOP, N, taggram

DIM = 400
#: MusicnnEncoder().config() of the default encoder
MUSICNN = {"name": "musicnn", "dim": 400, "models": list(MODELS), "pooling": "mean"}


@pytest.fixture(scope="module")
def labels():
    return {m: musicnn_labels(m) for m in MODELS}


def tiny_head(thresholds=(0.5, 0.5)) -> InstrumentHead:
    """Organ listens to dimension 0, piano to dimension 1 (logit 20·x − 10)."""
    w = np.zeros((DIM, 2), np.float32)
    w[0, 0] = w[1, 1] = 20.0
    return InstrumentHead(("organ", "piano"), w, np.array([-10.0, -10.0], np.float32),
                          np.array(thresholds), {"name": "musicnn", "models": list(MODELS)})


def with_head(vocab, head):
    v = copy.copy(vocab)
    v.head = head
    return v


def test_shipped_head_fits_the_vocabulary_and_the_default_encoder(resources):
    head = resources.instruments.head
    assert head is not None and head.dim == DIM
    assert {"organ", "brass", "piano", "guitar"} <= set(head.names)
    assert "drums" not in head.names  # musicnn's own drums tag names real kits better
    names = {s.name for s in resources.instruments.specs}
    assert set(head.names) <= names
    assert 0.0 < head.thresholds.min() and head.thresholds.max() < 1.0
    assert head.accepts(MUSICNN)
    assert not head.accepts({**MUSICNN, "models": ["MTT_musicnn"]})
    assert not head.accepts({"name": "transformers", "dim": 768})
    assert not head.accepts(None)
    # shipped weights are not blank: a random unit vector gets a spread of probabilities
    p = head.patch_probs(np.random.default_rng(0).normal(size=(4, DIM)))
    assert p.shape == (4, len(head.names)) and np.ptp(p) > 0.01


def test_head_names_where_instruments_play_and_cues_keep_the_rest(labels, resources):
    vocab = with_head(resources.instruments, tiny_head())
    x = np.zeros((N, DIM), np.float32)
    x[:4, 0] = 1.0  # organ in patches 0-3
    x[6:, 1] = 1.0  # piano in patches 6-7 only: mean 0.25 < 0.5
    grams = taggram(labels, resources, {"drums": (0.9, slice(0, N)),
                                        "piano": (0.9, slice(0, N))})
    found = {i.name: i for i in detect_instruments(grams, labels, vocabulary=vocab, hop_s=HOP,
                                                   patch_vectors=x)}
    # piano: the head decides (it hears it in 2 of 8 patches), not musicnn's piano tag
    assert set(found) == {"organ", "drums"}
    organ = found["organ"].to_dict()
    assert (organ["zh"], organ["en"]) == ("管风琴", "organ")
    assert organ["score"] == pytest.approx(0.5, abs=1e-3)
    assert organ["timeline"]["segments"] == [[0.0, 12.0]]
    assert organ["evidence"][0] == {"source": "audio", "model": "instrument_head", "p": 0.5,
                                    "patches": N, "pool": "mean"}
    assert "probability 0.50 that it plays" in explain(organ["evidence"][0], tag_en="organ")
    assert found["drums"].evidence[0]["cue"] == "drums"  # drums: musicnn's tag
    # a lower threshold names the piano, with musicnn's tag beside the head's evidence
    low = with_head(resources.instruments, tiny_head((0.5, 0.2)))
    piano = {i.name: i for i in detect_instruments(grams, labels, vocabulary=low, hop_s=HOP,
                                                   patch_vectors=x)}["piano"]
    assert piano.timeline["segments"] == [[18.0, 24.0]]
    assert [e.get("model") for e in piano.evidence] == ["instrument_head", "MTT_musicnn"]
    # without patch vectors (another encoder), the cues alone: organ has none
    cues = {i.name for i in detect_instruments(grams, labels, vocabulary=vocab, hop_s=HOP)}
    assert cues == {"drums", "piano"}


def test_head_round_trip_and_bad_files(tmp_path):
    head = tiny_head((0.3, 0.6))
    path = tmp_path / "head.npz"
    head.save(path)
    back = InstrumentHead.load(path)
    assert back.names == ("organ", "piano")
    assert dict(zip(back.names, back.thresholds, strict=True))["piano"] == pytest.approx(0.6)
    assert np.array_equal(back.w, head.w) and back.accepts(MUSICNN)
    assert InstrumentHead.load(tmp_path / "none.npz") is None
    (tmp_path / "bad.npz").write_bytes(b"not a zip")
    (tmp_path / "cut.npz").write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    for name in ("bad.npz", "cut.npz"):
        with pytest.raises(ConfigError, match="cannot read instrument head"):
            InstrumentHead.load(tmp_path / name)
    nan = tiny_head()
    np.savez(tmp_path / "nan.npz", w=np.full_like(nan.w, np.nan), b=nan.b,
             thresholds=nan.thresholds, about='{"names": ["organ", "piano"], '
                                              '"encoder": {"name": "musicnn"}}')
    with pytest.raises(ConfigError, match="finite"):
        InstrumentHead.load(tmp_path / "nan.npz")
    with pytest.raises(ValueError, match="400-d"):
        head.patch_probs(np.zeros((3, 12)))
    with pytest.raises(ConfigError, match="do not fit"):
        InstrumentHead(("organ",), np.zeros((DIM, 2)), np.zeros(2), np.zeros(2), {})
    w, b, thr, enc = np.zeros((DIM, 2)), np.zeros(2), np.full(2, 0.5), {"name": "musicnn"}
    for names, kw, match in ((("organ", "organ"), {}, "distinct"),
                             (("organ", "piano"), {"encoder": {}}, "which encoder"),
                             (("organ", "piano"), {"thresholds": np.array([0.5, 1.0])},
                              r"\(0, 1\)")):
        args = {"w": w, "b": b, "thresholds": thr, "encoder": enc} | kw
        with pytest.raises(ConfigError, match=match):
            InstrumentHead(names, **args)


def test_a_head_naming_an_unlisted_instrument_is_refused(resources):
    from songlens.content.tagging.instruments import InstrumentVocabulary

    bad = InstrumentHead(("erhu",), np.zeros((DIM, 1), np.float32), np.zeros(1, np.float32),
                         np.array([0.5]), {"name": "musicnn"})
    with pytest.raises(ConfigError, match="erhu"):
        InstrumentVocabulary({"instruments": {}}, calibration=resources.audio_tags,
                             taxonomy=resources.taxonomy, head=bad)


def test_top_pooling_names_an_instrument_heard_in_one_section(labels, resources):
    """Pooled over its strongest quarter of patches, the piano of patches 6-7 reaches 0.5; the
    mean over all eight does not."""
    x = np.zeros((N, DIM), np.float32)
    x[6:, 1] = 1.0
    grams = taggram(labels, resources, {})
    for pool, named in (("mean", set()), ("top:0.25", {"piano"})):
        head = InstrumentHead(("organ", "piano"), tiny_head().w, tiny_head().b,
                              np.array([0.5, 0.5]), {"name": "musicnn"}, pool=pool)
        found = detect_instruments(grams, labels, vocabulary=with_head(resources.instruments,
                                                                       head),
                                   hop_s=HOP, patch_vectors=x)
        assert {i.name for i in found} == named, pool
    head = InstrumentHead(("organ",), np.zeros((DIM, 1)), np.zeros(1), np.array([0.5]),
                          {"name": "musicnn"}, pool="top:0.5")
    assert head.score(np.array([[0.1], [0.9], [0.5], [0.3]]))[0] == pytest.approx(0.7)
    for bad in ("max", "top:0", "top:1.5", "top:x"):
        with pytest.raises(ConfigError, match="pooling"):
            InstrumentHead(("organ",), np.zeros((DIM, 1)), np.zeros(1), np.array([0.5]),
                           {"name": "musicnn"}, pool=bad)


def test_platt_scaling_moves_the_score_and_the_timeline_alike(labels, resources, tmp_path):
    """σ(a·logit(p) + b): with a = 2, b = 0 a pooled 0.75 reads 0.9; the timeline's patches are
    on the same scale as the score and the threshold; the scaling survives a save."""
    x = np.zeros((N, DIM), np.float32)
    x[:, 0] = 0.5 + np.log(3.0) / 20.0  # logit 20·x − 10 = log 3: p = 0.75 in every patch
    head = InstrumentHead(("organ", "piano"), tiny_head().w, tiny_head().b,
                          np.array([0.85, 0.5]), {"name": "musicnn"}, platt=(2.0, 0.0))
    (organ,) = detect_instruments(taggram(labels, resources, {}), labels,
                                  vocabulary=with_head(resources.instruments, head), hop_s=HOP,
                                  patch_vectors=x)
    assert organ.score == pytest.approx(0.9, abs=1e-3)
    assert organ.timeline["values"] == [pytest.approx(0.9, abs=1e-3)] * N
    assert organ.timeline["segments"] == [[0.0, 24.0]]
    head.save(tmp_path / "h.npz")
    assert InstrumentHead.load(tmp_path / "h.npz").platt == (2.0, 0.0)
    with pytest.raises(ConfigError, match="platt"):
        InstrumentHead(("organ",), np.zeros((DIM, 1)), np.zeros(1), np.array([0.5]),
                       {"name": "musicnn"}, platt=(-1.0, 0.0))


def test_an_older_head_file_without_pooling_reads_as_mean_unscaled(tmp_path):
    """A head written before pooling and scaling existed loads as mean pooling, no scaling."""
    h = tiny_head()
    np.savez(tmp_path / "old.npz", w=h.w, b=h.b, thresholds=h.thresholds,
             about='{"names": ["organ", "piano"], "encoder": {"name": "musicnn"}}')
    old = InstrumentHead.load(tmp_path / "old.npz")
    assert (old.pool, old.platt) == ("mean", None)
    assert old.score(np.array([[0.2, 0.4], [0.6, 0.8]])) == pytest.approx([0.4, 0.6])


def test_the_shipped_head_pools_the_strongest_half_and_is_scaled(resources):
    head = resources.instruments.head
    assert head.pool == "top:0.5" and head.platt is not None and head.platt[0] > 0
    ev = {"source": "audio", "model": "instrument_head", "p": 0.8, "patches": 10,
          "pool": head.pool}
    assert explain(ev, tag_en="organ") == (
        "The instrument model (trained on musicnn's features of rendered instruments) hears "
        "organ in the strongest 50% of 10 3-second patches: probability 0.80 that it plays.")


def test_head_input_takes_only_vectors_the_head_was_trained_on():
    """The encoder's own patch vectors, or those of the musicnn run beside another encoder;
    anything else — another encoder, another width, no patches, a malformed hand-over — leaves
    the cues to decide."""
    from songlens.content.tagging.instruments import head_input

    head = tiny_head()
    x = np.ones((3, DIM), np.float32)
    assert np.array_equal(head_input(head, x, MUSICNN), x)
    clap = {"name": "clap", "dim": 512}
    assert head_input(head, np.ones((3, 512)), clap) is None
    got = head_input(head, np.ones((3, 512)), clap, {"config": MUSICNN, "vectors": x})
    assert got is not None and got.shape == (3, DIM)
    for beside in ({"config": MUSICNN, "vectors": np.ones((0, DIM))},
                   {"config": MUSICNN, "vectors": np.ones((3, 12))},
                   {"config": MUSICNN, "vectors": "not vectors"},
                   {"config": "musicnn", "vectors": x}, {"vectors": x}):
        assert head_input(head, None, clap, beside) is None, beside
    assert head_input(None, x, MUSICNN) is None
    assert head_input(head, x, None) is None
