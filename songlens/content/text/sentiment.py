"""Lexicon sentiment: a valence in [-1, 1] and emotion evidence from it.

Valence words come from ``configs/lexicons/sentiment.yaml`` (hand-compiled for songlens) plus the
emotion cues of the taxonomy lexicon, each carrying its tag's valence (快乐 +1 … 伤感 −1).
A degree adverb just before a word scales it (很 1.3, 有点 0.7); a negator within three tokens
flips it at half strength (不开心 → negative, 不难过 → mildly positive). The valence of a text is
``Σ v / (Σ |v| + 2)``: a few words cannot reach ±1 and mixed texts land near 0.

Registry options checked: ``snownlp`` (0.12.3, 2015) ships a naive-Bayes model trained on
shopping reviews and its own slow segmenter; ``cntext`` pulls a large dependency tree; neither is
used by default. A local classification model replaces the lexicon when ``text.sentiment_model``
is set (:mod:`.sentiment_model`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import yaml

from songlens.content.taxonomy import Evidence
from songlens.content.text.lexicon import Lexicon, english_words
from songlens.content.text.negation import (
    EN_NEGATORS,
    ZH_NEG_PREFIXES,
    ZH_NEGATORS,
    preceding_words,
)
from songlens.content.text.scripts import has_ascii_letter, has_han
from songlens.errors import ConfigError

__all__ = ["SentimentLexicon", "load_sentiment_lexicon", "valence_evidence", "weighted_valence"]


@dataclass(frozen=True)
class SentimentLexicon:
    words: dict[str, float]
    degree: dict[str, float]


def load_sentiment_lexicon(path: str | Path, *, lexicon: Lexicon) -> SentimentLexicon:
    """Valence words (``path``'s words + ``lexicon``'s emotion cues × tag valence) and degree
    adverbs."""
    try:
        spec = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"cannot read sentiment lexicon {str(path)!r}: {exc}") from exc
    tag_val = {str(k): float(v) for k, v in (spec.get("emotion_valence") or {}).items()}
    words: dict[str, float] = {}
    for cue in lexicon.cues:
        if cue.dimension == "emotion" and tag_val.get(cue.tag):
            v = tag_val[cue.tag] * cue.weight
            if abs(v) > abs(words.get(cue.text, 0.0)):
                words[cue.text] = v
    for entries in (spec.get("words") or {}).values():
        for w, v in (entries or {}).items():
            words[str(w).lower()] = float(v)
    degree: dict[str, float] = {}
    for entries in (spec.get("degree") or {}).values():
        for w, v in (entries or {}).items():
            degree[str(w).lower()] = float(v)
    return SentimentLexicon(words, degree)


def _score_tokens(tokens: Sequence[str], negators: frozenset[str], lex: SentimentLexicon,
                  *, zh: bool) -> tuple[float, float]:
    total = mass = 0.0
    for i, tok in enumerate(tokens):
        v = lex.words.get(tok)
        flip = False
        if v is None and zh and len(tok) >= 2 and tok[0] in ZH_NEG_PREFIXES:
            v = lex.words.get(tok[1:])
            flip = v is not None
        if v is None:
            continue
        scale = 1.0
        for k, prev in enumerate(preceding_words(tokens, i)):
            if prev in negators:
                flip = not flip
            elif k == 0 and prev in lex.degree:
                scale *= lex.degree[prev]
        if flip:
            v = -0.5 * v
        total += v * scale
        mass += abs(v * scale)
    return total, mass


def _raw(text: str, tokens: Sequence[str], lex: SentimentLexicon) -> tuple[float, float]:
    total = mass = 0.0
    if has_han(text):
        t, m = _score_tokens(tokens, ZH_NEGATORS, lex, zh=True)
        total, mass = total + t, mass + m
    if has_ascii_letter(text):
        t, m = _score_tokens(english_words(text), EN_NEGATORS, lex, zh=False)
        total, mass = total + t, mass + m
    return total, mass


def weighted_valence(items: Iterable[tuple[str, Sequence[str], float]], *,
                     lexicon: SentimentLexicon) -> float:
    """Valence in [-1, 1] of many texts ``(text, tokens, weight)``, ``tokens`` being
    ``Tokenizer.segment(text)``: ``Σ w·v_raw / (Σ w·|v_raw| + 2)`` (0 without sentiment words).
    """
    total = mass = 0.0
    for text, tokens, w in items:
        t, m = _raw(text, tokens, lexicon)
        total += w * t
        mass += w * m
    return total / (mass + 2.0) if mass else 0.0


def valence_evidence(valence: float, *, source: str, threshold: float = 0.3,
                     by: str = "lexicon") -> list[Evidence]:
    """Emotion evidence from a valence: 快乐 when ≥ threshold, 伤感 when ≤ −threshold.

    ``p = 0.5·|valence|`` so that valence alone is moderate evidence; lexicon cues name the
    emotion more precisely. ``by`` (``lexicon`` or ``model``) goes into the detail.
    """
    if valence >= threshold:
        return [Evidence("emotion", "快乐", source, "valence", 0.5 * valence,
                         {"valence": round(valence, 3), "by": by})]
    if valence <= -threshold:
        return [Evidence("emotion", "伤感", source, "valence", -0.5 * valence,
                         {"valence": round(valence, 3), "by": by})]
    return []
