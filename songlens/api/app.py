"""The FastAPI application factory. Models, store and catalog are created in the lifespan (once,
at start-up); nothing heavy happens at import time."""

from __future__ import annotations

import gc
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI

from songlens.api.errors import install_error_handlers
from songlens.api.jobs import IngestJobs
from songlens.api.limits import BodySizeLimit, CatchAll, HeavyGate, HeavyLimiter, body_limits
from songlens.api.metrics import AppMetrics
from songlens.api.request_log import RequestObserver
from songlens.api.routers import (
    backup,
    feedback,
    ingest_jobs,
    ops,
    playlists,
    rank,
    ranker_admin,
    recall,
    similar,
    songs,
    taxonomy,
    users,
)
from songlens.api.schemas import HealthOut
from songlens.api.security import NO_DEFAULT_DOCS, install_security
from songlens.catalog.pipeline import Catalog
from songlens.service.coldstart import ColdStartService
from songlens.service.index_upkeep import IndexUpkeep
from songlens.settings import Settings, get_settings
from songlens.web import install_web

__all__ = ["create_app", "open_catalog"]

log = logging.getLogger(__name__)


def open_catalog(settings: Settings) -> Catalog:
    """Store + models + catalog for these settings (used by the API and the CLI)."""
    from songlens.embeddings.models import load_models
    from songlens.store import configured_store

    store = configured_store(settings)
    try:
        return Catalog(settings=settings, store=store, models=load_models(settings))
    except Exception:
        store.close()
        raise


def create_app(settings: Settings | None = None, *, catalog: Catalog | None = None,
               on_ready: Any = None) -> FastAPI:
    """Build the app. Pass ``catalog`` to share one already opened (tests); ``on_ready(catalog)``
    runs after start-up (the demo ingests its catalog there). The cold-start service (feedback
    log, user profiles, ranker) opens after the catalog and closes before it. At shutdown (the
    server no longer takes requests; those in flight ended or were cancelled) an owned catalog
    stops taking writes before its store closes: a cancelled ingestion writes nothing."""
    settings = settings or get_settings()
    metrics = AppMetrics()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        owned = catalog is None
        app.state.settings = settings
        app.state.heavy = HeavyLimiter.from_settings(settings)
        t0 = time.perf_counter()
        cat = app.state.catalog = catalog or open_catalog(settings)
        if owned:
            metrics.model_load.set(time.perf_counter() - t0)
        cat.stage_observers.append(metrics.observe_stage)
        metrics.watch(catalog=cat, heavy=app.state.heavy)
        app.state.jobs = IngestJobs(cat, app.state.heavy)
        try:
            app.state.coldstart = ColdStartService(cat, settings)
            q = settings.qdrant
            upkeep = app.state.index_upkeep = IndexUpkeep(
                cat.store, [cat.spec, app.state.coldstart.users.spec],
                min_points=q.index_upkeep_points, every_s=q.index_upkeep_every_s,
                nice=q.index_build_nice).start()
            metrics.watch(catalog=cat, heavy=app.state.heavy, index=upkeep)
            try:
                if on_ready is not None:
                    on_ready(cat)
                # what start-up built (models, catalog, profiles) lives as long as the process:
                # out of the collector's sight, a full collection no longer walks it (at 100k
                # songs one took 225 ms, and it fell on whichever request was running: the
                # single 180-290 ms playlists in benchmarks/RESULTS.md's 100k runs)
                gc.collect()  # what is garbage already is not kept for ever
                gc.freeze()
                yield
            finally:
                upkeep.stop()  # a build in progress is abandoned; the live index is untouched
                # ingest jobs in flight get the same grace as requests, then fail cleanly
                await app.state.jobs.drain(settings.api.shutdown_grace_s)
                if owned:
                    cat.close()
                app.state.coldstart.close()
        finally:
            cat.stage_observers.remove(metrics.observe_stage)
            if owned:
                cat.store.close()

    app = FastAPI(
        title="songlens",
        version="0.1.0",
        summary="Music content understanding and cold start: tags, audio features, embeddings, "
                "similar songs.",
        lifespan=lifespan,
        form_limits={"max_part_size": int(settings.api.max_metadata_mb * 2**20)},
        **NO_DEFAULT_DOCS,
    )
    app.state.metrics = metrics
    install_error_handlers(app)
    # Added innermost first. From the outside in: the catch-all (every failure in the JSON
    # contract), CORS and the security layer (origin, key, rate limit: before any body is read or
    # a heavy slot taken), size limits, admission of heavy requests. Around them all, the
    # request observer: request id, access log line and metrics for every answer.
    app.add_middleware(HeavyGate)
    max_bytes, max_json_bytes = body_limits(settings)
    app.add_middleware(BodySizeLimit, max_bytes=max_bytes, max_json_bytes=max_json_bytes)
    install_security(app, settings)
    app.add_middleware(CatchAll)
    app.add_middleware(RequestObserver, metrics=metrics)
    app.include_router(songs.router)
    app.include_router(similar.router)
    app.include_router(playlists.router)
    app.include_router(taxonomy.router)
    app.include_router(ingest_jobs.router)
    for router in (feedback.router, users.router, recall.router, rank.router, ops.router,
                   backup.router, ranker_admin.router):
        app.include_router(router)

    @app.get("/healthz", tags=["ops"], response_model=HealthOut)
    def healthz() -> dict[str, Any]:
        cat: Catalog = app.state.catalog
        upkeep: IndexUpkeep = app.state.index_upkeep
        return {"status": "ok", "songs": cat.count(), "store": cat.store.backend,
                "audio_model": cat.models.audio.name, "text_model": cat.models.text.name,
                "index": upkeep.states() if upkeep.specs else None}

    install_web(app)

    return app
