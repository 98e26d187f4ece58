"""Backup and restore of a data folder: the songs and users collections (Qdrant snapshots), the
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
the staging folder where the file system allows, not copied). :func:`restore_backup` treats the
archive as hostile: members must be exactly the manifest's files, in order, plain files with
the declared sizes and checksums (a kept audio file's name must be its checksum), and fit on the
disk; shard snapshots are checked again before the engine unpacks them; everything is staged
in the target and moved into place only when all of it checked out.
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
from typing import IO, Any

from songlens.catalog.audio_files import MEDIA_TYPES
from songlens.errors import InvalidArchive, InvalidInput, StoreError
from songlens.ranking.ranker import Ranker
from songlens.settings import Settings
from songlens.store import VectorStore
from songlens.store.edge import restore_snapshot

__all__ = ["FORMAT", "VERSION", "write_backup", "read_manifest", "restore_backup",
           "collection_names"]

log = logging.getLogger(__name__)

FORMAT = "songlens-backup"
VERSION = 1
MANIFEST = "manifest.json"
FEEDBACK = "feedback.sqlite"
RANKER = "ranker"
AUDIO = "audio"
#: a manifest entry is ~160 bytes: room for the kept audio of ~200k songs
MAX_MANIFEST_BYTES = 32 << 20
#: a kept audio file's path below the data folder (songlens.catalog.audio_files' layout)
_AUDIO = re.compile(rf"^{AUDIO}/(?P<dir>[0-9a-f]{{2}})/(?P<sha>(?P=dir)[0-9a-f]{{62}})"
                    rf"\.(?:{'|'.join(MEDIA_TYPES)})$")
#: the files an archive may hold (and so the only paths a restore writes, below its target)
_ALLOWED = re.compile(r"^(qdrant/(songs|users)\.snapshot|feedback\.sqlite|"
                      r"ranker/(state\.json|ranker-[0-9]{1,12}\.npz)|"
                      rf"{_AUDIO.pattern[1:-1]})$")
_CHUNK = 1 << 20


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
        if not _ALLOWED.match(f"{RANKER}/{snap}"):
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
        if not (_AUDIO.match(rel) and src.is_file()):  # e.g. a write's temporary file
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
        while chunk := f.read(_CHUNK):
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


# -- reading --------------------------------------------------------------------------------------
def _check_manifest(raw: bytes) -> dict[str, Any]:
    try:
        m = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidArchive(f"the manifest is not JSON: {exc}") from exc
    if not isinstance(m, dict) or m.get("format") != FORMAT:
        raise InvalidArchive("not a songlens backup (its manifest has another format)")
    if m.get("version") != VERSION:
        raise InvalidArchive(f"backup format version {str(m.get('version'))[:20]!r}; this "
                             f"songlens reads version {VERSION}")
    files = m.get("files")
    if not isinstance(files, dict):
        raise InvalidArchive("the manifest lists no files")
    for name, f in files.items():
        if not (isinstance(name, str) and _ALLOWED.match(name)):
            raise InvalidArchive(f"the manifest lists an unexpected file {str(name)[:80]!r}")
        if not (isinstance(f, dict) and isinstance(f.get("size"), int) and f["size"] >= 0
                and isinstance(f.get("sha256"), str)
                and re.fullmatch(r"[0-9a-f]{64}", f["sha256"])):
            raise InvalidArchive(f"the manifest's entry for {name!r} is malformed")
        audio = _AUDIO.match(name)
        if audio and audio["sha"] != f["sha256"]:  # its bytes are checked against sha256
            raise InvalidArchive(f"kept audio {name!r} is not named for its checksum")
    cols = m.get("collections") or {}
    if not isinstance(cols, dict) or any(
            f"qdrant/{role}.snapshot" not in files or not isinstance(c, dict)
            or not isinstance(c.get("points"), int) for role, c in cols.items()):
        raise InvalidArchive("the manifest's collections do not match its files")
    for part in ("feedback", "ranker", "audio"):
        if not (m.get(part) is None or isinstance(m[part], dict)):
            raise InvalidArchive(f"the manifest's {part!r} is malformed")
    if m.get("feedback") is not None and not isinstance(m["feedback"].get("events"), int):
        raise InvalidArchive("the manifest's feedback has no event count")
    return m


def _read_manifest(tar: tarfile.TarFile) -> dict[str, Any]:
    first = tar.next()
    if first is None or first.name != MANIFEST or not first.isreg():
        raise InvalidArchive(f"not a songlens backup: the first member is not {MANIFEST}")
    if first.size > MAX_MANIFEST_BYTES:
        raise InvalidArchive(f"the manifest is over {MAX_MANIFEST_BYTES} bytes")
    f = tar.extractfile(first)
    assert f is not None
    return _check_manifest(f.read(MAX_MANIFEST_BYTES + 1))


def _open(archive: Path) -> tarfile.TarFile:
    try:
        return tarfile.open(archive, "r:")
    except (tarfile.TarError, OSError) as exc:
        raise InvalidArchive(f"{archive.name} is not a readable tar archive: "
                             f"{getattr(exc, 'strerror', None) or exc}") from exc


def _copy_member(src: IO[bytes], dest: Path, size: int, sha256: str, name: str) -> None:
    h, n = hashlib.sha256(), 0
    with dest.open("wb") as out:
        while chunk := src.read(min(_CHUNK, size - n + 1)):
            n += len(chunk)
            if n > size:
                raise InvalidArchive(f"{name} is larger than its manifest says")
            h.update(chunk)
            out.write(chunk)
    if n != size or h.hexdigest() != sha256:
        raise InvalidArchive(f"{name} does not match its checksum: the archive is damaged")


def _extract(archive: Path, staging: Path) -> dict[str, Any]:
    """Every file of the archive, checked against the manifest, into ``staging``."""
    try:
        with _open(archive) as tar:
            manifest = _read_manifest(tar)
            files, seen = manifest["files"], set()
            need = sum(f["size"] for f in files.values())
            free = shutil.disk_usage(staging).free
            if need * 2 > free:  # the files, then the unpacked collections beside them
                raise InvalidArchive(f"the backup needs about {2 * need} bytes free; "
                                     f"{free} are")
            while (m := tar.next()) is not None:  # after the manifest, in archive order
                if m.name not in files or m.name in seen:
                    raise InvalidArchive(f"unexpected member {m.name[:80]!r} (not in the "
                                         "manifest, or twice)")
                if not m.isreg() or m.size != files[m.name]["size"]:
                    raise InvalidArchive(f"member {m.name!r} is not a plain file of the size "
                                         "the manifest says")
                seen.add(m.name)
                dest = staging / m.name  # a name _ALLOWED matched: stays inside staging
                dest.parent.mkdir(parents=True, exist_ok=True)
                src = tar.extractfile(m)
                assert src is not None
                _copy_member(src, dest, m.size, files[m.name]["sha256"], m.name)
    except (tarfile.TarError, EOFError, ValueError, UnicodeError, OverflowError) as exc:
        raise InvalidArchive(f"the archive is damaged: {str(exc)[:200]}") from exc
    missing = sorted(set(files) - seen)
    if missing:
        raise InvalidArchive(f"the archive is cut short: {', '.join(missing[:5])} missing")
    return manifest


def read_manifest(archive: Path, *, verify: bool = True) -> dict[str, Any]:
    """The archive's manifest; with ``verify`` every file is read and checked against it."""
    if not verify:
        with _open(archive) as tar:
            return _read_manifest(tar)
    with tempfile.TemporaryDirectory(prefix=".songlens-verify-", dir=archive.parent) as tmp:
        return _extract(archive, Path(tmp))


