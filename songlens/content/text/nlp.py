"""Segmentation, stop words and keywords for lyrics and comments.

Chinese is segmented by a dedicated :class:`jieba.Tokenizer` (not jieba's global one) with the music
user dictionary (``configs/lexicons/music_userdict.txt``) and every Chinese cue of the taxonomy
lexicons, so that cues like 撸铁 or 单曲循环 stay one token. Korean is split on spaces, Japanese
into character bigrams of kana/kanji runs, Latin text into lowercase words. Keywords are TF-IDF
over those tokens with jieba's own IDF table.
"""

from __future__ import annotations

import logging
import re
import threading
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from songlens.content.text.scripts import HAN, HANGUL, KANA

__all__ = ["CONTENT_TOKEN", "Tokenizer", "load_stopwords"]

logger = logging.getLogger(__name__)

# Runs handed to jieba (Han, Latin, digits) versus Hangul and kana runs handled here.
_RUNS = re.compile(f"(?P<ko>[{HANGUL}]+)|(?P<ja>[{KANA}{HAN}]*[{KANA}][{KANA}{HAN}]*)")
#: A token worth keeping: has a letter or CJK character, is not pure digits/punctuation.
CONTENT_TOKEN = re.compile(r"[^\W\d_]", re.U)


def load_stopwords(path: str | Path) -> frozenset[str]:
    """Stop words, one a line (``#`` comments), casefolded."""
    words = set()
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            words.add(line.casefold())
    return frozenset(words)


class Tokenizer:
    """The music tokenizer: jieba with music words, stop words and jieba's IDF table.

    The jieba dictionary and the IDF table take about a second each to load; each loads on first
    use, once per object (thread-safe). jieba's own read-only state (its HMM model and the
    dictionary cache file it writes to the temp folder) is shared by every jieba tokenizer in the
    process; that is how jieba works, and nothing here changes it.

    Parameters
    ----------
    userdict : path, optional
        A jieba user dictionary (``word [freq] [tag]`` lines); missing files are logged.
    words : iterable of str
        More words to keep whole (the lexicon's Chinese cues), added at frequency 2000 unless
        jieba already knows them.
    stopwords : frozenset of str
        Casefolded stop words, dropped by :meth:`content_tokens`.
    """

    def __init__(self, *, userdict: str | Path | None = None, words: Iterable[str] = (),
                 stopwords: frozenset[str] = frozenset()) -> None:
        self.userdict = Path(userdict) if userdict is not None else None
        self.words = tuple(words)
        self.stopwords = stopwords
        self._lock = threading.Lock()
        self._jieba: Any = None
        self._idf: tuple[dict[str, float], float] | None = None

    @property
    def jieba(self) -> Any:
        """The :class:`jieba.Tokenizer` (built on first use)."""
        if self._jieba is None:
            with self._lock:
                if self._jieba is None:
                    self._jieba = self._build_jieba()
        return self._jieba

    def _build_jieba(self) -> Any:
        import jieba

        tk = jieba.Tokenizer()
        tk.initialize()
        if self.userdict is not None:
            if self.userdict.exists():
                tk.load_userdict(str(self.userdict))
            else:
                logger.warning("music user dictionary %s missing", self.userdict)
        for word in self.words:
            if word not in tk.FREQ or not tk.FREQ[word]:
                tk.add_word(word, freq=2000)
        return tk

    def _idf_table(self) -> tuple[dict[str, float], float]:
        if self._idf is None:
            with self._lock:
                if self._idf is None:
                    from jieba.analyse.tfidf import DEFAULT_IDF, IDFLoader

                    self._idf = IDFLoader(DEFAULT_IDF).get_idf()
        return self._idf

    def segment(self, text: str) -> list[str]:
        """All tokens of ``text`` in order, punctuation and spaces included (for cue windows).

        Latin tokens are lowercased. Han/Latin runs go through jieba (HMM on), Hangul runs stay
        whole words, Japanese runs become overlapping character bigrams.
        """
        if not text:
            return []
        tk = self.jieba
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

    def content_tokens(self, tokens: Sequence[str]) -> list[str]:
        """``tokens`` (from :meth:`segment`) without spaces, punctuation, digits and stop words."""
        stop = self.stopwords
        return [t for t in tokens if CONTENT_TOKEN.search(t) and t not in stop]

    def keywords(self, tokens: Iterable[str] | Iterable[tuple[str, float]], *,
                 top_k: int = 10) -> list[str]:
        """Top-``top_k`` TF-IDF keywords (jieba's IDF table; unknown words get its median IDF).

        ``tokens`` are content tokens, or ``(token, weight)`` pairs (e.g. a chorus line's tokens
        weighted by a saturating function of its repeat count). Single CJK characters and Latin
        words under three letters are skipped.
        """
        idf, median = self._idf_table()
        tf: Counter[str] = Counter()
        for item in tokens:
            tok, w = (item, 1.0) if isinstance(item, str) else item
            if len(tok) < 2 or (tok.isascii() and len(tok) < 3):
                continue
            tf[tok] += w
        scored = sorted(((w * idf.get(t, median), t) for t, w in tf.items()),
                        key=lambda x: (-x[0], x[1]))
        return [t for _, t in scored[:top_k]]
