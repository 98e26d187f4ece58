"""A free-text prompt read by the dense text model: its query vector, and the taxonomy tags whose
descriptions it is closest to (the route from "适合深夜学习的安静钢琴" to songs tagged 学习 /
安静 / 钢琴 by their comments and audio, whatever language the prompt is in).

Each tag's description is its Chinese and English names (``configs/taxonomy.yaml``) plus any
``desc`` strings the taxonomy gives it. Tag descriptions are embedded once per text model, in
the query role (a prompt against a description is a symmetric comparison).
"""

from __future__ import annotations

import threading
import weakref
from dataclasses import dataclass

import numpy as np

from songlens.catalog.pipeline import Catalog
from songlens.content.taxonomy import Taxonomy
from songlens.embeddings.encoders import TextEncoder

__all__ = ["PROMPT_DIMENSIONS", "dense_prompt_tags", "tag_descriptions"]

#: dimensions a prompt's tags are read in (a prompt's language is not the songs' language)
PROMPT_DIMENSIONS = ("style", "scene", "emotion", "theme")
#: a tag is read from a prompt when its similarity is this many standard deviations above the
#: mean over all tags (set a priori, not tuned on the judged queries: benchmarks/text_search.py)
Z_MIN = 2.0
MAX_TAGS = 3


@dataclass(frozen=True)
class _Descriptions:
    keys: tuple[tuple[str, str], ...]
    matrix: np.ndarray


_cache: weakref.WeakKeyDictionary[TextEncoder, dict[int, _Descriptions]] = \
    weakref.WeakKeyDictionary()
_lock = threading.Lock()


def tag_descriptions(taxonomy: Taxonomy) -> list[tuple[str, str, str]]:
    """``(dimension, tag, description)`` for every tag of :data:`PROMPT_DIMENSIONS`."""
    out = []
    for dim in PROMPT_DIMENSIONS:
        for tag in taxonomy.tags[dim]:
            en = taxonomy.en[(dim, tag)]
            extra = taxonomy.descriptions.get((dim, tag), ())
            names = tag if en == tag else f"{tag} {en}"
            out.append((dim, tag, "; ".join([names, *extra])))
    return out


def _descriptions(encoder: TextEncoder, taxonomy: Taxonomy) -> _Descriptions:
    with _lock:
        per = _cache.setdefault(encoder, {})
        got = per.get(id(taxonomy))
        if got is None:
            items = tag_descriptions(taxonomy)
            got = _Descriptions(keys=tuple((d, t) for d, t, _ in items),
                                matrix=encoder.encode_queries([s for _, _, s in items]))
            per[id(taxonomy)] = got
        return got


def dense_prompt_tags(catalog: Catalog, query: np.ndarray) -> dict[str, dict[str, float]]:
    """Tags whose descriptions stand out for the prompt vector ``query`` (z-score over all tags
    at least :data:`Z_MIN`, at most :data:`MAX_TAGS`), weighted by the z-score / 4 capped at 1."""
    desc = _descriptions(catalog.models.text, catalog.taxonomy)
    sims = desc.matrix @ np.asarray(query, dtype=np.float32)
    z = (sims - sims.mean()) / (sims.std() or 1.0)
    out: dict[str, dict[str, float]] = {}
    for i in np.argsort(-z)[:MAX_TAGS]:
        if z[i] < Z_MIN:
            break
        dim, tag = desc.keys[i]
        out.setdefault(dim, {})[tag] = round(float(min(1.0, z[i] / 4.0)), 3)
    return out
