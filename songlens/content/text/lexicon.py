"""Taxonomy lexicons: cue words per tag, matched in lyrics, comments and titles.

``configs/lexicons/{language,style,scene,emotion,theme}.yaml`` hold, for every tag of the
taxonomy, Chinese and English cues with weights in (0, 1]. Chinese cues are matched as jieba
tokens (each cue is in the tokenizer's dictionary, see :mod:`.nlp`); cues without CJK characters
are matched as lowercase word n-grams. A negator shortly before a cue in the same clause (不 没
别 不是 没有 …, not no never …) cancels the hit: ``我不难过`` is not evidence for 伤感.
"""

from __future__ import annotations

import logging
import math
import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import yaml

from songlens.content.taxonomy import DIMENSIONS, Evidence, Taxonomy
from songlens.content.text.negation import (
    EN_NEGATORS,
    NEGATION_WINDOW,
    ZH_NEG_PREFIXES,
    ZH_NEGATORS,
    preceding_words,
)
from songlens.content.text.scripts import has_ascii_letter, has_cjk
from songlens.errors import ConfigError

__all__ = [
    "Cue",
    "CueHit",
    "Lexicon",
    "aggregate_hits",
    "english_words",
    "load_lexicon",
    "match_line",
]

logger = logging.getLogger(__name__)

_EN_WORD = re.compile(r"[a-z0-9\u00e0-\u024f]+(?:['’&\-][a-z0-9\u00e0-\u024f]+)*")
_CLAUSE = re.compile(r"[,.!?;:，。！？；：、…~～\n()（）\[\]【】「」『』\"“”]+")
_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@dataclass(frozen=True, slots=True)
class Cue:
    """One cue of the lexicon: ``text`` points to ``(dimension, tag)`` with ``weight``."""

    text: str
    dimension: str
    tag: str
    weight: float
    latin: bool


@dataclass(frozen=True, slots=True)
class CueHit:
    """A cue seen in a text; ``negated`` hits are reported but must not count as support."""

    cue: Cue
    negated: bool


@dataclass(frozen=True)
class Lexicon:
    """All cues, indexed by Chinese token and by English word n-gram."""

    cues: tuple[Cue, ...]
    zh: dict[str, tuple[Cue, ...]]
    en: dict[tuple[str, ...], tuple[Cue, ...]]
    max_en_n: int

    def chinese_words(self) -> list[str]:
        """The Chinese cues of two characters or more, sorted: words a tokenizer must keep whole."""
        return sorted({c.text for c in self.cues if not c.latin and len(c.text) >= 2})


def english_words(text: str) -> list[str]:
    """Lowercase Latin words (apostrophes, ``&`` and hyphens kept inside words)."""
    return _EN_WORD.findall(text.lower())


def load_lexicon(folder: str | Path, *, taxonomy: Taxonomy) -> Lexicon:
    """Load and validate the lexicons of ``folder`` (``<dimension>.yaml`` each) against
    ``taxonomy``: every tag must be covered, and every tag named must exist.

    Raises
    ------
    ConfigError
        A file is missing or malformed, names an unknown tag, or a tag has no cues.
    """
    base = Path(folder)
    cues: list[Cue] = []
    for dim in DIMENSIONS:
        path = base / f"{dim}.yaml"
        try:
            spec = yaml.load(path.read_text(encoding="utf-8"), Loader=_YAML_LOADER)
        except (OSError, yaml.YAMLError) as exc:
            raise ConfigError(f"cannot read lexicon {str(path)!r}: {exc}") from exc
        if not isinstance(spec, dict) or spec.get("dimension") != dim:
            raise ConfigError(f"lexicon {str(path)!r} must declare dimension: {dim}")
        tags = spec.get("tags") or {}
        missing = [t for t in taxonomy.tags[dim] if t not in tags]
        if missing:
            raise ConfigError(f"lexicon {str(path)!r} has no cues for {dim} tags {missing}")
        for tag, langs in tags.items():
            if (dim, str(tag)) not in taxonomy:
                raise ConfigError(f"lexicon {str(path)!r} names unknown {dim} tag {tag!r}; "
                                  f"allowed: {', '.join(taxonomy.tags[dim])}")
            canon = taxonomy.canonical(dim, str(tag))
            for entries in (langs or {}).values():
                for text, weight in (entries or {}).items():
                    text = str(text).strip()
                    w = float(weight)
                    if not text or not 0.0 < w <= 1.0:
                        raise ConfigError(f"bad cue {text!r}: {weight!r} for {dim}/{tag} in "
                                          f"{str(path)!r}; weights must be in (0, 1]")
                    latin = not has_cjk(text)
                    cues.append(Cue(text.lower() if latin else text, dim, canon, w, latin))
    zh: dict[str, list[Cue]] = defaultdict(list)
    en: dict[tuple[str, ...], list[Cue]] = defaultdict(list)
    seen: set[tuple[str, str, str]] = set()
    for cue in cues:
        key3 = (cue.text.lower(), cue.dimension, cue.tag)
        if key3 in seen:
            continue
        seen.add(key3)
        if cue.latin:
            words = tuple(english_words(cue.text))
            if words:
                en[words].append(cue)
        else:
            zh[cue.text.lower()].append(cue)
    max_n = max((len(k) for k in en), default=1)
    logger.debug("lexicon: %d cues (%d zh tokens, %d en n-grams)", len(cues), len(zh), len(en))
    return Lexicon(tuple(cues), {k: tuple(v) for k, v in zh.items()},
                   {k: tuple(v) for k, v in en.items()}, max_n)


