"""How a song's audio tags change over time: the audio taggers' per-patch outputs (musicnn's
*taggram*) cut down to the few tags that matter for the song, compact enough to keep with it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

__all__ = ["active_segments", "tag_timeline"]


def active_segments(on: Sequence[bool], hop_s: float) -> list[list[float]]:
    """``[start_s, end_s]`` of each run of patches where ``on`` holds (patches ``hop_s`` apart)."""
    segments, start = [], None
    for i, flag in enumerate([*on, False]):
        if flag and start is None:
            start = i
        elif not flag and start is not None:
            segments.append([round(start * hop_s, 2), round(i * hop_s, 2)])
            start = None
    return segments


def tag_timeline(taggrams: Mapping[str, np.ndarray], labels: Mapping[str, Sequence[str]], *,
                 hop_s: float, top_n: int = 8, digits: int = 3) -> dict[str, Any] | None:
    """The ``top_n`` tags with the highest mean activation, and their activation per patch.

    Parameters
    ----------
    taggrams : mapping of model name → np.ndarray [shape=(n_patches, n_tags)]
        Per-patch tag probabilities in [0, 1], one array per model (same patches).
    labels : mapping of model name → sequence of str
        Each model's tag names, in column order. A tag two models share (``rock``) takes the
        higher of their values, patch by patch.
    hop_s : float
        Seconds from one patch to the next.

    Returns
    -------
    dict or None
        ``{"hop_s", "tags": [top_n names, strongest first], "values": [[per patch] per tag]}``
        rounded to ``digits``; None when there is no taggram.
    """
    merged: dict[str, np.ndarray] = {}
    for model, gram in taggrams.items():
        gram = np.asarray(gram, dtype=np.float32)
        names = list(labels.get(model, ()))
        if gram.ndim != 2 or gram.shape[1] != len(names) or gram.shape[0] == 0:
            continue
        for j, name in enumerate(names):
            col = gram[:, j]
            merged[name] = col if name not in merged or merged[name].shape != col.shape \
                else np.maximum(merged[name], col)
    if not merged:
        return None
    n = max(v.shape[0] for v in merged.values())
    merged = {k: v for k, v in merged.items() if v.shape[0] == n}
    top = sorted(merged, key=lambda k: (-float(merged[k].mean()), k))[:top_n]
    return {"hop_s": round(float(hop_s), 4), "tags": top,
            "values": [[round(float(x), digits) for x in merged[t]] for t in top]}
