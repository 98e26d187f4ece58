"""Audio encoders from transformers models in a local folder: CLAP, AST, and MERT-style
self-supervised models (HuBERT / wav2vec 2.0 architectures).

``audio.encoder: transformers`` with ``audio.model_path`` naming a folder written by
``save_pretrained`` (``config.json``, weights, and the preprocessor: feature extractor, plus the
tokenizer for CLAP). Nothing is downloaded: everything loads with ``local_files_only=True`` and
``trust_remote_code=False``. The model family is read from ``config.json``'s ``model_type``:

``clap``
    :class:`~transformers.ClapModel` and its processor. The track vector is the mean of the
    L2-normalised ``get_audio_features`` of the track's windows (each at most the feature
    extractor's ``max_length_s``, 10 s for the LAION checkpoints), L2-normalised again: it lives
    in the joint audio-text space, so :meth:`~TransformersAudioEncoder.encode_text` (the text
    tower, ``get_text_features``) gives query vectors for text-to-music search. Every taxonomy tag
    is also scored zero-shot against prompts from ``configs/clap_prompts.yaml``; the result is
    taxonomy evidence with source ``clap`` in ``AudioAnalysis.extra["evidence"]``.
``audio-spectrogram-transformer`` (AST)
    :class:`~transformers.ASTModel`, or :class:`~transformers.ASTForAudioClassification` when the
    config names it: the vector is the mean of the pooled output over ~10 s windows (the feature
    extractor's ``max_length`` frames). A classifier with real labels (``id2label``) also gives
    whole-track label probabilities in ``tag_probs[<encoder name>]``: sigmoid for multi-label
    heads (``problem_type: multi_label_classification``, or 100 labels or more when unset, as
    AudioSet's 527), softmax otherwise; the ``max_labels`` most likely are kept.
``hubert`` / ``wav2vec2`` / ``wavlm`` / ``data2vec-audio`` (MERT-v0 and similar)
    The vector is the mean over time of the mean over all hidden layers (the embedding output
    and every transformer layer, as MERT's model card aggregates), over 10 s windows. MERT-v0 is
    a :class:`~transformers.HubertModel` and loads (a folder without ``preprocessor_config.json``
    gets a normalising wav2vec 2.0 feature extractor at the config's ``sample_rate``). MERT-v1
    and later (``model_type: mert_model``) ship their model class as remote code
    (``auto_map``); songlens never executes code from a model folder, so those folders are
    refused with a :class:`ConfigError`.

Common to all: 16 kHz input is resampled with librosa to the model's rate; tracks are cut into
non-overlapping windows (at most ``max_windows``, spread evenly over the track, which bounds the
cost of very long tracks); windows run in batches under ``torch.inference_mode`` with the
configured torch threads; window results are averaged weighted by their duration. The same
samples always give the same vector.

The musicnn taggers keep supplying tag evidence (``musicnn_tags=True``, the default): they are
cheap, calibrated against the taxonomy (``configs/audio_tags.yaml``), and a CLAP/MERT/AST
embedding has no calibrated tag mapping of its own. Their probabilities appear in ``tag_probs``
exactly as with the musicnn encoder, while the vector comes from the transformers model.
"""

from __future__ import annotations

import json
import logging
import math
import threading
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from songlens.content.taxonomy import DIMENSIONS, Evidence, Taxonomy, config_path, load_taxonomy
from songlens.embeddings.encoders import AudioAnalysis, AudioEncoder, l2_normalise
from songlens.errors import ConfigError, InvalidInput, ModelError, UnknownTag

__all__ = ["MODEL_TYPES", "TransformersAudioEncoder", "ZeroShotPrompts", "load_clap_prompts",
           "parse_clap_prompts", "read_model_config"]

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
#: A last window shorter than this is dropped when the track has other windows.
MIN_TAIL_S = 1.0


# -- zero-shot prompts --------------------------------------------------------------------------
@dataclass(frozen=True)
class ZeroShotPrompts:
    """Parsed ``configs/clap_prompts.yaml``.

    ``prompts``: dimension → canonical tag → prompts; ``background``: dimension → prompts of a
    "none of these" candidate that takes part in the dimension's softmax but yields no evidence.
    """

    prompts: dict[str, dict[str, tuple[str, ...]]]
    background: dict[str, tuple[str, ...]] = field(default_factory=dict)
    top_k: int = 3


#: Marks the background candidate among a dimension's tags.
BACKGROUND = ""


def _alias(en: str) -> str:
    return en if en.isupper() else en.lower()


