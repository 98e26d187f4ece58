"""Response and request shapes of the v1 HTTP contract (for validation and the OpenAPI docs)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from songlens.search.similar import SimilarFilters

__all__ = ["TagOut", "SongOut", "SimilarItem", "SimilarOut", "SimilarQuery", "ErrorOut"]


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


class SimilarQuery(BaseModel):
    """JSON body of ``POST /v1/similar``: a ``text``, or ``positive``/``negative`` example songs."""

    model_config = ConfigDict(extra="forbid")
    text: str | None = Field(None, min_length=1, max_length=2000)
    positive: list[str] = Field(default_factory=list, max_length=50)
    negative: list[str] = Field(default_factory=list, max_length=50)
    space: Literal["fused", "audio", "text", "tags"] = "fused"
    k: int = Field(10, ge=1, le=200)
    filters: SimilarFilters = Field(default_factory=SimilarFilters)

    @model_validator(mode="after")
    def _one_query(self) -> SimilarQuery:
        if not self.text and not self.positive:
            raise ValueError("give a 'text' or 'positive' example songs")
        return self


class ErrorDetail(BaseModel):
    code: str
    message: str


class ErrorOut(BaseModel):
    error: ErrorDetail


def inline_json_schema(model: type[BaseModel]) -> dict[str, Any]:
    """``model``'s JSON schema with its ``$defs`` written in place, for an OpenAPI ``requestBody``
    given by hand (a ``#/$defs/...`` reference does not resolve inside the OpenAPI document)."""
    schema = model.model_json_schema()
    defs = schema.pop("$defs", {})

    def walk(node: Any) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/$defs/"):
                rest = {k: v for k, v in node.items() if k != "$ref"}
                return walk({**defs[ref.rsplit("/", 1)[-1]], **rest})
            return {k: walk(v) for k, v in node.items()}
        if isinstance(node, list):
            return [walk(v) for v in node]
        return node

    return walk(schema)
