"""Backup of a data folder: the songs and users collections (Qdrant snapshots), the
feedback log, the ranker's current snapshot and the kept audio files, in one tar archive with a
manifest and SHA-256 checksums.

Archive layout (the manifest first, so a reader checks as it streams)::

    manifest.json            format, version, counts, and {name: {size, sha256}} of every file
    qdrant/songs.snapshot    Qdrant shard snapshot of the songs collection (by role, not name)
    qdrant/users.snapshot    the users collection (absent when no profile was ever stored)
    feedback.sqlite          the feedback log (SQLite's online backup: a consistent copy)
    ranker/state.json        the ranker's state and the snapshot it names
    ranker/ranker-NNNNNNNN.npz
    audio/ab/<sha256>.<ext>  the kept audio files (content-addressed: the name is the hash)

:func:`write_backup` stages the files while ``hold`` is held (the running service holds its
write locks there, so the collections, the log and the ranker agree), then writes the archive
without holding anything (kept audio files never change once written, so they are linked into
the staging folder where the file system allows, not copied). Restoring, which treats an
archive as hostile, is :mod:`songlens.service.restore`.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import re
import shutil
import sqlite3
import tarfile
import tempfile
import time
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import Any

from songlens.catalog.audio_files import MEDIA_TYPES
from songlens.errors import StoreError
from songlens.settings import Settings
from songlens.store import VectorStore

__all__ = ["AUDIO", "FEEDBACK", "FORMAT", "MANIFEST", "RANKER", "VERSION", "collection_names",
           "write_backup"]

log = logging.getLogger(__name__)

FORMAT = "songlens-backup"
VERSION = 1
MANIFEST = "manifest.json"
FEEDBACK = "feedback.sqlite"
RANKER = "ranker"
AUDIO = "audio"
#: a kept audio file's path below the data folder (songlens.catalog.audio_files' layout)
AUDIO_FILE = re.compile(rf"^{AUDIO}/(?P<dir>[0-9a-f]{{2}})/(?P<sha>(?P=dir)[0-9a-f]{{62}})"
                    rf"\.(?:{'|'.join(MEDIA_TYPES)})$")
#: the files an archive may hold (and so the only paths a restore writes, below its target)
ALLOWED = re.compile(r"^(qdrant/(songs|users)\.snapshot|feedback\.sqlite|"
                      r"ranker/(state\.json|ranker-[0-9]{1,12}\.npz)|"
                      rf"{AUDIO_FILE.pattern[1:-1]})$")
CHUNK = 1 << 20


def collection_names(settings: Settings) -> dict[str, str]:
    """Role → collection name in this configuration."""
    return {"songs": settings.qdrant.collection, "users": settings.coldstart.users_collection}


# -- writing --------------------------------------------------------------------------------------
def _copy_sqlite(src: Path, dest: Path) -> dict[str, int]:
    """SQLite's online backup of the log (consistent while it is written), and its counts."""
    with contextlib.closing(sqlite3.connect(src)) as s, \
            contextlib.closing(sqlite3.connect(dest)) as d:
        s.backup(d)
        n, last = d.execute("SELECT COUNT(*), COALESCE(MAX(seq), 0) FROM events").fetchone()
    return {"events": int(n), "last_seq": int(last)}


def _stage(staging: Path, *, settings: Settings, store: VectorStore) -> dict[str, Any]:
    info: dict[str, Any] = {"collections": {}, "feedback": None, "ranker": None}
    (staging / "qdrant").mkdir()
    for role, name in collection_names(settings).items():
        n = store.snapshot(name, staging / "qdrant" / f"{role}.snapshot")
        if n is not None:
            info["collections"][role] = {"name": name, "points": n}
    log_path = settings.data_path / FEEDBACK
    if log_path.exists():
        info["feedback"] = _copy_sqlite(log_path, staging / FEEDBACK)
    state_path = settings.data_path / RANKER / "state.json"
    if state_path.exists():
        raw = state_path.read_bytes()
        state = json.loads(raw)
        snap = str(state.get("snapshot") or "")
        if not ALLOWED.match(f"{RANKER}/{snap}"):
            raise StoreError("the ranker's state names an unexpected snapshot file")
        (staging / RANKER).mkdir()
        shutil.copyfile(settings.data_path / RANKER / snap, staging / RANKER / snap)
        (staging / RANKER / "state.json").write_bytes(raw)
        info["ranker"] = {"snapshot": snap, "seq": state.get("seq"),
                          "version": state.get("version")}
    info["audio"] = _stage_audio(settings.data_path, staging)
    return info


def _stage_audio(data: Path, staging: Path) -> dict[str, int] | None:
    """The kept audio files into ``staging/audio`` (hard links where the file system allows:
    a kept file is never rewritten, only replaced or removed); their count and bytes."""
    n = size = 0
    for src in sorted((data / AUDIO).glob("*/*")):
        rel = src.relative_to(data).as_posix()
        if not (AUDIO_FILE.match(rel) and src.is_file()):  # e.g. a write's temporary file
            continue
        dest = staging / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.link(src, dest)
        except OSError:
            shutil.copyfile(src, dest)
        n, size = n + 1, size + dest.stat().st_size
    return {"files": n, "bytes": size} if n else None


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(CHUNK):
            h.update(chunk)
    return h.hexdigest()


def write_backup(dest: Path, *, settings: Settings, store: VectorStore,
                 hold: Callable[[], AbstractContextManager] = nullcontext,
                 prepare: Callable[[], None] | None = None) -> dict[str, Any]:
    """Write a backup of ``settings``' data folder to the new file ``dest``; return its manifest.

    ``hold()`` is held while the files are staged (writes wait); ``prepare()`` runs first inside
    it (the service snapshots its ranker there). The archive is written to a temporary file
    beside ``dest`` and renamed, so ``dest`` is never half-written."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".songlens-backup-", dir=dest.parent))
    try:
        with hold():
            if prepare is not None:
                prepare()
            info = _stage(staging, settings=settings, store=store)
        files = sorted(p for p in staging.rglob("*") if p.is_file())
        manifest = {"format": FORMAT, "version": VERSION, "created_at": time.time(),
                    "backend": store.backend, **info,
                    "files": {p.relative_to(staging).as_posix():
                              {"size": p.stat().st_size, "sha256": _sha256(p)} for p in files}}
        body = json.dumps(manifest, ensure_ascii=False, separators=(",", ":")).encode()
        tmp = staging / "archive.tar"
        with tarfile.open(tmp, "w", format=tarfile.PAX_FORMAT) as tar:
            _add_bytes(tar, MANIFEST, body)
            for p in files:
                info_ = tar.gettarinfo(p, arcname=p.relative_to(staging).as_posix())
                info_.uid = info_.gid = 0
                info_.uname = info_.gname = ""
                info_.mode = 0o600
                with p.open("rb") as f:
                    tar.addfile(info_, f)
        os.replace(tmp, dest)
        return manifest
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _add_bytes(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    import io

    info = tarfile.TarInfo(name)
    info.size, info.mode, info.mtime = len(data), 0o600, int(time.time())
    tar.addfile(info, io.BytesIO(data))
