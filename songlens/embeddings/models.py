"""Build the configured encoders once (at start-up, never per request)."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from songlens.embeddings.encoders import AudioEncoder, TextEncoder
from songlens.errors import ConfigError
from songlens.settings import Settings

__all__ = ["Models", "build_audio_encoder", "build_text_encoder", "load_models"]

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

        return TransformersAudioEncoder(settings.audio.model_path, threads=settings.audio.threads,
                                        musicnn_tags=settings.audio.musicnn_tags)
    raise ConfigError(f"unknown audio.encoder {kind!r}; allowed: musicnn, librosa, transformers")


def build_text_encoder(settings: Settings) -> TextEncoder:
    from songlens.embeddings.text_encoder import SentenceTextEncoder

    return SentenceTextEncoder(settings.text.model, device=settings.text.device)


@dataclass
class Models:
    audio: AudioEncoder
    text: TextEncoder


def load_models(settings: Settings) -> Models:
    import torch

    torch.set_num_threads(settings.audio.threads)
    audio = build_audio_encoder(settings)
    text = build_text_encoder(settings)
    log.info("models loaded: audio=%s (%d-d), text=%s (%d-d)", audio.name, audio.dim,
             text.name, text.dim)
    return Models(audio=audio, text=text)
