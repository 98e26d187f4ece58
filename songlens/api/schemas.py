"""Response and request shapes of the v1 HTTP contract (for validation and the OpenAPI docs)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["TagOut", "SongOut", "SimilarItem", "SimilarOut", "TextQuery", "ErrorOut"]


class TagOut(BaseModel):
    tag: str
    en: str
    score: float
    evidence: list[dict[str, Any]]


class SongOut(BaseModel):
    model_config = ConfigDict(extra="allow")
    song_id: str
    title: str
    artist: str
    album: str | None = None
    duration_s: float
    tags: dict[str, list[TagOut]] = Field(description="keyed by language, style, scene, "
                                          "emotion, theme; each sorted by score")
    audio_features: dict[str, Any]
    language: dict[str, Any]


class SimilarItem(BaseModel):
    song_id: str
    score: float
    title: str | None
    artist: str | None
    reasons: dict[str, Any]


class SimilarOut(BaseModel):
    items: list[SimilarItem]


class TextQuery(BaseModel):
    text: str = Field(min_length=1, max_length=2000)
    k: int = Field(10, ge=1, le=200)


class ErrorDetail(BaseModel):
    code: str
    message: str


class ErrorOut(BaseModel):
    error: ErrorDetail
