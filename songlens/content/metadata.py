"""Song metadata: the validated shape of what a client sends, and what files carry in their tags."""

from __future__ import annotations

import logging
import re
import unicodedata
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from songlens.content.release_date import parse_release_date
from songlens.errors import InvalidMetadata

__all__ = ["Comment", "SongMetadata", "clean_text", "parse_metadata", "read_file_metadata"]

log = logging.getLogger(__name__)

_CONTROL = re.compile(
    r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\u200b-\u200f\u202a-\u202e\u2066-\u2069\ufeff]")
SONG_ID = re.compile(r"^[\w.:@+-]{1,128}$", re.UNICODE)


def clean_text(text: str, *, max_len: int) -> str:
    """NFC-normalise, drop lone surrogates, control, zero-width and bidi-override characters,
    trim, and cut to ``max_len`` characters.

    NFC, not the NFKC of analysis (``text.clean.normalise_unicode``): what is stored and shown
    keeps the forms the user typed (ＯＳＴ, ①, ﬁ); only the analysis folds them."""
    text = text.encode("utf-8", "replace").decode("utf-8")  # lone surrogates → "?"
    text = unicodedata.normalize("NFC", text)
    text = _CONTROL.sub("", text).replace("\r\n", "\n").replace("\r", "\n")
    return text.strip()[:max_len]


class Comment(BaseModel):
    model_config = ConfigDict(extra="ignore", allow_inf_nan=False)
    text: str = Field(max_length=20000)
    likes: int = Field(0, ge=0, le=10**12)

    @field_validator("text")
    @classmethod
    def _clean(cls, v: str) -> str:
        return clean_text(v, max_len=2000)


class SongMetadata(BaseModel):
    """The ``metadata`` part of ``POST /v1/songs``. ``title`` is required; everything else is
    optional. Unknown fields are ignored."""

    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True, allow_inf_nan=False)

    song_id: str | None = Field(None, description="your id; default: from the audio content")
    title: str = Field(min_length=1, max_length=1000)
    artist: str = Field("", max_length=1000)
    album: str | None = Field(None, max_length=1000)
    lyrics: str | None = Field(None, max_length=200_000, description="plain text or LRC")
    comments: list[Comment] = Field(default_factory=list, max_length=5000)
    language: str | None = Field(
        None, max_length=64,
        description="the catalogue's language for the song, when it knows: a 语种 tag (华语 粤语 "
                    "欧美 日语 韩语 纯音乐), an ISO 639 / BCP 47 code (zh, cmn, yue, zh-HK, en, "
                    "ja, ko, zxx) or a name (Mandarin, Cantonese, 国语 …). It decides the "
                    "song's language over the lyrics, which cannot tell Cantonese written "
                    "in standard Chinese from Mandarin.")
    release_date: str | None = Field(
        None, max_length=64,
        description="when the song was released: YYYY-MM-DD, YYYY-MM or YYYY (a time after a "
                    "full date is ignored). New-song windows and the released_after/"
                    "released_before filters read it; without it a song counts as released "
                    "when first ingested. Re-posting without it keeps the stored one.")
    on_existing: Literal["update", "keep"] = Field(
        "update",
        description="when the song (the same song_id, or without one the same audio) is "
                    "already stored: 'update' analyses it again and replaces it (its first "
                    "ingestion time stays); 'keep' leaves the stored song as it is and "
                    "returns it")

    @field_validator("song_id")
    @classmethod
    def _song_id(cls, v: str | None) -> str | None:
        if v is None or v == "":
            return None
        v = unicodedata.normalize("NFC", v.strip())
        if not SONG_ID.match(v) or not v.strip("."):
            raise ValueError("song_id must be 1-128 letters, digits or . _ : @ + -, not only "
                             f"dots (got {_excerpt(v)})")
        return v

    @field_validator("title")
    @classmethod
    def _title(cls, v: str) -> str:
        v = clean_text(v, max_len=300)
        if not v:
            raise ValueError("title has no printable characters")
        return v

    @field_validator("artist", "album")
    @classmethod
    def _short(cls, v: str | None) -> str | None:
        return None if v is None else clean_text(v, max_len=300)

    @field_validator("language")
    @classmethod
    def _language(cls, v: str | None) -> str | None:
        from songlens.content.text.language import catalogue_language

        if v is None or not v.strip():
            return None
        tag = catalogue_language(v)
        if tag is None:
            raise ValueError(f"unknown language {_excerpt(v, 40)}: give one of 华语 粤语 欧美 "
                             "日语 韩语 纯音乐, or a code such as zh, yue, zh-HK, en, ja, ko, zxx")
        return tag

    @field_validator("release_date")
    @classmethod
    def _release_date(cls, v: str | None) -> str | None:
        return None if v is None or not v.strip() else parse_release_date(v)

    @field_validator("lyrics")
    @classmethod
    def _lyrics(cls, v: str | None) -> str | None:
        return None if v is None else clean_text(v, max_len=50_000) or None