def parse_clap_prompts(spec: dict[str, Any], taxonomy: Taxonomy) -> ZeroShotPrompts:
    """Validate the prompts spec against the taxonomy (unknown tags are a :class:`ConfigError`)."""
    dims = spec.get("dimensions") or {}
    if not isinstance(dims, dict):
        raise ConfigError("clap_prompts: `dimensions` must be a mapping")
    out: dict[str, dict[str, tuple[str, ...]]] = {}
    background: dict[str, tuple[str, ...]] = {}
    for dim in DIMENSIONS:
        d = dims.get(dim) or {}
        templates = [str(t) for t in d.get("templates") or ["{en} music"]]
        if any("{en}" not in t for t in templates):
            raise ConfigError(f"clap_prompts {dim}: every template needs {{en}}, got {templates}")
        try:
            skip = {taxonomy.canonical(dim, str(t)) for t in d.get("skip") or []}
            only = {taxonomy.canonical(dim, str(t)) for t in d.get("only") or []}
            special = {taxonomy.canonical(dim, str(t)): tuple(str(p) for p in ps or ())
                       for t, ps in (d.get("prompts") or {}).items()}
        except UnknownTag as exc:
            raise ConfigError(f"clap_prompts {dim}: {exc.message}") from exc
        if any(not ps for ps in special.values()):
            raise ConfigError(f"clap_prompts {dim}: a tag's prompt list is empty")
        out[dim] = {}
        for tag in taxonomy.tags[dim]:
            if tag in skip or (only and tag not in only):
                continue
            en = _alias(taxonomy.en[(dim, tag)])
            out[dim][tag] = special.get(tag) or tuple(t.format(en=en) for t in templates)
        bg = tuple(str(p) for p in d.get("background") or ())
        if bg:
            background[dim] = bg
        if out[dim] and len(out[dim]) + bool(bg) < 2:
            raise ConfigError(f"clap_prompts {dim}: a softmax over one candidate is always 1; "
                              "score two tags or more, or add `background` prompts")
    top_k = int(spec.get("top_k", 3))
    if top_k < 1:
        raise ConfigError(f"clap_prompts top_k must be >= 1, got {top_k}")
    return ZeroShotPrompts(out, background, top_k)


@lru_cache(maxsize=4)
def _load_prompts(path: str, taxonomy_path: str | None) -> ZeroShotPrompts:
    import yaml

    try:
        spec = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"cannot read CLAP prompts {path!r}: {exc}") from exc
    return parse_clap_prompts(spec, load_taxonomy(taxonomy_path))


def load_clap_prompts(path: str | Path | None = None) -> ZeroShotPrompts:
    """Load (once per path) ``configs/clap_prompts.yaml`` or ``path``."""
    return _load_prompts(str(Path(path) if path else config_path("clap_prompts.yaml")), None)


# -- model folder checks ------------------------------------------------------------------------
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


# -- backends -----------------------------------------------------------------------------------
class _Backend(ABC):
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


class _Clap(_Backend):
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


class _AST(_Backend):
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


class _SSL(_Backend):
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


