"""musicnn taggers (MSD and MTT) in PyTorch, with weights read from the ``musicnn`` wheel.

The PyPI wheel ``musicnn==0.1.0`` (ISC licence) is installed with ``--no-deps`` purely as a weights
carrier: its Python code imports TensorFlow and is never imported here. The checkpoint is read by
:func:`~songlens.content.musicnn.checkpoint.read_checkpoint`, the tag lists are read from the
wheel's ``configuration.py`` with :mod:`ast` (no import).
"""

from __future__ import annotations

import ast
import importlib.util
import logging
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from songlens.content.cores import CORES
from songlens.content.musicnn.checkpoint import read_checkpoint
from songlens.content.musicnn.frontend import SR, log_mel, make_patches
from songlens.content.musicnn.model import Musicnn
from songlens.content.musicnn.runtime import OUTPUTS, OnnxMusicnn
from songlens.errors import InvalidInput, ModelError

__all__ = ["MODELS", "MusicnnOutput", "MusicnnTagger", "analyse_many", "load_musicnn",
           "musicnn_dir", "musicnn_labels", "musicnn_patches"]

log = logging.getLogger(__name__)

#: Model name → the label list's name in the wheel's ``configuration.py``.
MODELS: dict[str, str] = {"MSD_musicnn": "MSD_LABELS", "MTT_musicnn": "MTT_LABELS"}


def musicnn_dir() -> Path:
    """Folder of the installed ``musicnn`` wheel (found without importing its code)."""
    spec = importlib.util.find_spec("musicnn")
    locations = list(spec.submodule_search_locations or []) if spec else []
    if not locations:
        raise ModelError("the musicnn weights are not installed; run "
                         "`pip install --no-deps musicnn==0.1.0`")
    return Path(locations[0])


def _check_model(model: str) -> None:
    if model not in MODELS:
        raise InvalidInput(f"unknown musicnn model {model!r}; allowed: {', '.join(MODELS)}")


def musicnn_labels(model: str) -> tuple[str, ...]:
    """The 50 tag names of ``model``, in output order, from the wheel's ``configuration.py``."""
    _check_model(model)
    path = musicnn_dir() / "configuration.py"
    try:
        tree = ast.parse(path.read_text(encoding="utf-8"))
    except (OSError, SyntaxError) as exc:
        raise ModelError(f"cannot read musicnn tag lists from {str(path)!r}: {exc}") from exc
    for node in tree.body:
        if (isinstance(node, ast.Assign) and len(node.targets) == 1
                and isinstance(node.targets[0], ast.Name) and node.targets[0].id == MODELS[model]):
            labels = tuple(str(t) for t in ast.literal_eval(node.value))
            if len(labels) != 50:
                raise ModelError(f"{MODELS[model]} in {str(path)!r} has {len(labels)} tags, not 50")
            return labels
    raise ModelError(f"{str(path)!r} defines no {MODELS[model]}")


def load_musicnn(model: str) -> Musicnn:
    """A PyTorch model with ``model``'s trained weights, in eval mode, frozen (a new one per
    call: each tagger owns its model)."""
    _check_model(model)
    folder = musicnn_dir() / model
    if not (folder / ".index").is_file():
        raise ModelError(f"musicnn checkpoint {str(folder / '.index')!r} not found; reinstall "
                         "with `pip install --no-deps musicnn==0.1.0`")
    net = Musicnn(num_classes=len(musicnn_labels(model)))
    net.load_tf_weights(read_checkpoint(str(folder) + "/"))
    net.eval()
    for p in net.parameters():
        p.requires_grad_(False)
    log.info("loaded musicnn model %s from %s", model, folder)
    return net


def musicnn_patches(y: np.ndarray, *, sr: int = SR) -> torch.Tensor:
    """musicnn input patches ``(n_patches, 187, 96)`` for mono audio ``y`` at 16 kHz."""
    y = np.asarray(y)
    if y.ndim != 1:
        raise InvalidInput(f"audio must be mono with shape (n,), got shape {y.shape}")
    if y.size == 0:
        raise InvalidInput("audio is empty (0 samples)")
    return make_patches(log_mel(y=y, sr=sr))


