"""Negators and the one negation scan the lexicon and the sentiment lexicon share.

A negator counts when it stands among the :data:`NEGATION_WINDOW` words before a cue in the same
clause: spaces are skipped, punctuation ends the clause (``我不说，难过`` is not negated).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

__all__ = [
    "EN_NEGATORS",
    "NEGATION_WINDOW",
    "ZH_NEGATORS",
    "ZH_NEG_PREFIXES",
    "preceding_words",
]

ZH_NEGATORS = frozenset({
    "不", "没", "没有", "别", "不是", "不要", "不会", "不再", "不想", "不用", "不必", "无需",
    "从不",
    "并不", "毫不", "绝不", "决不", "不曾", "未", "未曾", "莫", "勿", "唔", "冇", "唔系", "唔係",
    "不算", "不够", "再也不", "一点也不", "一点都不", "并没有", "从来不", "从没", "不怎么",
    "没什么",
})
#: First characters that negate a token jieba keeps whole (不开心, 没意思).
ZH_NEG_PREFIXES = ("不", "没", "别", "未", "唔", "冇")
EN_NEGATORS = frozenset({
    "not", "no", "never", "don't", "dont", "doesn't", "didn't", "isn't", "wasn't", "aren't",
    "weren't", "won't", "can't", "cannot", "couldn't", "wouldn't", "shouldn't", "ain't",
    "nothing", "neither", "nor", "without", "don’t", "can’t", "won’t",
})
NEGATION_WINDOW = 3


def preceding_words(tokens: Sequence[str], i: int, *,
                    window: int = NEGATION_WINDOW) -> Iterator[str]:
    """The up to ``window`` word tokens before ``tokens[i]`` in its clause, nearest first.

    Whitespace tokens are skipped; a token without a letter or digit (punctuation) ends the
    clause.
    """
    seen = 0
    j = i - 1
    while j >= 0 and seen < window:
        tok = tokens[j]
        j -= 1
        if tok.isspace():
            continue
        if not any(ch.isalnum() for ch in tok):
            return
        yield tok
        seen += 1
