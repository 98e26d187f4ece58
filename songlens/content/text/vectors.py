"""Vectors from text: a sparse lyrics vector and a dense tag-profile vector.

Sparse: term-frequency weights with BM25 saturation ``tf·(k1+1) / (tf + k1·(1−b+b·len/avg))``
and no IDF (the Qdrant collection's IDF modifier supplies it from the corpus). Token ids are the
first 31 bits of a BLAKE2b digest of the UTF-8 token, stable across processes and machines
(Python's ``hash()`` is salted per process). Queries use the same function.

Dense tag profile (the ``tags`` space, beside the multilingual ``text`` vector; it was the
stand-in for Chinese text while the text model was English-only all-MiniLM-L6-v2, whose
vocabulary turns a Chinese lyric into ``[UNK]`` tokens). The tag profile places a song in the
taxonomy:
one block per dimension (language, style, scene, emotion, theme; 71 tags with the shipped
taxonomy), each block L2-normalised and scaled by a block weight, the whole vector unit-length.
Two songs are close when they share language, style, scene and emotion evidence, which is what
a text vector is meant to carry for cold-start recall, whatever language the lyrics are in.
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence

import numpy as np

from songlens.content.taxonomy import DIMENSIONS, Evidence, TagScore, Taxonomy
from songlens.content.text.scripts import CJK_CHAR

__all__ = [
    "BLOCK_WEIGHTS",
    "cjk_share",
    "sparse_lyrics_vector",
    "tag_profile_dim",
    "tag_profile_vector",
    "token_index",
]

#: Relative weight of each dimension block in the tag profile.
BLOCK_WEIGHTS: dict[str, float] = {"language": 1.0, "style": 1.0, "scene": 0.8, "emotion": 1.0,
                                   "theme": 0.8}

_LETTER = re.compile(r"[^\W\d_]", re.U)


def token_index(token: str) -> int:
    """Stable 31-bit id of a token (BLAKE2b, not the per-process salted ``hash()``)."""
    digest = hashlib.blake2b(token.encode("utf-8", "surrogatepass"), digest_size=4).digest()
    return int.from_bytes(digest, "little") & 0x7FFFFFFF


def sparse_lyrics_vector(tokens: Iterable[str], *, k1: float = 1.2, b: float = 0.75,
                         avg_len: float = 150.0) -> tuple[list[int], list[float]]:
    """Sparse BM25-TF vector of tokens (lyrics or a query).

    Parameters
    ----------
    tokens : iterable of str
        Content tokens (``Tokenizer.content_tokens``); repeated tokens raise the term frequency.
    k1, b, avg_len : float
        BM25 saturation and length normalisation (``avg_len`` in tokens).

    Returns
    -------
    indices, values : list of int, list of float
        Sorted unique indices (hash collisions summed) and positive weights.
    """
    tf = Counter(t.lower() for t in tokens if t and not t.isspace())
    if not tf:
        return [], []
    length = sum(tf.values())
    norm = k1 * (1.0 - b + b * length / max(avg_len, 1.0))
    acc: dict[int, float] = {}
    for tok, n in tf.items():
        idx = token_index(tok)
        acc[idx] = acc.get(idx, 0.0) + n * (k1 + 1.0) / (n + norm)
    indices = sorted(acc)
    return indices, [float(acc[i]) for i in indices]


def tag_profile_dim(taxonomy: Taxonomy) -> int:
    """Length of :func:`tag_profile_vector` for ``taxonomy``."""
    return sum(len(taxonomy.tags[d]) for d in DIMENSIONS)


def tag_profile_vector(evidence_or_tag_scores: Sequence[Evidence] | Mapping[str, Sequence],
                       taxonomy: Taxonomy) -> np.ndarray:
    """Dense unit vector over all taxonomy tags, dimension-blocked.

    Parameters
    ----------
    evidence_or_tag_scores : list of Evidence, or mapping
        Raw evidence (per tag the noisy-OR of its ``p``), or the output of
        :func:`songlens.content.tagging.fusion.fuse_tags` (``{dimension: [TagScore | dict]}``), or
        ``{dimension: {tag: score}}``.
    taxonomy : Taxonomy

    Returns
    -------
    np.ndarray [shape=(tag_profile_dim(taxonomy),), dtype=float32]
        Unit length, or all zeros when there is no evidence at all.
    """
    scores: dict[tuple[str, str], float] = {}
    if isinstance(evidence_or_tag_scores, Mapping):
        for dim, items in evidence_or_tag_scores.items():
            if isinstance(items, Mapping):
                pairs = list(items.items())
            else:
                pairs = [(i.tag, i.score) if isinstance(i, TagScore) else (i["tag"], i["score"])
                         for i in items]
            for tag, score in pairs:
                if (dim, tag) in taxonomy:
                    scores[(dim, taxonomy.canonical(dim, tag))] = float(score)
    else:
        miss: dict[tuple[str, str], float] = {}
        for ev in evidence_or_tag_scores:
            if (ev.dimension, ev.tag) in taxonomy and ev.p > 0:
                key = (ev.dimension, taxonomy.canonical(ev.dimension, ev.tag))
                miss[key] = miss.get(key, 1.0) * (1.0 - min(1.0, float(ev.p)))
        scores = {k: 1.0 - v for k, v in miss.items()}
    blocks = []
    for dim in DIMENSIONS:
        block = np.array([scores.get((dim, t), 0.0) for t in taxonomy.tags[dim]], np.float64)
        n = np.linalg.norm(block)
        blocks.append(block / n * BLOCK_WEIGHTS.get(dim, 1.0) if n > 0 else block)
    vec = np.concatenate(blocks)
    n = np.linalg.norm(vec)
    return (vec / n if n > 0 else vec).astype(np.float32)


def cjk_share(text: str | None) -> float:
    """Share of CJK (Han, kana, Hangul) characters among all letters of ``text``, in [0, 1]."""
    if not text:
        return 0.0
    letters = len(_LETTER.findall(text))
    return len(CJK_CHAR.findall(text)) / letters if letters else 0.0
