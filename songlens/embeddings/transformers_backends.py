"""transformers model families behind the audio encoder: the model-folder checks and one backend
per family (CLAP, AST, HuBERT / wav2vec 2.0 / MERT-v0), each turning a batch of windows into
embeddings. Everything loads with ``local_files_only=True`` and ``trust_remote_code=False``.
"""

from __future__ import annotations

import json
import logging
import math
import threading
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any

import numpy as np

from songlens.errors import ConfigError, ModelError

__all__ = ["AST_TYPES", "Backend", "CLAP_TYPES", "ClapBackend", "MODEL_TYPES", "SSL_TYPES",
           "SSL_WINDOW_S", "load_backend", "read_model_config"]

log = logging.getLogger(__name__)

CLAP_TYPES = ("clap",)
AST_TYPES = ("audio-spectrogram-transformer",)
SSL_TYPES = ("hubert", "wav2vec2", "wavlm", "data2vec-audio")
#: ``config.json`` model types this encoder loads.
MODEL_TYPES = CLAP_TYPES + AST_TYPES + SSL_TYPES

_WEIGHT_FILES = ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin",
                 "pytorch_model.bin.index.json")
_PREPROCESSOR_FILES = ("preprocessor_config.json", "processor_config.json")
#: Self-supervised models have no fixed input length; windows of this many seconds.
SSL_WINDOW_S = 10.0

def read_model_config(path: str | Path) -> tuple[Path, dict[str, Any]]:
    """The folder and its ``config.json``, with clear errors for what cannot be loaded."""
    folder = Path(path).expanduser()
    if not folder.is_dir():
        raise ConfigError(f"audio.model_path {str(folder)!r} is not a folder; it must be a local "
                          "folder with a CLAP, MERT or AST model (save_pretrained output)")
    cfg_file = folder / "config.json"
    try:
        cfg = json.loads(cfg_file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"audio.model_path {str(folder)!r} has no config.json; it must be a "
                          "transformers model folder (save_pretrained output)") from None
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot read {str(cfg_file)!r}: {exc}") from exc
    if not isinstance(cfg, dict):
        raise ConfigError(f"{str(cfg_file)!r} does not hold a JSON object")
    model_type = str(cfg.get("model_type") or "")
    if model_type not in MODEL_TYPES:
        if cfg.get("auto_map") or "mert" in model_type.lower():
            raise ConfigError(
                f"the model in {str(folder)!r} (model_type {model_type!r}) needs its own Python "
                "code from the model folder (auto_map / trust_remote_code), which songlens does "
                "not run. MERT-v1 and later are such models; MERT-v0 (a HubertModel) loads. "
                f"Supported model types: {', '.join(MODEL_TYPES)}")
        raise ConfigError(f"unsupported model_type {model_type!r} in {str(cfg_file)!r}; "
                          f"supported: {', '.join(MODEL_TYPES)} (CLAP, AST, MERT-v0/HuBERT, "
                          "wav2vec 2.0)")
    if not any((folder / f).is_file() for f in _WEIGHT_FILES):
        raise ConfigError(f"audio.model_path {str(folder)!r} has a config.json but no weights "
                          f"(expected one of {', '.join(_WEIGHT_FILES)})")
    return folder, cfg


class Backend(ABC):
    """One model family: sample rate, window length, and window batch → embeddings."""

    kind: str
    sample_rate: int
    window: int  # samples at sample_rate
    min_samples: int = 1
    dim: int
    labels: tuple[str, ...] = ()
    multi_label: bool = False
    #: whether equal-length batches are needed (no padding inside the model)
    same_length: bool = False

    @abstractmethod
    def embed(self, windows: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray | None]:
        """``(embeddings (n, dim), label probabilities (n, n_labels) or None)``."""


def _pooled(out: Any) -> Any:
    """transformers 4 returns a tensor from ``get_*_features``, 5 a model output."""
    return out if hasattr(out, "shape") else out.pooler_output


def _load_feature_extractor(folder: Path) -> Any:
    from transformers import AutoFeatureExtractor

    try:
        return AutoFeatureExtractor.from_pretrained(str(folder), local_files_only=True,
                                                    trust_remote_code=False)
    except (OSError, ValueError, KeyError) as exc:
        raise ConfigError(f"cannot load the feature extractor from {str(folder)!r} (it needs "
                          f"preprocessor_config.json or processor_config.json): {exc}") from exc


def _load_model(cls: Any, folder: Path) -> Any:
    try:
        model = cls.from_pretrained(str(folder), local_files_only=True, trust_remote_code=False)
    except (OSError, ValueError, KeyError, RuntimeError) as exc:
        raise ModelError(f"cannot load {cls.__name__} from {str(folder)!r}: {exc}") from exc
    return model.eval()