def parse_metadata(raw: str | bytes | dict[str, Any] | None) -> SongMetadata:
    """Validate metadata given as a JSON string or a dict; raise :class:`InvalidMetadata` with
    the offending fields named."""
    import json

    if raw is None or raw == "" or raw == b"":
        raise InvalidMetadata("metadata is required: a JSON object with at least a 'title'")
    if isinstance(raw, bytes | str):
        try:
            raw = json.loads(raw)
        except RecursionError as exc:
            raise InvalidMetadata("metadata is not valid JSON: nested too deeply") from exc
        except (ValueError, UnicodeDecodeError) as exc:
            raise InvalidMetadata(f"metadata is not valid JSON: {exc}") from exc
    if not isinstance(raw, dict):
        raise InvalidMetadata(f"metadata must be a JSON object, got {type(raw).__name__}")
    try:
        return SongMetadata.model_validate(_without_surrogates(raw))
    except RecursionError as exc:
        raise InvalidMetadata("invalid metadata: nested too deeply") from exc
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(x) for x in e['loc']) or 'metadata'}: {e['msg']}"
            for e in exc.errors())
        raise InvalidMetadata(f"invalid metadata: {problems}",
                              fields=[".".join(str(x) for x in e["loc"]) for e in exc.errors()]
                              ) from exc


def _excerpt(value: str, max_len: int = 60) -> str:
    """``value`` quoted for a message: printable, at most ``max_len`` characters."""
    r = repr(value)
    return r if len(r) <= max_len else r[:max_len - 2] + "…'"


def _without_surrogates(obj: Any) -> Any:
    """JSON allows escaped lone surrogates (``"\\ud800"``), which are not Unicode text: pydantic
    refuses them, so they become "?" before validation instead of failing the whole request."""
    if isinstance(obj, str):
        return obj.encode("utf-8", "replace").decode("utf-8")
    if isinstance(obj, dict):
        return {_without_surrogates(k): _without_surrogates(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_without_surrogates(v) for v in obj]
    return obj


_TAG_KEYS = {
    "title": ("title", "TIT2", "\xa9nam", "TITLE"),
    "artist": ("artist", "TPE1", "\xa9ART", "ARTIST"),
    "album": ("album", "TALB", "\xa9alb", "ALBUM"),
    "lyrics": ("lyrics", "unsyncedlyrics", "USLT", "\xa9lyr", "LYRICS", "UNSYNCEDLYRICS"),
    "language": ("language", "TLAN", "LANGUAGE"),
    # ID3 release time, then recording time (mutagen reads ID3v2.3 TYER as TDRC); Vorbis and
    # FLAC DATE; MP4 ©day
    "release_date": ("TDRL", "TDRC", "DATE", "date", "\xa9day"),
}


def _first(tags: Any, keys: tuple[str, ...]) -> str | None:
    for key in keys:
        try:
            hits = [k for k in tags.keys() if k == key or k.startswith(key + ":")]
        except Exception:  # noqa: BLE001
            return None
        for k in hits:
            val = tags[k]
            val = getattr(val, "text", val)
            if isinstance(val, list):
                val = val[0] if val else None
            if val:
                return str(val)
    return None


def read_file_metadata(path: str | Path) -> dict[str, Any]:
    """Title, artist, album, lyrics, language and release date for a local audio file.

    Lyrics come from a sidecar ``<name>.lrc`` or ``<name>.txt`` beside the file, else from embedded
    tags (ID3 USLT, Vorbis LYRICS, MP4 ©lyr) read with mutagen; title and artist from the tags,
    else the file name (``Artist - Title.mp3`` is split); the language from ID3 TLAN or a
    Vorbis LANGUAGE tag when it names one songlens knows (others are dropped with a log line);
    the release date from ID3 TDRL, else TDRC, Vorbis/FLAC DATE or MP4 ©day, when it is a date
    (a bad one is dropped with a log line, never failing the file).
    """
    import mutagen

    p = Path(path)
    meta: dict[str, Any] = {}
    try:
        f = mutagen.File(p)
        if f is not None and f.tags is not None:
            for field, keys in _TAG_KEYS.items():
                val = _first(f.tags, keys)
                if val:
                    meta[field] = val
    except Exception as exc:  # noqa: BLE001 - unreadable tags are not fatal
        log.info("no tags from %s: %s", p, exc)
    if meta.get("language"):
        from songlens.content.text.language import catalogue_language

        if catalogue_language(meta["language"]) is None:
            log.info("%s: language tag %r is not one songlens knows; ignored", p,
                     meta["language"][:40])
            del meta["language"]
    if meta.get("release_date"):
        try:
            meta["release_date"] = parse_release_date(meta["release_date"])
        except ValueError as exc:
            log.info("%s: %s; ignored", p, exc)
            del meta["release_date"]
    for ext in (".lrc", ".txt"):
        side = p.with_suffix(ext)
        if side.exists():
            meta["lyrics"] = side.read_text(encoding="utf-8", errors="replace")
            break
    if not meta.get("title"):
        stem = p.stem
        if " - " in stem and not meta.get("artist"):
            meta["artist"], meta["title"] = (s.strip() for s in stem.split(" - ", 1))
        else:
            meta["title"] = stem
    return meta
