"""Ingestion as a background job with progress: ``POST /v1/ingest-jobs`` answers at once, the
work runs in a worker thread once a heavy slot is free (the same :class:`HeavyLimiter` as
``POST /v1/songs``), and ``GET /v1/ingest-jobs/{id}`` reports its state and stage.

Jobs live in memory: at most ``max_pending`` queued or running (each holds its upload until it
is analysed; beyond that a new job is refused with 429 ``too_busy``), at most ``max_jobs`` in
all (the oldest finished ones are forgotten first). A failed job stores nothing: ingestion is
all-or-nothing (see :meth:`songlens.catalog.pipeline.Catalog.ingest`).
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
import uuid
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

import anyio

from songlens.api.errors import excerpt
from songlens.api.limits import HeavyLimiter, TooBusy
from songlens.catalog.pipeline import Catalog
from songlens.content.metadata import SongMetadata
from songlens.errors import NotFound, SonglensError

__all__ = ["STAGES", "IngestJob", "IngestJobs"]

log = logging.getLogger(__name__)

#: the stages an ingestion goes through, in order
STAGES = ("decode", "audio_model", "features", "text", "store")


@dataclass
class IngestJob:
    job_id: str
    state: str = "queued"  # queued | running | done | failed
    stage: str | None = None
    stages_done: list[str] = field(default_factory=list)
    song_id: str | None = None
    kept: bool = False  # on_existing="keep" found the song stored: nothing was written
    error: dict[str, str] | None = None
    created_at: float = field(default_factory=time.time)
    finished_at: float | None = None

    @property
    def finished(self) -> bool:
        return self.state in ("done", "failed")

    def view(self) -> dict[str, Any]:
        return {"job_id": self.job_id, "state": self.state, "stage": self.stage,
                "stages_done": list(self.stages_done), "song_id": self.song_id,
                "kept": self.kept, "error": self.error}


class IngestJobs:
    """The ingest jobs of one app (created in its lifespan, in ``app.state.jobs``)."""

    def __init__(self, catalog: Catalog, limiter: HeavyLimiter, *, max_jobs: int = 200,
                 max_pending: int | None = None, retry_s: float = 0.5) -> None:
        self.catalog, self.limiter = catalog, limiter
        self.max_jobs = max_jobs
        self.max_pending = max_pending or limiter.max_active + limiter.max_queue
        self.retry_s = retry_s
        self._jobs: OrderedDict[str, IngestJob] = OrderedDict()
        self._tasks: set[asyncio.Task[None]] = set()
        self._lock = threading.Lock()  # job fields are written from worker threads

    def __len__(self) -> int:
        return len(self._jobs)

    @property
    def pending(self) -> int:
        return sum(not j.finished for j in self._jobs.values())

    def get(self, job_id: str) -> dict[str, Any]:
        job = self._jobs.get(job_id)
        if job is None:
            raise NotFound(f"no ingest job {job_id!r} (finished jobs are kept for a while "
                           "only)", job_id=job_id)
        with self._lock:
            return job.view()

    def submit(self, data: bytes, meta: SongMetadata, filename: str) -> IngestJob:
        """Queue one ingestion (on the event loop); raises :class:`TooBusy` when
        ``max_pending`` jobs are queued or running already."""
        if self.pending >= self.max_pending:
            raise TooBusy
        job = IngestJob(job_id=uuid.uuid4().hex)
        self._jobs[job.job_id] = job
        self._evict()
        task = asyncio.get_running_loop().create_task(self._run(job, data, meta, filename))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return job

    def _evict(self) -> None:
        over = len(self._jobs) - self.max_jobs
        for job_id in [k for k, j in self._jobs.items() if j.finished][:max(over, 0)]:
            del self._jobs[job_id]

    async def _run(self, job: IngestJob, data: bytes, meta: SongMetadata,
                   filename: str) -> None:
        while True:  # queued until a heavy slot is free (first come, first served)
            try:
                await self.limiter.acquire()
                break
            except TooBusy:
                await asyncio.sleep(self.retry_s)
        try:
            with self._lock:
                job.state = "running"
            result = await anyio.to_thread.run_sync(
                lambda: self.catalog.ingest(data, meta, filename=filename,
                                            on_stage=lambda s: self._stage(job, s)))
            with self._lock:
                job.stages_done.append(job.stage or "store")
                job.state, job.stage, job.song_id = "done", None, result.record.song_id
                job.kept = result.kept
        except SonglensError as exc:
            self._fail(job, exc.code, exc.message)
        except Exception:  # noqa: BLE001 - a bug: the job fails, the server goes on
            log.exception("ingest job %s failed", job.job_id)
            self._fail(job, "internal_error", "internal error; see the server log")
        finally:
            job.finished_at = time.time()
            self.limiter.release()

    def _stage(self, job: IngestJob, stage: str) -> None:
        with self._lock:
            if job.stage is not None and job.stage not in job.stages_done:
                job.stages_done.append(job.stage)
            job.stage = stage

    def _fail(self, job: IngestJob, code: str, message: str) -> None:
        with self._lock:
            job.state, job.error = "failed", {"code": code, "message": excerpt(message, 1000)}

    async def drain(self, timeout_s: float = 60.0) -> None:
        """Wait (at most ``timeout_s``) for the jobs in flight, then cancel what is left
        (a queued job; a running one finishes in its thread or fails)."""
        if not self._tasks:
            return
        _, left = await asyncio.wait(set(self._tasks), timeout=timeout_s)
        for task in left:
            task.cancel()
