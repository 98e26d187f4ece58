"""FastAPI dependencies: the catalog and settings built in the lifespan, as ``Annotated``
aliases."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from songlens.catalog.pipeline import Catalog
from songlens.service.coldstart import ColdStartService
from songlens.settings import Settings

__all__ = ["CatalogDep", "ColdStartDep", "SettingsDep"]


def get_catalog(request: Request) -> Catalog:
    return request.app.state.catalog


def get_app_settings(request: Request) -> Settings:
    return request.app.state.settings


def get_coldstart(request: Request) -> ColdStartService:
    return request.app.state.coldstart


CatalogDep = Annotated[Catalog, Depends(get_catalog)]
SettingsDep = Annotated[Settings, Depends(get_app_settings)]
ColdStartDep = Annotated[ColdStartService, Depends(get_coldstart)]
