"""A song's dense text vector: which text the text model reads, and the record of it kept in
the payload (``text_source``) so that the vector can be recomputed later with another model
(``songlens reembed-text``) without the audio or the original upload."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from songlens.embeddings.encoders import TextEncoder

__all__ = ["english_description", "song_text_input", "text_source", "text_vector"]

#: the CJK share of a song's title and lyrics above which an English-only model does not read them
_CJK_LIMIT = 0.3
#: the share of word pieces an English-only model must know to read a text
_READ_LIMIT = 0.8


def english_description(tags: Mapping[str, list[Mapping[str, Any]]],
                        keywords: list[str]) -> str:
    """An English rendering of a song's tags, for text the sentence model cannot read."""
    parts = []
    for dim in ("language", "style", "emotion", "scene", "theme"):
        names = [t["en"] for t in tags.get(dim, [])[:3] if t.get("en")]
        if names:
            parts.append(f"{dim}: {', '.join(names)}")
    ascii_kw = [k for k in keywords if k.isascii()][:8]
    if ascii_kw:
        parts.append("keywords: " + ", ".join(ascii_kw))
    return ". ".join(parts) or "song"


def text_source(dense_text: str, cjk_share: float) -> dict[str, Any]:
    """What the payload keeps of a song's text: the excerpt a text model reads (title, lyrics
    excerpt, a few comments; at most ~1000 characters) and its CJK share."""
    return {"text": dense_text, "cjk_share": round(float(cjk_share), 4)}


def song_text_input(encoder: TextEncoder, *, source: Mapping[str, Any] | None, title: str,
                    tags: Mapping[str, list[Mapping[str, Any]]],
                    keywords: list[str]) -> tuple[str, str]:
    """``(text, kind)``: the text ``encoder`` embeds for a song, and ``"lyrics"`` or
    ``"tag-description"``. A multilingual model reads the song's own text in any language; an
    English-only one reads it only when it is mostly not CJK and its vocabulary covers it, and
    otherwise an English description of the song's tags."""
    text = str((source or {}).get("text") or "")
    cjk = float((source or {}).get("cjk_share") or 0.0)
    if text.strip() and (encoder.multilingual or
                         (cjk < _CJK_LIMIT and encoder.can_read(text) > _READ_LIMIT)):
        return text, "lyrics"
    head = f"{title}. " if title and title.isascii() else ""
    return head + english_description(tags, keywords), "tag-description"


def text_vector(encoder: TextEncoder, **kwargs: Any) -> tuple[np.ndarray, str]:
    """The song's unit text vector and the kind of input it came from (see
    :func:`song_text_input`)."""
    text, kind = song_text_input(encoder, **kwargs)
    return encoder.encode([text])[0], kind
