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
cost of very long tracks); windows run in batches under ``torch.inference_mode`` (torch's thread
count is set once, by :func:`~songlens.embeddings.models.load_models`); window results are
averaged weighted by their duration. The same samples always give the same vector.

The model families and folder checks are in :mod:`.transformers_backends`, the zero-shot prompts
and their scoring in :mod:`.zero_shot`.

The musicnn taggers keep supplying tag evidence (``musicnn_tags=True``, the default): they are
cheap, calibrated against the taxonomy (``configs/audio_tags.yaml``), and a CLAP/MERT/AST
embedding has no calibrated tag mapping of its own. Their probabilities appear in ``tag_probs``
exactly as with the musicnn encoder, while the vector comes from the transformers model.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np

from songlens.embeddings.encoders import AudioAnalysis, AudioEncoder, l2_normalise
from songlens.embeddings.transformers_backends import (
    MODEL_TYPES,
    ClapBackend,
    load_backend,
    read_model_config,
)
from songlens.embeddings.zero_shot import (
    ZeroShotPrompts,
    ZeroShotTagger,
    load_clap_prompts,
    parse_clap_prompts,
)
from songlens.errors import InvalidInput, ModelError

__all__ = ["MODEL_TYPES", "TransformersAudioEncoder", "ZeroShotPrompts", "load_clap_prompts",
           "parse_clap_prompts", "read_model_config"]

log = logging.getLogger(__name__)

#: A last window shorter than this is dropped when the track has other windows.
MIN_TAIL_S = 1.0


# -- the encoder --------------------------------------------------------------------------------
class TransformersAudioEncoder(AudioEncoder):
    """Audio encoder backed by a local transformers model (CLAP, AST, MERT-v0/HuBERT, wav2vec 2.0).

    Parameters
    ----------
    path : str or Path
        Local folder written by ``save_pretrained`` (model and processor).
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
        Defaults to :func:`~songlens.embeddings.zero_shot.load_clap_prompts`.

    Raises
    ------
    ConfigError
        Missing folder, no ``config.json``, unsupported or remote-code model type, no weights,
        no loadable preprocessor.
    ModelError
        The weights do not load into the model class.
    """

    def __init__(self, path: str | Path, *, musicnn_tags: bool = True, zero_shot: bool = True,
                 batch_size: int = 8, max_windows: int = 32, max_labels: int = 50,
                 prompts: ZeroShotPrompts | None = None) -> None:
        if batch_size < 1 or max_windows < 1 or max_labels < 0:
            raise InvalidInput("batch_size and max_windows must be >= 1, max_labels >= 0")
        self.path, cfg = read_model_config(path)
        self.batch_size = batch_size
        self.max_windows = max_windows
        model_type = cfg["model_type"]
        self.backend = backend = load_backend(self.path, cfg, max_labels=max_labels)
        self.model_type = model_type
        self.name = f"{backend.kind}:{self.path.name}"
        self.max_labels = max_labels

        self.musicnn = None
        if musicnn_tags:
            from songlens.embeddings.musicnn_encoder import MusicnnEncoder

            self.musicnn = MusicnnEncoder()

        self.prompts: ZeroShotPrompts | None = None
        self.zero_shot: ZeroShotTagger | None = None
        if zero_shot and isinstance(backend, ClapBackend):
            self.prompts = prompts or load_clap_prompts()
            self.zero_shot = ZeroShotTagger(self.prompts, encode_text=self.encode_text,
                                            logit_scale=backend.logit_scale, model=self.name)
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
                "musicnn_tags": self.musicnn is not None,
                "zero_shot": bool(self.zero_shot and self.zero_shot.matrix)}

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
            for k in ("taggram", "taggram_tags", "patch_seconds"):  # the tag timeline
                if k in m.extra:
                    extra[k] = m.extra[k]
            if m.patch_vectors is not None:  # what the instrument head reads
                extra["musicnn_patch_vectors"] = {"config": self.musicnn.config(),
                                                  "vectors": m.patch_vectors}
        if probs is not None and self.max_labels:
            order = np.argsort(-probs, kind="stable")[: self.max_labels]
            tag_probs[self.name] = {self.backend.labels[i]: float(probs[i]) for i in order}
        if self.zero_shot and self.zero_shot.matrix:
            scores, evidence = self.zero_shot.score(vector)
            extra["zero_shot"] = scores
            extra["evidence"] = evidence
        return AudioAnalysis(vector=vector, tag_probs=tag_probs, extra=extra)

    def encode_text(self, texts: list[str]) -> np.ndarray | None:
        """Unit text vectors in the CLAP audio space, shape ``(len(texts), dim)``; None for
        models without a text tower (AST, MERT)."""
        if not isinstance(self.backend, ClapBackend):
            return None
        import torch

        texts = [str(t) for t in texts]
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        out = []
        with torch.inference_mode():
            for i in range(0, len(texts), 64):
                out.append(self.backend.encode_text(texts[i:i + 64]))
        return l2_normalise(np.concatenate(out))

    # -- internals --------------------------------------------------------------------------
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
