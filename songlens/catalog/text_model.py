"""The dense text model's part in text analysis, built once per catalog: the zero-shot tagger
(tag descriptions embedded once) and the sentiment head, for the configured text model."""

from __future__ import annotations

import logging

from songlens.content.resources import Resources
from songlens.content.tagging.text_zero_shot import (
    TextTagger,
    load_tag_descriptions,
    load_text_tag_calibration,
)
from songlens.content.text.dense import DenseText
from songlens.content.text.sentiment_head import SentimentHead
from songlens.embeddings.encoders import TextEncoder

__all__ = ["DESCRIPTIONS", "CALIBRATION", "build_dense_text"]

log = logging.getLogger(__name__)

#: In the config folder: the tag descriptions and the per-model calibration.
DESCRIPTIONS = "tag_descriptions.yaml"
CALIBRATION = "text_tags.yaml"


def build_dense_text(encoder: TextEncoder, resources: Resources) -> DenseText | None:
    """The zero-shot tagger and sentiment head for ``encoder``, or ``None`` when the config
    folder has no calibration for it (an English-only model, a model never calibrated): then
    tags and sentiment come from the lexicons alone."""
    if not encoder.multilingual:
        return None
    folder = resources.config_dir
    if not (folder / CALIBRATION).is_file() or not (folder / DESCRIPTIONS).is_file():
        return None
    cal = load_text_tag_calibration(folder / CALIBRATION, encoder.name)
    if cal is None:
        log.info("no text tag calibration for %s: lexicon tags and sentiment", encoder.name)
        return None
    desc = load_tag_descriptions(folder / DESCRIPTIONS, taxonomy=resources.taxonomy)
    tagger = TextTagger(desc, encode=encoder.encode_queries, model=encoder.name,
                        calibration=cal)
    senti = cal.sentiment
    head = SentimentHead.load(encoder.name, combine=senti["combine"], band=senti["band"]) \
        if senti.get("combine") else None
    log.info("text model %s: zero-shot tags for %s, sentiment %s", encoder.name,
             ", ".join(cal.dimensions), "head + lexicon" if head else "lexicon")
    return DenseText(encode=encoder.encode_queries, model=encoder.name, tagger=tagger,
                     sentiment=head)