class ClapBackend(Backend):
    kind = "clap"

    def __init__(self, folder: Path) -> None:
        from transformers import ClapModel, ClapProcessor

        try:
            self.processor = ClapProcessor.from_pretrained(str(folder), local_files_only=True)
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ConfigError(f"cannot load the CLAP processor (feature extractor and tokenizer) "
                              f"from {str(folder)!r}: {exc}") from exc
        self.model = _load_model(ClapModel, folder)
        fe = self.processor.feature_extractor
        self.sample_rate = int(fe.sampling_rate)
        self.window = int(fe.nb_max_samples)
        self.min_samples = fe.fft_window_size
        self.dim = int(self.model.config.projection_dim)
        tok = self.processor.tokenizer
        n_pos = int(getattr(self.model.config.text_config, "max_position_embeddings", 514))
        self.max_tokens = max(8, min(int(getattr(tok, "model_max_length", 512) or 512),
                                     n_pos - 2))
        self._tok_lock = threading.Lock()
        self.logit_scale = float(min(math.exp(float(self.model.logit_scale_a.detach())), 100.0))

    def embed(self, windows: list[np.ndarray]) -> tuple[np.ndarray, None]:
        import torch

        feats = self.processor.feature_extractor(windows, sampling_rate=self.sample_rate,
                                                 return_tensors="pt")
        # No window is longer than max length; the extractor would mark a random one "longer"
        # for fusion models, which makes results depend on chance.
        is_longer = torch.zeros_like(feats["is_longer"], dtype=torch.bool)
        out = self.model.get_audio_features(input_features=feats["input_features"].float(),
                                            is_longer=is_longer)
        emb = torch.nn.functional.normalize(_pooled(out).float(), dim=-1)
        return emb.numpy(), None

    def encode_text(self, texts: list[str]) -> np.ndarray:
        import torch

        # a fast tokenizer's padding/truncation state is mutable: one caller at a time
        # (concurrent calls fail with "Already borrowed")
        with self._tok_lock:
            tok = self.processor.tokenizer(texts, padding=True, truncation=True,
                                           max_length=self.max_tokens, return_tensors="pt")
        out = self.model.get_text_features(input_ids=tok["input_ids"],
                                           attention_mask=tok["attention_mask"])
        return torch.nn.functional.normalize(_pooled(out).float(), dim=-1).numpy()


class AstBackend(Backend):
    kind = "ast"

    def __init__(self, folder: Path, cfg: dict[str, Any], max_labels: int) -> None:
        from transformers import ASTForAudioClassification, ASTModel

        self.fe = _load_feature_extractor(folder)
        classify = "ASTForAudioClassification" in (cfg.get("architectures") or [])
        self.model = _load_model(ASTForAudioClassification if classify else ASTModel, folder)
        self.sample_rate = int(self.fe.sampling_rate)
        frames = int(self.fe.max_length)  # Kaldi fbank: 25 ms windows, 10 ms shift
        self.window = int(round(((frames - 1) * 0.010 + 0.025) * self.sample_rate))
        self.min_samples = int(0.025 * self.sample_rate) + 1
        self.dim = int(self.model.config.hidden_size)
        self.labels = ()
        if classify:
            id2label = {int(k): str(v) for k, v in (self.model.config.id2label or {}).items()}
            names = tuple(id2label.get(i, f"LABEL_{i}") for i in range(len(id2label)))
            if names and not all(n == f"LABEL_{i}" for i, n in enumerate(names)):
                self.labels = names
        problem = self.model.config.problem_type
        self.multi_label = problem == "multi_label_classification" or (
            problem is None and len(self.labels) >= 100)
        self.max_labels = max_labels

    def embed(self, windows: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray | None]:
        import torch

        feats = self.fe(windows, sampling_rate=self.sample_rate, return_tensors="pt")
        x = feats["input_values"].float()
        base = getattr(self.model, "audio_spectrogram_transformer", self.model)
        pooled = base(x).pooler_output.float()
        probs = None
        if self.labels:
            logits = self.model.classifier(pooled).float()
            probs = (torch.sigmoid(logits) if self.multi_label
                     else torch.softmax(logits, dim=-1)).numpy()
        return pooled.numpy(), probs


class SslBackend(Backend):
    kind = "ssl"
    same_length = True

    def __init__(self, folder: Path, model_type: str, cfg: dict[str, Any]) -> None:
        from transformers import AutoModel, Wav2Vec2FeatureExtractor

        self.kind = model_type
        if any((folder / f).is_file() for f in _PREPROCESSOR_FILES):
            self.fe = _load_feature_extractor(folder)
        else:  # e.g. MERT-v0 ships none: its config names the rate, the input is normalised
            rate = int(cfg.get("sample_rate") or cfg.get("sampling_rate") or 16000)
            log.warning("%s has no preprocessor_config.json; using a wav2vec 2.0 feature "
                        "extractor at %d Hz with per-window normalisation", folder, rate)
            self.fe = Wav2Vec2FeatureExtractor(feature_size=1, sampling_rate=rate,
                                               padding_value=0.0, do_normalize=True,
                                               return_attention_mask=False)
        self.model = _load_model(AutoModel, folder)
        self.sample_rate = int(self.fe.sampling_rate)
        self.window = int(SSL_WINDOW_S * self.sample_rate)
        # the convolutional front end needs at least its receptive field (400 samples for
        # wav2vec 2.0 / HuBERT); pad shorter windows with silence up to 0.1 s
        self.min_samples = int(0.1 * self.sample_rate)
        self.dim = int(self.model.config.hidden_size)

    def embed(self, windows: list[np.ndarray]) -> tuple[np.ndarray, None]:
        import torch

        feats = self.fe(windows, sampling_rate=self.sample_rate, return_tensors="pt")
        out = self.model(feats["input_values"].float(), output_hidden_states=True)
        layers = torch.stack([h.float() for h in out.hidden_states], dim=0)  # (L, n, T, d)
        return layers.mean(dim=0).mean(dim=1).numpy(), None


def load_backend(folder: Path, cfg: dict[str, Any], *, max_labels: int) -> Backend:
    """The backend for ``cfg["model_type"]`` (a :data:`MODEL_TYPES` member) in ``folder``."""
    model_type = cfg["model_type"]
    if model_type in CLAP_TYPES:
        return ClapBackend(folder)
    if model_type in AST_TYPES:
        return AstBackend(folder, cfg, max_labels)
    return SslBackend(folder, model_type, cfg)
