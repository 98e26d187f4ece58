"""GET /v1/taxonomy: the five tag dimensions and their tags, with Chinese and English labels, in
display order (what a client needs to draw facets and tag pickers)."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel, Field

from songlens.api.deps import CatalogDep, ReadScope
from songlens.api.schemas import ErrorOut
from songlens.content.taxonomy import DIMENSIONS, Taxonomy

router = APIRouter(prefix="/v1", tags=["songs"], dependencies=[ReadScope])


class TaxonomyTagOut(BaseModel):
    tag: str = Field(description="the canonical (Chinese) label; what filters and tags use")
    en: str = Field(description="the English alias (accepted wherever a tag is named)")


class DimensionOut(BaseModel):
    key: str = Field(description="language, style, scene, emotion or theme")
    zh: str
    en: str
    tags: list[TaxonomyTagOut]


class TaxonomyOut(BaseModel):
    dimensions: list[DimensionOut]


def taxonomy_view(taxonomy: Taxonomy) -> dict:
    return {"dimensions": [
        {"key": dim, "zh": taxonomy.zh_names[dim], "en": dim.capitalize(),
         "tags": [{"tag": t, "en": taxonomy.en[(dim, t)]} for t in taxonomy.tags[dim]]}
        for dim in DIMENSIONS]}


@router.get("/taxonomy", response_model=TaxonomyOut, responses={429: {"model": ErrorOut}})
def taxonomy(catalog: CatalogDep) -> dict:
    """The tag taxonomy in display order: dimensions, then tags, each with both labels."""
    return taxonomy_view(catalog.taxonomy)
