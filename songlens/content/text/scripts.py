"""Which writing system a character belongs to: the one definition of the CJK ranges.

The ranges are character-class bodies (to combine inside ``[...]``) with compiled patterns and
helpers beside them. Han covers the unified ideographs with Extension A, the compatibility block
(twelve of its characters are unified ideographs that NFKC keeps) and Extensions B–F (written
Cantonese uses 𠻺, 𡁵, …); kana covers hiragana, katakana, the phonetic extensions and half-width
katakana; Hangul covers syllables, conjoining jamo and compatibility jamo.
"""

from __future__ import annotations

import re

__all__ = [
    "CJK",
    "CJK_CHAR",
    "HAN",
    "HANGUL",
    "HAN_CHAR",
    "HAN_RUN",
    "HANGUL_CHAR",
    "KANA",
    "KANA_CHAR",
    "LATIN",
    "has_ascii_letter",
    "has_cjk",
    "has_han",
]

#: Han ideographs (Chinese characters, Japanese kanji).
HAN = r"\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0002fa1f"
#: Japanese kana.
KANA = r"\u3040-\u309f\u30a0-\u30ff\u31f0-\u31ff\uff66-\uff9f"
#: Korean Hangul.
HANGUL = r"\uac00-\ud7af\u1100-\u11ff\u3130-\u318f"
#: Han, kana and Hangul.
CJK = HAN + KANA + HANGUL
#: Latin letters, ASCII and accented (Latin-1 Supplement, Extended-A and -B).
LATIN = r"A-Za-z\u00c0-\u024f"

HAN_CHAR = re.compile(f"[{HAN}]")
HAN_RUN = re.compile(f"[{HAN}]+")
KANA_CHAR = re.compile(f"[{KANA}]")
HANGUL_CHAR = re.compile(f"[{HANGUL}]")
CJK_CHAR = re.compile(f"[{CJK}]")
_ASCII_LETTER = re.compile(r"[A-Za-z]")


def has_han(text: str) -> bool:
    """Whether ``text`` holds a Han character (Chinese, or Japanese kanji)."""
    return HAN_CHAR.search(text) is not None


def has_cjk(text: str) -> bool:
    """Whether ``text`` holds a Han, kana or Hangul character."""
    return CJK_CHAR.search(text) is not None


def has_ascii_letter(text: str) -> bool:
    """Whether ``text`` holds an ASCII letter (English words are worth looking for)."""
    return _ASCII_LETTER.search(text) is not None
