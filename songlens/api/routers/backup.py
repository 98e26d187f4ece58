"""/v1/admin/backup: a consistent backup of the running service, streamed to the caller (admin
scope). The archive is written to a private temporary folder inside the data folder and removed
once sent; the caller decides where its copy goes, the server writes nowhere a client names."""

from __future__ import annotations

import logging
import shutil
import tempfile
import threading
import time
from pathlib import Path

from fastapi import APIRouter, Depends
from fastapi.responses import FileResponse
from starlette.background import BackgroundTask

from songlens.api.deps import CatalogDep, ColdStartDep, SettingsDep
from songlens.api.schemas import ErrorOut
from songlens.api.security import ADMIN
from songlens.errors import BackupInProgress, StoreError
from songlens.service.backup import write_backup

router = APIRouter(prefix="/v1/admin", tags=["admin"], dependencies=[Depends(ADMIN)])
log = logging.getLogger(__name__)

#: one backup at a time per server process (each holds the write locks while it stages)
_running = threading.Lock()
#: temporary folders older than this are left-overs of a backup whose download broke off
STALE_S = 3600.0
PREFIX = ".backup-"


def _sweep(data: Path) -> None:
    for old in data.glob(f"{PREFIX}*"):
        try:
            if old.is_dir() and time.time() - old.stat().st_mtime > STALE_S:
                shutil.rmtree(old, ignore_errors=True)
        except OSError:
            pass


@router.post("/backup", response_class=FileResponse,
             responses={200: {"content": {"application/x-tar": {}},
                              "description": "the backup archive (see the README)"},
                        **{s: {"model": ErrorOut} for s in (401, 403, 409, 503)}})
def backup(catalog: CatalogDep, coldstart: ColdStartDep, settings: SettingsDep) -> FileResponse:
    """The songs and users collections, the feedback log and the ranker, as one tar archive
    with a manifest and checksums, consistent as of one moment: writes (ingestion, feedback)
    wait while the files are copied; reads of the embedded store wait too."""
    if not _running.acquire(blocking=False):
        raise BackupInProgress("a backup of this server is being written; try again when it "
                               "is done")
    folder = None
    try:
        _sweep(settings.data_path)
        folder = Path(tempfile.mkdtemp(prefix=PREFIX, dir=settings.data_path))
        dest = folder / "songlens-backup.tar"

        def hold():
            from contextlib import ExitStack

            stack = ExitStack()
            stack.enter_context(catalog.writes_held())
            stack.enter_context(coldstart.held())
            return stack

        write_backup(dest, settings=settings, store=catalog.store, hold=hold)
    except BaseException as exc:
        if folder is not None:
            shutil.rmtree(folder, ignore_errors=True)
        log.exception("backup failed")
        if isinstance(exc, StoreError):  # our own words: no paths in them
            raise
        raise StoreError("the backup failed; the server log says why") from exc
    finally:
        _running.release()
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
    return FileResponse(dest, media_type="application/x-tar",
                        filename=f"songlens-backup-{stamp}.tar",
                        background=BackgroundTask(shutil.rmtree, folder, ignore_errors=True))
