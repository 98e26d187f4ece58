"""Listener comments: weighting by likes, near-duplicate collapse, boilerplate discount.

A comment's weight is ``(1 + log1p(likes)) · discount``: likes count with diminishing returns (a
comment with 10 000 likes weighs about 10, not 10 000), near-duplicates (same normalised text, or
character-trigram Jaccard ≥ 0.8) collapse into one comment whose likes are summed, and
boilerplate (打卡, 前排, 沙发, 第一, 来了, pure emoji, two or three characters) is discounted.
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

from songlens.content.taxonomy import Evidence
from songlens.content.text.clean import Converter, clean_comment, fold_key
from songlens.content.text.lexicon import CueHit, aggregate_hits

__all__ = [
    "MAX_COMMENTS",
    "WeightedComment",
    "boilerplate_discount",
    "comment_weight",
    "comments_evidence",
    "weigh_comments",
]

logger = logging.getLogger(__name__)

#: Comments beyond this many (after sorting by likes) are ignored.
MAX_COMMENTS = 500

_BOILERPLATE = re.compile(
    r"^(?:打卡|打个卡|每日打卡|前排|前排围观|沙发|抢沙发|板凳|第[一二三1-3]|首评|第一条?评论?|来了|来啦|"
    r"我来了|又来了|来了来了|路过|顶+|冲+鸭?|占楼|留名|留个脚印|mark|马克|up|\+1|1+|顶一个|"
    r"好听+|爱了+|哈+|啊+|呜+|人呢|有人吗|还有人听吗|有人在吗|报道|报到|考古|考古来了|"
    r"[0-9]{4}年?(?:还有人)?(?:听|打卡|来了)?)$", re.I)
_BOILERPLATE_PART = re.compile(r"打卡|前排|沙发|留名|占楼|报道|考古|第一条评论", re.I)


@dataclass(frozen=True, slots=True)
class WeightedComment:
    """A cleaned comment with its weight; ``merged`` counts the near-duplicates folded into it."""

    text: str
    likes: int
    weight: float
    merged: int = 1
    discount: float = 1.0


def comment_weight(likes: int | float) -> float:
    """``1 + log1p(likes)`` (negative or missing likes count as 0)."""
    try:
        n = float(likes)
    except (TypeError, ValueError):
        n = 0.0
    if not math.isfinite(n) or n < 0:
        n = 0.0
    return 1.0 + math.log1p(n)


def boilerplate_discount(text: str) -> float:
    """1 for an informative comment, 0.1 for boilerplate, 0.3 for very short ones (< 4 chars)."""
    key = fold_key(text)
    if not key:
        return 0.0
    if _BOILERPLATE.match(key):
        return 0.1
    if len(key) < 4:
        return 0.3
    if _BOILERPLATE_PART.search(key) and len(key) < 12:
        return 0.3
    return 1.0


def _shingles(key: str) -> frozenset[str]:
    if len(key) < 3:
        return frozenset({key})
    return frozenset(key[i:i + 3] for i in range(len(key) - 2))


def weigh_comments(comments: Sequence[tuple[str, int]] | None, *, t2s: Converter,
                   jaccard: float = 0.8) -> list[WeightedComment]:
    """Clean, de-duplicate and weight comments.

    Parameters
    ----------
    comments : sequence of (text, likes)
        Raw comments; entries that are not ``(str, number)`` pairs are skipped (logged).
    t2s : Converter
        Traditional → simplified converter for :func:`~.clean.clean_comment`.
    jaccard : float
        Character-trigram Jaccard similarity at or above which two comments are one.

    Returns
    -------
    list of WeightedComment
        Sorted by weight, highest first; comments that clean to nothing are dropped.
    """
    rows: list[tuple[str, int]] = []
    for item in comments or ():
        try:
            text, likes = item
        except (TypeError, ValueError):
            logger.debug("skipping malformed comment %r", item)
            continue
        if not isinstance(text, str):
            continue
        try:
            n = int(likes) if likes is not None else 0
        except (TypeError, ValueError, OverflowError):
            n = 0
        rows.append((text, max(0, n)))
    rows.sort(key=lambda r: -r[1])
    rows = rows[:MAX_COMMENTS]
    groups: list[list] = []  # [text, likes, merged, key, shingles]
    by_key: dict[str, int] = {}
    for raw, likes in rows:
        text = clean_comment(raw, t2s=t2s)
        key = fold_key(text)
        if not key:
            continue
        idx = by_key.get(key)
        if idx is None and len(key) >= 6:
            sh = _shingles(key)
            for j, g in enumerate(groups):
                if len(g[3]) >= 6 and 0.7 <= len(g[3]) / len(key) <= 1.43:
                    inter = len(sh & g[4])
                    if inter and inter / len(sh | g[4]) >= jaccard:
                        idx = j
                        break
        if idx is None:
            by_key[key] = len(groups)
            groups.append([text, likes, 1, key, _shingles(key)])
        else:
            groups[idx][1] += likes
            groups[idx][2] += 1
    out = []
    for text, likes, merged, _key, _sh in groups:
        disc = boilerplate_discount(text)
        out.append(WeightedComment(text, likes, comment_weight(likes) * disc, merged, disc))
    out.sort(key=lambda c: -c.weight)
    return out


def comments_evidence(comments: Sequence[WeightedComment],
                      hits: Sequence[list[CueHit]]) -> list[Evidence]:
    """Lexicon evidence from weighted comments (source ``comments``).

    ``hits`` are the per-comment :func:`~.lexicon.match_line` results. A cue's support is the
    summed weight of the comments that use it, judged against the total weight (see
    :func:`songlens.content.text.lexicon.aggregate_hits`).
    """
    if not comments:
        return []
    total = sum(c.weight for c in comments)
    return aggregate_hits(((h, c.weight) for h, c in zip(hits, comments, strict=True)),
                          source="comments", total_weight=max(total, 1.0), scale=2.0,
                          examples=[c.text for c in comments])
