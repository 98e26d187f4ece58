"""FastAPI dependencies: the catalog and settings built in the lifespan, as ``Annotated``
aliases; the scopes routes declare (``dependencies=[ReadScope]``) and the caller."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from songlens.api.security import READ, WRITE, Caller
from songlens.catalog.pipeline import Catalog
from songlens.service.coldstart import ColdStartService
from songlens.settings import Settings

__all__ = ["CallerDep", "CatalogDep", "ColdStartDep", "ReadScope", "SettingsDep", "WriteScope"]


def get_catalog(request: Request) -> Catalog:
    return request.app.state.catalog


def get_app_settings(request: Request) -> Settings:
    return request.app.state.settings


def get_coldstart(request: Request) -> ColdStartService:
    return request.app.state.coldstart


CatalogDep = Annotated[Catalog, Depends(get_catalog)]
SettingsDep = Annotated[Settings, Depends(get_app_settings)]
ColdStartDep = Annotated[ColdStartService, Depends(get_coldstart)]
#: route dependencies: the caller needs an API key with this scope (when keys are in force)
ReadScope = Depends(READ)
WriteScope = Depends(WRITE)
#: the authenticated caller (read scope checked); ``caller.require("write")`` for more
CallerDep = Annotated[Caller, Depends(READ)]
