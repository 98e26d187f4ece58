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

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache

import yaml

from songlens.content.taxonomy import Evidence, config_path
from songlens.content.text.lexicon import (
    EN_NEGATORS,
    NEGATION_WINDOW,
    ZH_NEG_PREFIXES,
    ZH_NEGATORS,
    Lexicon,
    english_words,
    load_lexicon,
)
from songlens.errors import ConfigError

__all__ = ["SentimentLexicon", "load_sentiment_lexicon", "text_valence", "valence_evidence",
           "weighted_valence"]

_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff]")


@dataclass(frozen=True)
class SentimentLexicon:
    words: dict[str, float]
    degree: dict[str, float]


@lru_cache(maxsize=2)
def load_sentiment_lexicon(path: str | None = None) -> SentimentLexicon:
    """Valence words (sentiment.yaml words + emotion cues × tag valence) and degree adverbs."""
    p = config_path("lexicons/sentiment.yaml") if path is None else path
    try:
        spec = yaml.safe_load(open(p, encoding="utf-8").read())
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"cannot read sentiment lexicon {str(p)!r}: {exc}") from exc
    tag_val = {str(k): float(v) for k, v in (spec.get("emotion_valence") or {}).items()}
    words: dict[str, float] = {}
    lex: Lexicon = load_lexicon()
    for cue in lex.cues:
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
        j, seen = i - 1, 0
        while j >= 0 and seen < NEGATION_WINDOW:
            prev = tokens[j]
            j -= 1
            if prev.isspace():
                continue
            if not any(ch.isalnum() for ch in prev):
                break
            if prev in negators:
                flip = not flip
            elif seen == 0 and prev in lex.degree:
                scale *= lex.degree[prev]
            seen += 1
        if flip:
            v = -0.5 * v
        total += v * scale
        mass += abs(v * scale)
    return total, mass


def text_valence(text: str, tokens: Sequence[str] | None = None) -> float:
    """Valence of one text in [-1, 1] (0 when no sentiment word is found).

    ``tokens`` are ``nlp.segment(text)`` if already computed.
    """
    total, mass = _raw(text, tokens)
    return total / (mass + 2.0) if mass else 0.0


def _raw(text: str, tokens: Sequence[str] | None) -> tuple[float, float]:
    lex = load_sentiment_lexicon()
    total = mass = 0.0
    if _CJK.search(text):
        if tokens is None:
            from songlens.content.text.nlp import segment

            tokens = segment(text)
        t, m = _score_tokens(tokens, ZH_NEGATORS, lex, zh=True)
        total, mass = total + t, mass + m
    if re.search(r"[A-Za-z]", text):
        t, m = _score_tokens(english_words(text), EN_NEGATORS, lex, zh=False)
        total, mass = total + t, mass + m
    return total, mass


def weighted_valence(items: Iterable[tuple[str, Sequence[str] | None, float]]) -> float:
    """Valence of many texts ``(text, tokens, weight)``: ``Σ w·v_raw / (Σ w·|v_raw| + 2)``."""
    total = mass = 0.0
    for text, tokens, w in items:
        t, m = _raw(text, tokens)
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
