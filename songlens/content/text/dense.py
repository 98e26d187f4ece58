"""What the dense text model adds to a song's text analysis: zero-shot tags and sentiment.

The lyric lines and the comments that weigh most are embedded once, in one batch; the same
vectors feed the zero-shot tagger (:mod:`songlens.content.tagging.text_zero_shot`) and the
sentiment head (:mod:`.sentiment_head`). Caps keep one song's cost bounded (``max_lines`` distinct
lines, ``max_comments`` comments by weight); texts past them are left to the lexicon.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from songlens.content.tagging.text_zero_shot import TextTagger, zero_shot_evidence
from songlens.content.taxonomy import Evidence
from songlens.content.text.comments import WeightedComment
from songlens.content.text.lexicon import CueHit
from songlens.content.text.sentiment import SentimentLexicon, weighted_valence
from songlens.content.text.sentiment_head import SentimentHead

__all__ = ["DenseAnalysis", "DenseText", "dense_analysis"]


@dataclass(frozen=True)
class DenseText:
    """The dense text model as text analysis uses it.

    ``encode``: texts → unit vectors (the model's symmetric role, ``encode_queries``);
    ``tagger`` and ``sentiment`` are optional (``None``: lexicon tags / lexicon sentiment).
    """

    encode: Callable[[list[str]], np.ndarray]
    model: str
    tagger: TextTagger | None = None
    sentiment: SentimentHead | None = None
    max_lines: int = 40
    max_comments: int = 40


@dataclass
class DenseAnalysis:
    """Evidence for the tagger's dimensions, and per-text valences (``None`` without a head)."""

    evidence: list[Evidence]
    dimensions: tuple[str, ...]
    lyric_valence: list[float] | None
    comment_valence: list[float] | None
    n_lines: int
    n_comments: int


def dense_analysis(dense: DenseText, *, lines: Sequence[str], counts: Sequence[int],
                   line_hits: Sequence[Sequence[CueHit]], line_tokens: Sequence[Sequence[str]],
                   comments: Sequence[WeightedComment],
                   comment_hits: Sequence[Sequence[CueHit]],
                   comment_tokens: Sequence[Sequence[str]],
                   lexicon: SentimentLexicon, thresholds: dict[str, float],
                   source_weights: dict[str, float]) -> DenseAnalysis:
    """Embed the song's texts once and score them (see the module docstring)."""
    nl, nc = min(len(lines), dense.max_lines), min(len(comments), dense.max_comments)
    texts = list(lines[:nl]) + [c.text for c in comments[:nc]]
    vecs = dense.encode(texts) if texts else np.zeros((0, 1), dtype=np.float32)
    evidence: list[Evidence] = []
    dims: tuple[str, ...] = ()
    tagger = dense.tagger
    if tagger is not None and tagger.calibration is not None:
        dims = tagger.dims
        default = source_weights.get("default", 0.5)
        if nl:
            evidence += zero_shot_evidence(
                tagger, vecs[:nl], texts[:nl], line_hits[:nl], [float(n) for n in counts[:nl]],
                source="lyrics", thresholds=thresholds,
                source_weight=source_weights.get("lyrics", default))
        if nc:
            evidence += zero_shot_evidence(
                tagger, vecs[nl:], texts[nl:], comment_hits[:nc],
                [c.weight for c in comments[:nc]], source="comments", thresholds=thresholds,
                source_weight=source_weights.get("comments", default))
    lyric_v = comment_v = None
    if dense.sentiment is not None and texts:
        toks = list(line_tokens[:nl]) + list(comment_tokens[:nc])
        lex = np.array([weighted_valence([(t, s, 1.0)], lexicon=lexicon)
                        for t, s in zip(texts, toks, strict=True)], dtype=np.float32)
        v = dense.sentiment.valence(vecs, lex).tolist()
        lyric_v, comment_v = v[:nl], v[nl:]
    return DenseAnalysis(evidence, dims, lyric_v, comment_v, nl, nc)