def match_line(line: str, tokens: Sequence[str], *, lexicon: Lexicon) -> list[CueHit]:
    """Cue hits in one line of text.

    Parameters
    ----------
    line : str
        Cleaned text (one lyric line or one comment).
    tokens : sequence of str
        ``Tokenizer.segment(line)`` (punctuation tokens included); read when the line has CJK.
    lexicon : Lexicon
    """
    if not line:
        return []
    hits: list[CueHit] = []
    if has_cjk(line):
        for i, tok in enumerate(tokens):
            cues = lexicon.zh.get(tok)
            if cues:
                neg = any(t in ZH_NEGATORS for t in preceding_words(tokens, i))
                hits.extend(CueHit(c, neg) for c in cues)
                continue
            if len(tok) >= 3 and tok[0] in ZH_NEG_PREFIXES:  # 不开心 as one token
                for rest in (tok[1:], tok[2:]):
                    for c in lexicon.zh.get(rest, ()):
                        hits.append(CueHit(c, True))
    if lexicon.en and has_ascii_letter(line):
        for clause in _CLAUSE.split(line):
            words = english_words(clause)
            for i in range(len(words)):
                for n in range(min(lexicon.max_en_n, len(words) - i), 0, -1):
                    cues = lexicon.en.get(tuple(words[i:i + n]))
                    if cues:
                        neg = any(w in EN_NEGATORS
                                  for w in words[max(0, i - NEGATION_WINDOW):i])
                        hits.extend(CueHit(c, neg) for c in cues)
                        break
    return hits


def aggregate_hits(weighted_hits: Iterable[tuple[list[CueHit], float]], *, source: str,
                   total_weight: float | None = None, scale: float = 1.0,
                   examples: Sequence[str] | None = None) -> list[Evidence]:
    """Turn cue hits of several texts into one :class:`Evidence` per (tag, cue).

    Parameters
    ----------
    weighted_hits : iterable of (hits, weight)
        The hits of each text (a lyric line, a comment) and that text's weight (repeat count,
        like weight).
    source : str
        ``lyrics``, ``comments`` or ``metadata``.
    total_weight : float, optional
        Sum of the weights of all texts, hit or not. When given, support is also judged
        relative to it: ``p = w_cue · (1 − e^(−s/scale)) · (1 − e^(−20·s/total))`` where ``s`` is
        the weight of texts with the cue (a cue in 1 of 100 comments is weak, in 10 of 100
        strong). Without it ``p = w_cue · (1 − 0.4^(s/scale))`` (lyrics: a line sung three
        times counts more than once, with saturation).
    examples : sequence of str, optional
        The texts, in the order of ``weighted_hits``; the highest-weight text with the cue is
        kept as ``detail["example"]`` (first 60 characters).

    Returns
    -------
    list of Evidence
        Negated hits subtract half their weight; cues with no net support are dropped.
    """
    support: dict[tuple[str, str, str], list[float]] = {}
    cue_of: dict[tuple[str, str, str], Cue] = {}
    best: dict[tuple[str, str, str], tuple[float, int]] = {}
    for idx, (hits, weight) in enumerate(weighted_hits):
        done: set[tuple[str, str, str, bool]] = set()
        for hit in hits:
            c = hit.cue
            key = (c.dimension, c.tag, c.text)
            if (*key, hit.negated) in done:  # one vote per text and cue
                continue
            done.add((*key, hit.negated))
            cue_of[key] = c
            rec = support.setdefault(key, [0.0, 0.0, 0.0])
            if hit.negated:
                rec[1] += weight
            else:
                rec[0] += weight
                rec[2] += 1
                if examples is not None and weight > best.get(key, (-1.0, 0))[0]:
                    best[key] = (weight, idx)
    out: list[Evidence] = []
    for key, (pos, neg, n) in support.items():
        s = pos - 0.5 * neg
        if s <= 0:
            continue
        c = cue_of[key]
        if total_weight:
            p = c.weight * (1.0 - math.exp(-s / scale)) * (1.0 - math.exp(-20.0 * s / total_weight))
        else:
            p = c.weight * (1.0 - 0.4 ** (s / scale))
        detail: dict[str, object] = {"count": int(n)}
        if neg:
            detail["negated"] = round(neg, 3)
        if examples is not None and key in best:
            detail["example"] = examples[best[key][1]][:60]
        out.append(Evidence(c.dimension, c.tag, source, c.text, float(min(1.0, p)), detail))
    out.sort(key=lambda e: -e.p)
    return out
