"""Cleaning of lyrics and listener comments.

Lyrics arrive as LRC files or plain text with timestamps, ID tags, credit lines, HTML entities,
emoji and repeated choruses. :func:`clean_lyrics` strips all of that, folds repeated lines into
``(line, count)`` pairs (a chorus sung four times is one line with count 4: it is weighted, not
lost), and converts traditional to simplified Chinese with OpenCC (``t2s``), remembering whether
the original was traditional (a weak Cantonese hint for :mod:`.language`).
"""

from __future__ import annotations

import html
import logging
import re
import unicodedata
from dataclasses import dataclass
from typing import Protocol

from songlens.content.text.scripts import HAN, HAN_CHAR, KANA_CHAR

__all__ = [
    "CleanLyrics",
    "Converter",
    "MAX_TEXT_CHARS",
    "clean_comment",
    "clean_lyrics",
    "fold_key",
    "load_t2s",
    "normalise_unicode",
    "to_simplified",
]

logger = logging.getLogger(__name__)

#: Longer inputs are cut here (a lyric is a few thousand characters; anything larger is not one).
MAX_TEXT_CHARS = 20_000

_LRC_STAMP = re.compile(r"\[\s*\d{1,3}\s*[:：]\s*\d{1,2}(?:\s*[.:：]\s*\d{1,3})?\s*\]")
_LRC_WORD_STAMP = re.compile(r"<\d{1,3}:\d{1,2}(?:[.:]\d{1,3})?>")
_LRC_TAG = re.compile(
    r"^\s*\[(?:ar|ti|al|by|au|re|ve|length|offset|tool|la|id|#)\s*[:：][^\]]*\]\s*$", re.I)
_CREDIT_WORDS = (
    "作词|作詞|作曲|编曲|編曲|词曲|詞曲|词|詞|曲|制作人|製作人|制作|製作|监制|監製|混音|混音师|和声|和聲|"
    "和音|母带|母帶|母带处理|录音|錄音|录音师|录音室|混缩|人声|人声编辑|人声录音|配唱|配唱制作人|吉他|贝斯|"
    "貝斯|鼓|键盘|鍵盤|弦乐|弦樂|弦乐编写|弦乐监制|钢琴|鋼琴|小提琴|大提琴|合成器|打击乐|编程|出品|出品人|"
    "发行|發行|发行方|监制人|统筹|統籌|策划|策劃|企划|企劃|营销|宣传|视觉|封面|设计|文案|演唱|原唱|翻唱|"
    "后期|後期|OP|SP|ISRC|版权|版權|Lyricist|Lyrics|Lyrics by|Written by|Words|Music|Music by|"
    "Composer|Composed by|Arranger|Arranged by|Arrangement|Producer|Produced by|Executive Producer|"
    "Mixing|Mixed by|Mix|Mastering|Mastered by|Recording|Recorded by|Engineer|Vocals?|"
    "Backing Vocals?|Chorus|Guitar|Bass|Drums|Keyboards?|Piano|Strings|Programming|Publisher|"
    "Label|Vocal Producer|Vocal Editing|Co-Producer"
)
_CREDIT = re.compile(rf"^\s*(?:{_CREDIT_WORDS})\s*(?:[：:]|by\b)", re.I)
_BOILERPLATE_LINE = re.compile(
    r"未经.{0,12}(?:许可|授权)|不得翻唱|纯音乐[,，]?\s*请(?:您)?欣赏|此歌曲为没有填词的纯音乐|"
    r"本歌曲来自|歌词贡献者|翻译贡献者|QQ音乐|网易云音乐", re.I)
_MULTISPACE = re.compile(r"[ \t\u3000]+")
_FOLD_KEY = re.compile(r"[\W_]+", re.U)
_ZALGO = re.compile(r"([\u0300-\u036f\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f])"
                    r"[\u0300-\u036f\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f]+")
_DROP_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "So", "Sk", "Me"})
_EMOTICON = re.compile(f"\\[([{HAN}]{{1,4}})\\]")  # NetEase [流泪]


class Converter(Protocol):
    """A script converter such as ``opencc.OpenCC("t2s")``."""

    def convert(self, text: str) -> str: ...


def load_t2s() -> Converter:
    """OpenCC's traditional → simplified Chinese converter (a few ms to build)."""
    import opencc

    return opencc.OpenCC("t2s")


def fold_key(text: str) -> str:
    """``text`` casefolded, without spaces, punctuation and symbols: the key two texts that
    differ only in those share (repeated lyric lines, near-duplicate comments)."""
    return _FOLD_KEY.sub("", text.casefold())


