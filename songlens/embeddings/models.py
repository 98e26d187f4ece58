"""Build the configured encoders once (at start-up, never per request)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

from songlens.embeddings.encoders import AudioEncoder, TextEncoder
from songlens.errors import ConfigError
from songlens.settings import Settings

__all__ = ["Models", "build_audio_encoder", "build_sentiment_model", "build_text_encoder",
           "load_models"]

if TYPE_CHECKING:
    from songlens.content.text.sentiment_model import SentimentModel

log = logging.getLogger(__name__)


def build_audio_encoder(settings: Settings) -> AudioEncoder:
    kind = settings.audio.encoder
    if kind == "musicnn":
        from songlens.embeddings.musicnn_encoder import MusicnnEncoder

        return MusicnnEncoder()
    if kind == "librosa":
        from songlens.embeddings.librosa_encoder import LibrosaEncoder

        return LibrosaEncoder()
    if kind == "transformers":
        if not settings.audio.model_path:
            raise ConfigError("audio.encoder 'transformers' needs audio.model_path: a local "
                              "folder with a CLAP, MERT or AST model")
        from songlens.embeddings.transformers_audio import TransformersAudioEncoder

        return TransformersAudioEncoder(settings.audio.model_path,
                                        musicnn_tags=settings.audio.musicnn_tags)
    raise ConfigError(f"unknown audio.encoder {kind!r}; allowed: musicnn, librosa, transformers")


def build_text_encoder(settings: Settings) -> TextEncoder:
    from songlens.embeddings.text_encoder import SentenceTextEncoder

    return SentenceTextEncoder(settings.text.model, device=settings.text.device)


def build_sentiment_model(settings: Settings) -> SentimentModel | None:
    if not settings.text.sentiment_model:
        return None
    from songlens.content.text.sentiment_model import SentimentModel

    return SentimentModel(settings.text.sentiment_model, device=settings.text.device)


@dataclass
class Models:
    audio: AudioEncoder
    text: TextEncoder
    sentiment: SentimentModel | None = None


def load_models(settings: Settings) -> Models:
    """All configured models; torch's intra-op thread count is set here, once for the process
    (``audio.threads``), never per call."""
    import torch

    torch.set_num_threads(settings.audio.threads)
    audio = build_audio_encoder(settings)
    text = build_text_encoder(settings)
    sentiment = build_sentiment_model(settings)
    log.info("models loaded: audio=%s (%d-d), text=%s (%d-d), sentiment=%s", audio.name,
             audio.dim, text.name, text.dim, sentiment.name if sentiment else "lexicon")
    return Models(audio=audio, text=text, sentiment=sentiment)