# -- the encoder --------------------------------------------------------------------------------
class TransformersAudioEncoder(AudioEncoder):
    """Audio encoder backed by a local transformers model (CLAP, AST, MERT-v0/HuBERT, wav2vec 2.0).

    Parameters
    ----------
    path : str or Path
        Local folder written by ``save_pretrained`` (model and processor).
    threads : int or None
        ``torch.set_num_threads`` applied before each run (None: leave torch's setting).
    musicnn_tags : bool
        Run the musicnn taggers too, for their calibrated tag evidence (default True).
    zero_shot : bool
        With a CLAP model, score the taxonomy tags zero-shot (default True).
    batch_size : int
        Windows per forward pass.
    max_windows : int
        At most this many windows per track, spread evenly (default 32: 5 min of CLAP/AST input).
    max_labels : int
        Classifier labels kept in ``tag_probs`` per track (most likely first).
    prompts : ZeroShotPrompts, optional
        Defaults to :func:`load_clap_prompts`.

    Raises
    ------
    ConfigError
        Missing folder, no ``config.json``, unsupported or remote-code model type, no weights,
        no loadable preprocessor.
    ModelError
        The weights do not load into the model class.
    """

    def __init__(self, path: str | Path, *, threads: int | None = None,
                 musicnn_tags: bool = True, zero_shot: bool = True, batch_size: int = 8,
                 max_windows: int = 32, max_labels: int = 50,
                 prompts: ZeroShotPrompts | None = None) -> None:
        if threads is not None and threads < 1:
            raise InvalidInput(f"threads must be >= 1 or None, got {threads}")
        if batch_size < 1 or max_windows < 1 or max_labels < 0:
            raise InvalidInput("batch_size and max_windows must be >= 1, max_labels >= 0")
        self.path, cfg = read_model_config(path)
        self.threads = threads
        self.batch_size = batch_size
        self.max_windows = max_windows
        self._set_threads()
        model_type = cfg["model_type"]
        backend: _Backend
        if model_type in CLAP_TYPES:
            backend = _Clap(self.path)
        elif model_type in AST_TYPES:
            backend = _AST(self.path, cfg, max_labels)
        else:
            backend = _SSL(self.path, model_type, cfg)
        self.backend = backend
        self.model_type = model_type
        self.name = f"{backend.kind}:{self.path.name}"
        self.max_labels = max_labels

        self.musicnn = None
        if musicnn_tags:
            from songlens.embeddings.musicnn_encoder import MusicnnEncoder

            self.musicnn = MusicnnEncoder(threads=threads)

        self.prompts: ZeroShotPrompts | None = None
        self._tag_matrix: dict[str, tuple[list[str], np.ndarray]] = {}
        if zero_shot and isinstance(backend, _Clap):
            self.prompts = prompts or load_clap_prompts()
            self._tag_matrix = self._encode_prompts(self.prompts)
        log.info("transformers audio encoder %s: %s, %d-d, %d Hz, %.1f s windows", self.name,
                 model_type, self.dim, backend.sample_rate, backend.window / backend.sample_rate)

    # -- AudioEncoder -----------------------------------------------------------------------
    @property
    def dim(self) -> int:
        return self.backend.dim

    def config(self) -> dict[str, Any]:
        b = self.backend
        return {"name": self.name, "dim": self.dim, "path": str(self.path),
                "model_type": self.model_type, "sample_rate": b.sample_rate,
                "window_s": round(b.window / b.sample_rate, 3), "max_windows": self.max_windows,
                "musicnn_tags": self.musicnn is not None, "zero_shot": bool(self._tag_matrix),
                "threads": self.threads}

    def analyse(self, y: np.ndarray) -> AudioAnalysis:
        """Embed mono 16 kHz audio ``y``; musicnn tags and CLAP zero-shot evidence if enabled."""
        y = np.asarray(y, dtype=np.float32)
        if y.ndim != 1 or y.size == 0:
            raise InvalidInput(f"audio must be a non-empty 1-D array, got shape {y.shape}")
        if not np.all(np.isfinite(y)):
            raise InvalidInput("audio has non-finite samples")
        vector, probs, n_windows = self._embed_track(y)
        tag_probs: dict[str, dict[str, float]] = {}
        extra: dict[str, Any] = {"n_windows": n_windows,
                                 "window_s": self.backend.window / self.backend.sample_rate}
        if self.musicnn is not None:
            m = self.musicnn.analyse(y)
            tag_probs.update(m.tag_probs)
            extra["musicnn"] = {"n_patches": m.extra.get("n_patches")}
        if probs is not None and self.max_labels:
            order = np.argsort(-probs, kind="stable")[: self.max_labels]
            tag_probs[self.name] = {self.backend.labels[i]: float(probs[i]) for i in order}
        if self._tag_matrix:
            scores, evidence = self._zero_shot(vector)
            extra["zero_shot"] = scores
            extra["evidence"] = evidence
        return AudioAnalysis(vector=vector, tag_probs=tag_probs, extra=extra)

    def encode_text(self, texts: list[str]) -> np.ndarray | None:
        """Unit text vectors in the CLAP audio space, shape ``(len(texts), dim)``; None for
        models without a text tower (AST, MERT)."""
        if not isinstance(self.backend, _Clap):
            return None
        import torch

        texts = [str(t) for t in texts]
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        self._set_threads()
        out = []
        with torch.inference_mode():
            for i in range(0, len(texts), 64):
                out.append(self.backend.encode_text(texts[i:i + 64]))
        return l2_normalise(np.concatenate(out))

    # -- internals --------------------------------------------------------------------------
    def _set_threads(self) -> None:
        import torch

        if self.threads is not None and torch.get_num_threads() != self.threads:
            torch.set_num_threads(self.threads)

    def windows(self, y: np.ndarray) -> list[np.ndarray]:
        """The model-rate windows ``analyse`` embeds (resampled, cut, capped, padded)."""
        b = self.backend
        if b.sample_rate != self.sample_rate:
            import librosa

            y = librosa.resample(y, orig_sr=self.sample_rate, target_sr=b.sample_rate,
                                 res_type="soxr_hq").astype(np.float32)
        starts = list(range(0, max(len(y), 1), b.window))
        if len(starts) > 1 and len(y) - starts[-1] < MIN_TAIL_S * b.sample_rate:
            starts.pop()
        if len(starts) > self.max_windows:
            pick = np.linspace(0, len(starts) - 1, self.max_windows).round().astype(int)
            starts = [starts[i] for i in pick]
        out = []
        for s in starts:
            w = y[s:s + b.window]
            if len(w) < b.min_samples:
                w = np.pad(w, (0, b.min_samples - len(w)))
            out.append(np.ascontiguousarray(w, dtype=np.float32))
        return out

    def _embed_track(self, y: np.ndarray) -> tuple[np.ndarray, np.ndarray | None, int]:
        import torch

        wins = self.windows(y)
        weights = np.array([len(w) for w in wins], dtype=np.float64)
        b = self.backend
        embs: list[np.ndarray | None] = [None] * len(wins)
        probs: list[np.ndarray | None] = [None] * len(wins)
        # batches of equal-length windows where the model cannot pad (wav2vec-style)
        groups: dict[int, list[int]] = {}
        for i, w in enumerate(wins):
            groups.setdefault(len(w) if b.same_length else 0, []).append(i)
        self._set_threads()
        try:
            with torch.inference_mode():
                for idx in groups.values():
                    for j in range(0, len(idx), self.batch_size):
                        chunk = idx[j:j + self.batch_size]
                        e, p = b.embed([wins[i] for i in chunk])
                        for k, i in enumerate(chunk):
                            embs[i] = e[k]
                            probs[i] = None if p is None else p[k]
        except (RuntimeError, ValueError) as exc:
            raise ModelError(f"{self.name} failed on a {len(y) / self.sample_rate:.1f} s track: "
                             f"{exc}") from exc
        w = weights / weights.sum()
        e = np.stack(embs).astype(np.float64)
        if b.kind == "clap":  # cosine space: average unit window vectors
            e = e / np.maximum(np.linalg.norm(e, axis=1, keepdims=True), 1e-12)
        vector = l2_normalise((w[:, None] * e).sum(axis=0))
        track_probs = None
        if probs[0] is not None:
            track_probs = (w[:, None] * np.stack(probs).astype(np.float64)).sum(axis=0)
        return vector, track_probs, len(wins)

    def _encode_prompts(self, prompts: ZeroShotPrompts) -> dict[str, tuple[list[str], np.ndarray]]:
        """Per dimension: the candidates (tags, then :data:`BACKGROUND` if configured) and their
        unit prompt vectors (several prompts of one candidate: the normalised mean)."""
        groups: list[tuple[str, str, tuple[str, ...]]] = []
        for dim, tags in prompts.prompts.items():
            if not tags:
                continue
            groups += [(dim, tag, ps) for tag, ps in tags.items()]
            if dim in prompts.background:
                groups.append((dim, BACKGROUND, prompts.background[dim]))
        vecs = self.encode_text([p for _, _, ps in groups for p in ps])
        out: dict[str, tuple[list[str], np.ndarray]] = {}
        rows: dict[str, list[np.ndarray]] = {}
        i = 0
        for dim, tag, ps in groups:
            out.setdefault(dim, ([], np.zeros(0)))[0].append(tag)
            rows.setdefault(dim, []).append(l2_normalise(vecs[i:i + len(ps)].mean(axis=0)))
            i += len(ps)
        return {dim: (names, np.stack(rows[dim])) for dim, (names, _) in out.items()}

    def _zero_shot(self, vector: np.ndarray) -> tuple[dict[str, dict[str, float]],
                                                     list[Evidence]]:
        """Softmax over each dimension's candidates of ``logit_scale · cos(audio, prompt)``;
        evidence for the ``top_k`` tags above chance (1 / number of candidates)."""
        assert self.prompts is not None and isinstance(self.backend, _Clap)
        scale = self.backend.logit_scale
        scores: dict[str, dict[str, float]] = {}
        evidence: list[Evidence] = []
        for dim, (names, mat) in self._tag_matrix.items():
            cos = mat.astype(np.float64) @ vector.astype(np.float64)
            z = scale * cos
            p = np.exp(z - z.max())
            p /= p.sum()
            scores[dim] = {t: float(v) for t, v in zip(names, p, strict=True) if t != BACKGROUND}
            chance = 1.0 / len(names)
            ranked = [i for i in np.argsort(-p, kind="stable") if names[i] != BACKGROUND]
            for rank, i in enumerate(ranked[: self.prompts.top_k]):
                if p[i] < chance:
                    break
                tag = names[i]
                evidence.append(Evidence(
                    dimension=dim, tag=tag, source="clap",
                    cue=self.prompts.prompts[dim][tag][0], p=float(p[i]),
                    detail={"model": self.name, "cosine": round(float(cos[i]), 4),
                            "rank": rank + 1}))
        return scores, evidence
