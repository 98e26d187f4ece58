"""Segmentation, stop words and keywords for lyrics and comments.

Chinese is segmented by a dedicated :class:`jieba.Tokenizer` (not jieba's global one), built once
on first use with the music user dictionary (``configs/lexicons/music_userdict.txt``) and every
Chinese cue of the taxonomy lexicons, so that cues like 撸铁 or 单曲循环 stay one token. Korean is
split on spaces, Japanese into character bigrams of kana/kanji runs, Latin text into lowercase
words. Keywords are TF-IDF over those tokens with jieba's own IDF table.
"""

from __future__ import annotations

import logging
import re
import threading
from collections import Counter
from collections.abc import Iterable
from functools import lru_cache

from songlens.content.taxonomy import config_path

__all__ = [
    "CONTENT_TOKEN",
    "extract_keywords",
    "get_tokenizer",
    "segment",
    "stopwords",
    "tokenize",
]

logger = logging.getLogger(__name__)

_lock = threading.Lock()
_tokenizer = None
_idf: tuple[dict[str, float], float] | None = None

# Runs handed to jieba (Han, Latin, digits) versus Hangul and kana runs handled here.
_RUNS = re.compile(
    r"(?P<ko>[\uac00-\ud7af\u1100-\u11ff\u3130-\u318f]+)"
    r"|(?P<ja>[\u3040-\u30ff\u31f0-\u31ff\uff66-\uff9f\u3400-\u4dbf\u4e00-\u9fff]*"
    r"[\u3040-\u30ff\u31f0-\u31ff\uff66-\uff9f][\u3040-\u30ff\u31f0-\u31ff\uff66-\uff9f"
    r"\u3400-\u4dbf\u4e00-\u9fff]*)"
)
#: A token worth keeping: has a letter or CJK character, is not pure digits/punctuation.
CONTENT_TOKEN = re.compile(r"[^\W\d_]", re.U)
_SPACE = re.compile(r"\s+")


def _lexicon_cues() -> list[str]:
    from songlens.content.text.lexicon import load_lexicon  # local: lexicon imports this module

    words: set[str] = set()
    for cue in load_lexicon().cues:
        if not cue.latin and len(cue.text) >= 2:
            words.add(cue.text)
    return sorted(words)


def get_tokenizer():
    """The shared music :class:`jieba.Tokenizer` (built on first call, thread-safe)."""
    global _tokenizer
    if _tokenizer is None:
        with _lock:
            if _tokenizer is None:
                import jieba

                tk = jieba.Tokenizer()
                tk.initialize()
                userdict = config_path("lexicons/music_userdict.txt")
                if userdict.exists():
                    tk.load_userdict(str(userdict))
                else:
                    logger.warning("music user dictionary %s missing", userdict)
                for word in _lexicon_cues():
                    if word not in tk.FREQ or not tk.FREQ[word]:
                        tk.add_word(word, freq=2000)
                _tokenizer = tk
    return _tokenizer


@lru_cache(maxsize=1)
def stopwords() -> frozenset[str]:
    """Chinese and English stop words from ``configs/lexicons/stopwords.txt`` (lowercase)."""
    path = config_path("lexicons/stopwords.txt")
    words = set()
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            words.add(line.casefold())
    return frozenset(words)


def segment(text: str) -> list[str]:
    """All tokens of ``text`` in order, punctuation and spaces included (for cue windows).

    Latin tokens are lowercased. Han/Latin runs go through jieba (HMM on), Hangul runs stay whole
    words, Japanese runs become overlapping character bigrams.
    """
    if not text:
        return []
    tk = get_tokenizer()
    out: list[str] = []
    pos = 0
    for m in _RUNS.finditer(text):
        if m.start() > pos:
            out.extend(t.lower() for t in tk.cut(text[pos:m.start()]))
        run = m.group(0)
        if m.group("ko"):
            out.append(run)
        else:
            out.extend(run[i:i + 2] for i in range(max(1, len(run) - 1)))
        pos = m.end()
    if pos < len(text):
        out.extend(t.lower() for t in tk.cut(text[pos:]))
    return out


def tokenize(text: str, *, keep_stopwords: bool = False) -> list[str]:
    """Content tokens: :func:`segment` without spaces, punctuation, digits and stop words."""
    stop = frozenset() if keep_stopwords else stopwords()
    return [t for t in segment(text)
            if CONTENT_TOKEN.search(t) and not _SPACE.fullmatch(t) and t not in stop]


def _idf_table() -> tuple[dict[str, float], float]:
    global _idf
    if _idf is None:
        with _lock:
            if _idf is None:
                from jieba.analyse.tfidf import DEFAULT_IDF, IDFLoader

                loader = IDFLoader(DEFAULT_IDF)
                _idf = loader.get_idf()
    return _idf


def extract_keywords(tokens: Iterable[str] | Iterable[tuple[str, float]], *,
                     top_k: int = 10) -> list[str]:
    """Top-``top_k`` TF-IDF keywords (jieba's IDF table; unknown words get its median IDF).

    ``tokens`` are content tokens, or ``(token, weight)`` pairs (e.g. a chorus line's tokens
    weighted by a saturating function of its repeat count). Single CJK characters and Latin words
    under three letters are skipped.
    """
    idf, median = _idf_table()
    tf: Counter[str] = Counter()
    for item in tokens:
        tok, w = (item, 1.0) if isinstance(item, str) else item
        if len(tok) < 2 or (tok.isascii() and len(tok) < 3):
            continue
        tf[tok] += w
    scored = sorted(((w * idf.get(t, median), t) for t, w in tf.items()),
                    key=lambda x: (-x[0], x[1]))
    return [t for _, t in scored[:top_k]]