@dataclass(frozen=True, slots=True)
class CleanLyrics:
    """Cleaned lyrics.

    ``lines`` are unique lines in first-seen order, ``counts`` how often each was sung, ``text``
    the unique lines joined by newlines, ``was_traditional`` whether the input was mostly in
    traditional characters (before conversion to simplified), ``original`` the cleaned text
    before that conversion (for language detection: 係 is a Cantonese marker, 系 is not).
    """

    lines: list[str]
    counts: list[int]
    text: str
    was_traditional: bool
    original: str = ""


def to_simplified(text: str, *, t2s: Converter) -> tuple[str, bool]:
    """Convert traditional Chinese to simplified; return ``(text, was_traditional)``.

    Japanese text (any kana among the CJK characters) is left as it is: its kanji are not
    traditional Chinese. ``was_traditional`` is true when at least 4 % of the Han characters (and
    at least one) changed under OpenCC's ``t2s``.
    """
    han = len(HAN_CHAR.findall(text))
    if han == 0 or KANA_CHAR.search(text):
        return text, False
    out = t2s.convert(text)
    if len(out) != len(text):  # t2s is character-for-character on all but rare phrases
        changed = sum(1 for a, b in zip(text, out, strict=False) if a != b)
    else:
        changed = sum(1 for a, b in zip(text, out, strict=True) if a != b)
    return out, changed >= 1 and changed >= 0.04 * han


def normalise_unicode(text: str) -> str:
    """NFKC, HTML entities decoded, controls/format marks/emoji/symbols/surrogates dropped.

    For analysis: NFKC folds full-width and compatibility forms (ＨＥＬＬＯ → HELLO) so that cues
    match; what is stored and shown keeps the user's forms (NFC, ``metadata.clean_text``).

    Symbols become spaces (``心❤️碎`` → ``心 碎``); stacks of combining marks are cut to one;
    line breaks are kept.
    """
    if not text:
        return ""
    if len(text) > MAX_TEXT_CHARS:
        logger.debug("text of %d chars cut to %d", len(text), MAX_TEXT_CHARS)
        text = text[:MAX_TEXT_CHARS]
    text = html.unescape(text)
    # lone surrogates cannot be normalised or encoded: drop them first
    text = text.encode("utf-8", "ignore").decode("utf-8") if _has_surrogate(text) else text
    text = unicodedata.normalize("NFKC", _ZALGO.sub(r"\1", text))
    out = []
    for ch in text:
        if ch in "\n\t":
            out.append(ch)
            continue
        cat = unicodedata.category(ch)
        if cat in _DROP_CATEGORIES:
            if cat[0] == "S":
                out.append(" ")
            continue
        if ch == "\ufe0f" or ch == "\ufe0e":  # variation selectors (Mn)
            continue
        out.append(ch)
    return "".join(out)


def _has_surrogate(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _strip_line(line: str) -> str:
    line = _LRC_STAMP.sub(" ", line)
    line = _LRC_WORD_STAMP.sub("", line)
    return _MULTISPACE.sub(" ", line).strip()


def clean_lyrics(text: str | None, *, t2s: Converter) -> CleanLyrics:
    """Clean lyrics (LRC or plain) into unique lines with repeat counts.

    Parameters
    ----------
    text : str or None
        Raw lyrics, possibly LRC with several timestamps per line.
    t2s : Converter
        Traditional → simplified converter (:func:`load_t2s`).

    Returns
    -------
    CleanLyrics
        Simplified-Chinese lines (other scripts untouched), their counts, joined text and the
        ``was_traditional`` flag. Empty input gives empty lists.
    """
    if not text:
        return CleanLyrics([], [], "", False)
    text = normalise_unicode(text.replace("\r\n", "\n").replace("\r", "\n"))
    kept: list[str] = []
    for raw in text.split("\n"):
        if _LRC_TAG.match(raw):
            continue
        line = _strip_line(raw)
        if not line or _CREDIT.match(line) or _BOILERPLATE_LINE.search(line):
            continue
        if not any(ch.isalnum() for ch in line):
            continue
        kept.append(line)
    original = "\n".join(kept)
    joined, was_trad = to_simplified(original, t2s=t2s)
    lines: list[str] = []
    counts: list[int] = []
    index: dict[str, int] = {}
    for line in joined.split("\n") if joined else []:
        key = fold_key(line)
        if not key:
            continue
        if key in index:
            counts[index[key]] += 1
        else:
            index[key] = len(lines)
            lines.append(line)
            counts.append(1)
    return CleanLyrics(lines, counts, "\n".join(lines), was_trad, original)


def clean_comment(text: str | None, *, t2s: Converter) -> str:
    """Clean one comment: entities, emoji, odd Unicode, whitespace; traditional → simplified
    with ``t2s``.

    NetEase-style bracket emoticons (``[大哭]``) become their word so the lexicon can read them.
    """
    if not text:
        return ""
    text = normalise_unicode(text)
    text = _EMOTICON.sub(r" \1 ", text)
    text = re.sub(r"\s+", " ", text).strip()
    out, _ = to_simplified(text, t2s=t2s)
    return out
