"""Audio encoder from the musicnn taggers: pooled penultimate features of MSD and MTT musicnn.

The vector is, for each model, the track pooling of the 200-unit penultimate layer over 3 s
patches, each block L2-normalised, concatenated, and L2-normalised again.

Default pooling is ``"mean"`` (2 x 200 = 400 dims). It is the representation musicnn's authors
use for track-level features, and it is length-invariant: a 10 s clip posted to the similarity
endpoint and the full track it comes from land close together. ``"mean+std"`` and ``"mean+max"``
(800 dims) add how the track varies over time, which helps tell apart songs with the same overall
timbre but different dynamics; the std block is zero for a one-patch clip, so use them for
track-to-track similarity only.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import numpy as np

from songlens.content.musicnn.tagger import MODELS, MusicnnTagger, analyse_many, musicnn_patches
from songlens.embeddings.encoders import AudioAnalysis, AudioEncoder, l2_normalise
from songlens.errors import InvalidInput

__all__ = ["MusicnnEncoder", "POOLINGS"]

log = logging.getLogger(__name__)

#: Pooling name → the statistics over patches it concatenates (per model).
POOLINGS: dict[str, tuple[str, ...]] = {
    "mean": ("mean",),
    "mean+std": ("mean", "std"),
    "mean+max": ("mean", "max"),
}
PENULTIMATE_UNITS = 200


def _pool(x: np.ndarray, stat: str) -> np.ndarray:
    if stat == "mean":
        return x.mean(axis=0)
    if stat == "std":
        return x.std(axis=0)
    return x.max(axis=0)


class MusicnnEncoder(AudioEncoder):
    """Embeds a track with the musicnn taggers and reports their tag probabilities.

    Parameters
    ----------
    models : sequence of str
        Any of ``"MSD_musicnn"``, ``"MTT_musicnn"`` (order fixes the vector layout).
    pooling : {"mean", "mean+std", "mean+max"}
        How patch-level penultimate features become one track vector.
    threads : int or None
        Most cores one song's models run on; None: the cores free now (measured per song).
    """

    name = "musicnn"

    def __init__(self, models: Sequence[str] = ("MSD_musicnn", "MTT_musicnn"), *,
                 pooling: str = "mean", threads: int | None = None) -> None:
        models = tuple(models)
        if not models:
            raise InvalidInput(f"MusicnnEncoder needs at least one model; allowed: "
                               f"{', '.join(MODELS)}")
        if len(set(models)) != len(models):
            raise InvalidInput(f"duplicate musicnn models in {list(models)}")
        if pooling not in POOLINGS:
            raise InvalidInput(f"unknown pooling {pooling!r}; allowed: {', '.join(POOLINGS)}")
        self.models = models
        self.pooling = pooling
        self.threads = threads
        self.taggers = [MusicnnTagger(m, threads=threads) for m in models]

    @property
    def segment_dim(self) -> int:  # type: ignore[override]
        return len(self.models) * PENULTIMATE_UNITS

    @property
    def dim(self) -> int:
        return len(self.models) * len(POOLINGS[self.pooling]) * PENULTIMATE_UNITS

    def config(self) -> dict[str, Any]:
        return {"name": self.name, "dim": self.dim, "models": list(self.models),
                "pooling": self.pooling}

    def analyse(self, y: np.ndarray) -> AudioAnalysis:
        """Embed mono 16 kHz audio ``y`` (shape ``(n,)``); the log-mel is computed once for both
        models, whose patch batches share the free cores."""
        patches = musicnn_patches(y)
        blocks: list[np.ndarray] = []
        tag_probs: dict[str, dict[str, float]] = {}
        taggrams: dict[str, np.ndarray] = {}
        per_patch: list[np.ndarray] = []
        outs = analyse_many(self.taggers, patches, threads=self.threads)
        for tagger, out in zip(self.taggers, outs, strict=True):
            per_patch.append(l2_normalise(out.penultimate))
            for stat in POOLINGS[self.pooling]:
                blocks.append(l2_normalise(_pool(out.penultimate, stat)))
            tag_probs[tagger.model] = out.tag_probs()
            taggrams[tagger.model] = out.patch_probs
        vector = l2_normalise(np.concatenate(blocks))
        extra = {
            "n_patches": int(patches.shape[0]),
            "patch_seconds": float(patches.shape[1] * 256 / 16000),
            "taggram": taggrams,
            "taggram_tags": {t.model: list(t.tags) for t in self.taggers},
        }
        return AudioAnalysis(vector=vector, tag_probs=tag_probs, extra=extra,
                             patch_vectors=l2_normalise(np.concatenate(per_patch, axis=1)))
