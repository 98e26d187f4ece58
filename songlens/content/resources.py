"""Everything content analysis reads from files, loaded once into one object that is passed in.

A :class:`Resources` is built from a config folder (``configs/``): the taxonomy, the lexicons, the
sentiment lexicon, the fusion config and the tokenizer's stop words and user dictionary are read
and validated when it is built; the parts that are slow or need optional packages (the jieba
dictionary and IDF table, OpenCC, the Cantonese n-gram model, the musicnn tag mapping) load on
first use, once per object, thread-safe. The catalog owns one (``Catalog.resources``); tests
build one per session.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from songlens.content.tagging.audio_tags import AudioTagMapping, load_audio_tag_mapping
from songlens.content.tagging.fusion import FusionConfig, load_fusion_config
from songlens.content.tagging.instruments import (
    InstrumentVocabulary,
    load_instrument_vocabulary,
)
from songlens.content.taxonomy import Taxonomy, load_taxonomy
from songlens.content.taxonomy import config_dir as default_config_dir
from songlens.content.text.clean import Converter, load_t2s
from songlens.content.text.language import CantoneseModel
from songlens.content.text.lexicon import Lexicon, load_lexicon
from songlens.content.text.nlp import Tokenizer, load_stopwords
from songlens.content.text.sentiment import SentimentLexicon, load_sentiment_lexicon

__all__ = ["Resources"]

T = TypeVar("T")


class Resources:
    """The taxonomy, lexicons, configs and text tools of one config folder.

    Parameters
    ----------
    config_dir : path, optional
        The folder with ``taxonomy.yaml``, ``fusion.yaml``, ``audio_tags.yaml`` and
        ``lexicons/``; default :func:`~songlens.content.taxonomy.config_dir` (``configs/``, or
        ``$SONGLENS_CONFIG_DIR``).
    taxonomy : Taxonomy, optional
        Use this taxonomy instead of the folder's ``taxonomy.yaml``; the lexicons and the audio
        tag mapping are validated against it.

    Attributes
    ----------
    config_dir : Path
    taxonomy : Taxonomy
    lexicon : Lexicon
        Cue words per tag (``lexicons/<dimension>.yaml``).
    sentiment : SentimentLexicon
        Valence words and degree adverbs (``lexicons/sentiment.yaml`` and the emotion cues).
    fusion : FusionConfig
        Source weights, thresholds and ``top_k`` per dimension (``fusion.yaml``).
    tokenizer : Tokenizer
        jieba with the music dictionary and the Chinese cues, stop words, keywords.
    audio_tags : AudioTagMapping
        musicnn tags → taxonomy evidence (``audio_tags.yaml``; loaded on first use).
    instruments : InstrumentVocabulary
        Nameable instruments and the voice detector's cues (``instruments.yaml``; loaded on
        first use).
    cantonese : CantoneseModel
        The Cantonese-vs-Mandarin n-gram model (loaded on first use).
    t2s : Converter
        OpenCC traditional → simplified (built on first use).

    Raises
    ------
    ConfigError
        A file is missing or malformed, or does not fit the taxonomy.
    """

    def __init__(self, config_dir: str | Path | None = None, *,
                 taxonomy: Taxonomy | None = None) -> None:
        self.config_dir = Path(config_dir) if config_dir is not None else default_config_dir()
        folder = self.config_dir
        self.taxonomy = taxonomy or load_taxonomy(folder / "taxonomy.yaml")
        self.lexicon: Lexicon = load_lexicon(folder / "lexicons", taxonomy=self.taxonomy)
        self.sentiment: SentimentLexicon = load_sentiment_lexicon(
            folder / "lexicons" / "sentiment.yaml", lexicon=self.lexicon)
        self.fusion: FusionConfig = load_fusion_config(folder / "fusion.yaml")
        self.tokenizer = Tokenizer(userdict=folder / "lexicons" / "music_userdict.txt",
                                   words=self.lexicon.chinese_words(),
                                   stopwords=load_stopwords(folder / "lexicons" / "stopwords.txt"))
        self._lock = threading.Lock()
        self._lazy: dict[str, Any] = {}

    def _get(self, name: str, build: Callable[[], T]) -> T:
        value = self._lazy.get(name)
        if value is None:
            with self._lock:
                value = self._lazy.get(name)
                if value is None:
                    value = self._lazy[name] = build()
        return value

    @property
    def audio_tags(self) -> AudioTagMapping:
        return self._get("audio_tags", lambda: load_audio_tag_mapping(
            self.config_dir / "audio_tags.yaml", taxonomy=self.taxonomy))

    @property
    def instruments(self) -> InstrumentVocabulary:
        calibration = self.audio_tags  # outside the build: _get's lock is not re-entrant
        return self._get("instruments", lambda: load_instrument_vocabulary(
            self.config_dir / "instruments.yaml", calibration=calibration,
            taxonomy=self.taxonomy))

    @property
    def cantonese(self) -> CantoneseModel:
        return self._get("cantonese", CantoneseModel.load)

    @property
    def t2s(self) -> Converter:
        return self._get("t2s", load_t2s)

    def __repr__(self) -> str:
        return f"Resources({str(self.config_dir)!r})"
