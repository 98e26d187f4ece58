"""/v1/ingest-jobs: ingestion with progress. The POST validates the form and answers 202 at
once; the work runs in a worker thread behind the heavy-request slots (songlens.api.jobs)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, Form, Path, Request, UploadFile
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from songlens.api.deps import ReadScope, SettingsDep, WriteScope
from songlens.api.errors import error_body
from songlens.api.jobs import IngestJobs
from songlens.api.limits import TooBusy
from songlens.api.schemas import ErrorDetail, ErrorOut
from songlens.content.audio_io import safe_name
from songlens.content.decoding import SUPPORTED, describe, sniff
from songlens.content.metadata import parse_metadata
from songlens.errors import EmptyAudio, PayloadTooLarge, UnsupportedAudio

router = APIRouter(prefix="/v1/ingest-jobs", tags=["songs"])

ERRORS = {s: {"model": ErrorOut} for s in (400, 404, 413, 415, 422, 429)}
JobId = Annotated[str, Path(pattern=r"^[0-9a-f]{32}$", description="as POST returned it")]


class JobCreatedOut(BaseModel):
    job_id: str
    status_url: str


class JobOut(BaseModel):
    job_id: str
    state: str = Field(description="queued, running, done or failed")
    stage: str | None = Field(description="decode, audio_model, features, text or store: the "
                              "stage running (or the one that failed); null when queued or done")
    stages_done: list[str]
    song_id: str | None = Field(description="the stored song, once done")
    kept: bool = Field(description="done without writing: on_existing was 'keep' and the song "
                       "was already stored (as POST /v1/songs answers 200 then)")
    error: ErrorDetail | None = Field(description="why it failed (the code POST /v1/songs "
                                      "would have answered)")


def get_jobs(request: Request) -> IngestJobs:
    return request.app.state.jobs


def check_audio(data: bytes, filename: str) -> None:
    """Refuse an empty upload or one that is not an audio container at once (its first bytes
    are sniffed; decoding happens in the job)."""
    what = f"upload {safe_name(filename)!r}" if filename else "upload"
    if not data:
        raise EmptyAudio(f"{what} is empty (0 bytes)")
    if sniff(data) is None:
        looks = describe(data)
        raise UnsupportedAudio(f"{what} is not an audio file (looks like {looks}); "
                               f"supported: {SUPPORTED}", detected=looks)


@router.post("", status_code=202, response_model=JobCreatedOut, responses=ERRORS,
             dependencies=[WriteScope])
async def create_ingest_job(
    request: Request,
    settings: SettingsDep,
    audio: Annotated[UploadFile, File(description="mp3, ogg, flac, wav, m4a")],
    metadata: Annotated[str, Form(description="the same JSON as for POST /v1/songs")],
) -> JSONResponse:
    """Start ingesting a song (the form of ``POST /v1/songs``); poll ``status_url``. A bad form
    or a file that is not audio is refused here; what only decoding finds fails the job."""
    meta = await run_in_threadpool(parse_metadata, metadata)
    limit = int(settings.audio.max_upload_mb * 2**20)
    data = await audio.read(limit + 1)
    if len(data) > limit:
        raise PayloadTooLarge(f"audio upload exceeds the limit of "
                              f"{settings.audio.max_upload_mb:.0f} MiB")
    await run_in_threadpool(check_audio, data, audio.filename or "")
    jobs = get_jobs(request)
    try:
        job = jobs.submit(data, meta, audio.filename or "")
    except TooBusy:
        retry = jobs.limiter.retry_after_s
        return JSONResponse(error_body(
            "too_busy", f"the server is busy with {jobs.pending} ingest jobs; retry after "
            f"{retry} s", {"retry_after_s": retry}), status_code=429,
            headers={"retry-after": str(retry)})
    url = f"/v1/ingest-jobs/{job.job_id}"
    return JSONResponse({"job_id": job.job_id, "status_url": url}, status_code=202,
                        headers={"location": url})


@router.get("/{job_id}", response_model=JobOut, responses=ERRORS, dependencies=[ReadScope])
async def ingest_job(job_id: JobId, request: Request) -> dict:
    """A job's state: queued → running (with its stage) → done (with ``song_id``) or failed
    (with ``error``)."""
    return get_jobs(request).get(job_id)