def _check_log(path: Path, expected: dict[str, Any] | None) -> None:
    try:
        with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as db:
            if db.execute("PRAGMA quick_check").fetchone()[0] != "ok":
                raise InvalidArchive("the feedback log in the archive is damaged")
            n = db.execute("SELECT COUNT(*) FROM events").fetchone()[0]
    except sqlite3.DatabaseError as exc:
        raise InvalidArchive(f"the feedback log in the archive is not readable: {exc}") from exc
    if expected and n != expected.get("events"):
        raise InvalidArchive(f"the feedback log holds {n} events; the manifest says "
                             f"{expected.get('events')}")


def _contents(target: Path, settings: Settings) -> list[Path]:
    """What a restore replaces in ``target``."""
    q = settings.qdrant_path
    return [q / n for n in collection_names(settings).values()] + [
        target / FEEDBACK, target / f"{FEEDBACK}-wal", target / f"{FEEDBACK}-shm",
        target / RANKER, target / AUDIO]


def restore_backup(archive: Path, *, settings: Settings, force: bool = False) -> dict[str, Any]:
    """Restore ``archive`` into ``settings.data_path``: a new or empty folder, or with ``force``
    one whose collections, feedback log, ranker and kept audio are replaced. Returns the
    manifest.

    Raises
    ------
    InvalidInput
        The folder is not empty and ``force`` is not given.
    InvalidArchive
        The archive is not a songlens backup, is damaged, or breaks a rule (module docstring).
    """
    target = settings.data_path
    if target.exists() and any(target.iterdir()) and not force:
        raise InvalidInput(f"{str(target)!r} is not empty: restore into a new folder "
                           "(--data-dir), or give --force to replace its collections, feedback "
                           "log, ranker and kept audio")
    created = [p for p in (target, *target.parents) if not p.exists()]
    target.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".songlens-restore-", dir=target))
    try:
        return _restore(archive, staging, settings)
    except OSError as exc:  # the disk, not the archive: say so without a traceback
        raise StoreError(f"restore failed: {exc.strerror or type(exc).__name__}") from exc
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        for folder in created:  # the folders this call made, innermost first, if still empty
            with contextlib.suppress(OSError):
                folder.rmdir()
        raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _restore(archive: Path, staging: Path, settings: Settings) -> dict[str, Any]:
    target = settings.data_path
    manifest = _extract(archive, staging)
    if manifest.get("backend") != "edge":
        raise InvalidArchive(f"a backup of a {str(manifest.get('backend'))[:20]!r} store; "
                             "restore reads backups of the embedded store")
    names = collection_names(settings)
    for role, col in manifest.get("collections", {}).items():
        snap = f"qdrant/{role}.snapshot"
        n = restore_snapshot(staging / snap, staging / "collections" / names[role],
                             max_bytes=manifest["files"][snap]["size"])
        if n != col["points"]:
            raise InvalidArchive(f"the {role} collection holds {n} points; the manifest "
                                 f"says {col['points']}")
    if FEEDBACK in manifest["files"]:
        _check_log(staging / FEEDBACK, manifest.get("feedback"))
    if f"{RANKER}/state.json" in manifest["files"]:
        _check_ranker(staging / RANKER, manifest["files"])
    for old in _contents(target, settings):
        if old.is_dir():
            shutil.rmtree(old)
        elif old.exists():
            old.unlink()
    settings.qdrant_path.mkdir(parents=True, exist_ok=True)
    for role in manifest.get("collections", {}):
        os.replace(staging / "collections" / names[role], settings.qdrant_path / names[role])
    if FEEDBACK in manifest["files"]:
        os.replace(staging / FEEDBACK, target / FEEDBACK)
    if (staging / RANKER).exists():
        os.replace(staging / RANKER, target / RANKER)
    if (staging / AUDIO).exists():
        os.replace(staging / AUDIO, target / AUDIO)
    return manifest


def _check_ranker(folder: Path, files: dict[str, Any]) -> None:
    try:
        state = json.loads((folder / "state.json").read_bytes())
        snap = state["snapshot"]
    except (ValueError, KeyError, TypeError) as exc:
        raise InvalidArchive("the ranker state in the archive is malformed") from exc
    if f"{RANKER}/{snap}" not in files:
        raise InvalidArchive("the ranker state names a snapshot the archive does not hold")
    try:
        Ranker.load(folder / snap)  # numpy arrays only: no pickles are loaded
    except Exception as exc:  # noqa: BLE001 - whatever is wrong with it, it does not load
        raise InvalidArchive(f"the ranker snapshot in the archive does not load: "
                             f"{type(exc).__name__}") from exc