@dataclass
class MusicnnOutput:
    """One track through one musicnn model.

    Attributes
    ----------
    model : str
    tags : list[str]
        The model's 50 tag names, in column order.
    patch_probs : np.ndarray [shape=(n_patches, 50)]
        Sigmoid outputs per 3 s patch (the original's *taggram*).
    track_probs : np.ndarray [shape=(50,)]
        Mean of ``patch_probs`` over patches.
    penultimate : np.ndarray [shape=(n_patches, 200)]
        The batch-normalised 200-unit layer before the output.
    mean_pool, max_pool : np.ndarray [shape=(n_patches, 753)]
        Temporal mean / max pooling of the front- and mid-end features, per patch.
    """

    model: str
    tags: list[str]
    patch_probs: np.ndarray
    track_probs: np.ndarray
    penultimate: np.ndarray
    mean_pool: np.ndarray
    max_pool: np.ndarray
    patch_starts_s: np.ndarray = field(default_factory=lambda: np.zeros(0))

    def tag_probs(self) -> dict[str, float]:
        """``{tag: track probability}``."""
        return {t: float(p) for t, p in zip(self.tags, self.track_probs, strict=True)}


class MusicnnTagger:
    """A musicnn tagger.

    Parameters
    ----------
    model : {"MSD_musicnn", "MTT_musicnn"}
    batch_size : int
        Patches per forward pass. Small batches are fastest on CPU (the timbral front-end's
        ~9 MB per patch stays in cache).
    threads : int or None
        Most threads a call runs batches on; None: the cores free now
        (:data:`songlens.content.cores.CORES`).
    """

    def __init__(self, model: str = "MSD_musicnn", *, batch_size: int = 2,
                 threads: int | None = None) -> None:
        _check_model(model)
        if batch_size < 1:
            raise InvalidInput(f"batch_size must be >= 1, got {batch_size}")
        if threads is not None and threads < 1:
            raise InvalidInput(f"threads must be >= 1 or None, got {threads}")
        self.model = model
        self.batch_size = batch_size
        self.threads = threads
        self.tags: list[str] = list(musicnn_labels(model))
        #: the PyTorch port: the model's definition, exported to :attr:`runtime`
        self.net = load_musicnn(model)
        self.runtime = OnnxMusicnn(self.net)

    def analyse(self, y: np.ndarray) -> MusicnnOutput:
        """Tag mono 16 kHz audio ``y`` of shape ``(n,)``."""
        return self.analyse_patches(musicnn_patches(y))

    def analyse_patches(self, patches: torch.Tensor | np.ndarray) -> MusicnnOutput:
        """Tag input patches ``(n_patches, frames, 96)`` from :func:`musicnn_patches`."""
        return analyse_many([self], patches, threads=self.threads)[0]

    def __repr__(self) -> str:
        return f"MusicnnTagger(model={self.model!r})"


def analyse_many(taggers: Sequence[MusicnnTagger], patches: torch.Tensor | np.ndarray, *,
                 threads: int | None = None) -> list[MusicnnOutput]:
    """Every tagger on the same patches, the batches of all of them spread over the cores
    leased from :data:`~songlens.content.cores.CORES` (at most ``threads``)."""
    x = np.ascontiguousarray(torch.as_tensor(patches, dtype=torch.float32).numpy())
    if x.ndim != 3 or x.shape[0] == 0:
        raise InvalidInput(f"patches must have shape (n_patches, frames, 96), got "
                           f"{tuple(x.shape)}")
    jobs = [(t, i) for t in taggers for i in range(0, x.shape[0], t.batch_size)]

    def run(job: tuple[MusicnnTagger, int]) -> dict[str, np.ndarray]:
        t, i = job
        return t.runtime.run(x[i:i + t.batch_size])

    with CORES.lease(threads) as n:
        if n == 1 or len(jobs) == 1:
            results = [run(j) for j in jobs]
        else:
            with ThreadPoolExecutor(max_workers=n, thread_name_prefix="musicnn") as pool:
                results = list(pool.map(run, jobs))
    starts = np.arange(x.shape[0], dtype=np.float64) * x.shape[1] * 256 / SR
    outs: list[MusicnnOutput] = []
    for t in taggers:
        mine = [r for (tj, _), r in zip(jobs, results, strict=True) if tj is t]
        res = {k: np.concatenate([r[k] for r in mine], axis=0).astype(np.float32)
               for k in OUTPUTS}
        outs.append(MusicnnOutput(
            model=t.model, tags=list(t.tags), patch_probs=res["probs"],
            track_probs=res["probs"].mean(axis=0), penultimate=res["penultimate"],
            mean_pool=res["mean_pool"], max_pool=res["max_pool"], patch_starts_s=starts))
    return outs
