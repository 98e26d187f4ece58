"""Lyrics and comments understanding: cleaning, language, jieba tokens, lexicon evidence,
sentiment and vectors. :func:`analyse_text` is the one entry point the ingestion uses."""

from songlens.content.text.analyse import TextAnalysis, analyse_text
from songlens.content.text.clean import CleanLyrics, clean_comment, clean_lyrics
from songlens.content.text.language import LanguageResult, detect_language
from songlens.content.text.vectors import cjk_share, sparse_lyrics_vector, tag_profile_vector

__all__ = [
    "CleanLyrics",
    "LanguageResult",
    "TextAnalysis",
    "analyse_text",
    "cjk_share",
    "clean_comment",
    "clean_lyrics",
    "detect_language",
    "sparse_lyrics_vector",
    "tag_profile_vector",
]
