"""musicnn (Pons & Serra 2019) audio taggers, ported to PyTorch from the original TF checkpoints."""

from songlens.content.musicnn.checkpoint import read_checkpoint
from songlens.content.musicnn.frontend import log_mel, make_patches
from songlens.content.musicnn.model import Musicnn
from songlens.content.musicnn.tagger import (
    MODELS,
    MusicnnOutput,
    MusicnnTagger,
    analyse_many,
    load_musicnn,
    musicnn_labels,
    musicnn_patches,
)

__all__ = [
    "MODELS",
    "Musicnn",
    "MusicnnOutput",
    "MusicnnTagger",
    "analyse_many",
    "load_musicnn",
    "log_mel",
    "make_patches",
    "musicnn_labels",
    "musicnn_patches",
    "read_checkpoint",
]
