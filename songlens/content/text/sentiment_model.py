"""Sentiment from a local text-classification model, when ``text.sentiment_model`` names one.

Any Hugging Face sequence-classification checkpoint in a local folder works (for Chinese, e.g. a
RoBERTa or BERT fine-tuned on reviews or Weibo posts); nothing is downloaded. Its labels are read
from ``config.id2label`` and given a valence in [-1, 1]:

* names meaning negative / neutral / positive (``negative``, ``neg``, ``负面``, ``消极``,
  ``neutral``, ``中性``, ``positive``, ``正面``, ``积极`` …) → −1 / 0 / +1;
* star ratings (``1 star`` … ``5 stars``) → evenly from −1 to +1;
* unnamed labels (``LABEL_0``, ``LABEL_1`` [, ``LABEL_2``]) → the usual order negative, [neutral,]
  positive.

A text's valence is the expectation over the model's softmax. Anything else is a ``ConfigError``
at start-up that lists the labels, rather than a guess.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from songlens.errors import ConfigError

__all__ = ["SentimentModel", "label_valences"]

log = logging.getLogger(__name__)

_NEG = re.compile(r"^(neg(ative)?|负面|消极|负向|差评|bad)$", re.I)
_NEU = re.compile(r"^(neu(tral)?|中性|中立|一般)$", re.I)
_POS = re.compile(r"^(pos(itive)?|正面|积极|正向|好评|good)$", re.I)
_STARS = re.compile(r"^([1-9])\s*stars?$", re.I)
_UNNAMED = re.compile(r"^label_(\d+)$", re.I)


def label_valences(id2label: dict[int, str]) -> np.ndarray:
    """Valence per class index, from the model's label names (see the module docstring)."""
    n = len(id2label)
    names = [str(id2label[i]).strip() for i in range(n)]
    named = []
    for name in names:
        if _NEG.match(name):
            named.append(-1.0)
        elif _NEU.match(name):
            named.append(0.0)
        elif _POS.match(name):
            named.append(1.0)
        else:
            named.append(None)
    if all(v is not None for v in named) and min(named) < 0 < max(named):
        return np.array(named, dtype=np.float32)
    stars = [_STARS.match(n) for n in names]
    if all(stars) and n >= 2:
        s = np.array([int(m.group(1)) for m in stars], dtype=np.float32)
        return (s - s.min()) / (s.max() - s.min()) * 2 - 1
    if all(_UNNAMED.match(n) for n in names) and n in (2, 3):
        return np.array([-1.0, 1.0] if n == 2 else [-1.0, 0.0, 1.0], dtype=np.float32)
    raise ConfigError(f"text.sentiment_model: cannot tell which labels are positive or negative "
                      f"from {names}; expected names like negative/neutral/positive, '1 star' … "
                      "'5 stars', or two or three unnamed labels")


class SentimentModel:
    """Valence of texts from a local sequence-classification model (thread-safe)."""

    def __init__(self, path: str | Path, *, device: str = "cpu", max_length: int = 128,
                 batch_size: int = 32) -> None:
        folder = Path(path).expanduser()
        if not (folder / "config.json").is_file():
            raise ConfigError(f"text.sentiment_model: {folder} is not a model folder "
                              "(no config.json); give a local folder saved with save_pretrained")
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        try:
            self.tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True)
            self.model = AutoModelForSequenceClassification.from_pretrained(
                folder, local_files_only=True).to(device).eval()
        except (OSError, ValueError, KeyError) as exc:
            raise ConfigError(f"text.sentiment_model: cannot load {folder}: {exc}") from exc
        self.valences = label_valences(self.model.config.id2label)
        self.device, self.max_length, self.batch_size = device, max_length, batch_size
        self.name = f"sentiment:{folder.name}"
        self._lock = threading.Lock()
        log.info("sentiment model %s, labels %s → valences %s", folder,
                 list(self.model.config.id2label.values()), self.valences.tolist())

    def valence(self, texts: Sequence[str]) -> np.ndarray:
        """Valence in [-1, 1] of each text (``float32``, same order)."""
        import torch

        out = np.zeros(len(texts), dtype=np.float32)
        for start in range(0, len(texts), self.batch_size):
            batch = [t or " " for t in texts[start:start + self.batch_size]]
            enc = self.tokenizer(batch, padding=True, truncation=True,
                                 max_length=self.max_length, return_tensors="pt").to(self.device)
            with self._lock, torch.inference_mode():
                logits = self.model(**enc).logits.float()
            probs = torch.softmax(logits, dim=-1).cpu().numpy()
            out[start:start + len(batch)] = probs @ self.valences
        return np.clip(out, -1.0, 1.0)
