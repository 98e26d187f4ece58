"""Restoring a backup written by :mod:`songlens.service.backup`, and reading its manifest. The
archive is hostile until checked: members must be exactly the manifest's files, in order, plain
files with the declared sizes and checksums (a kept audio file's name must be its checksum), and
fit on the disk; shard snapshots are checked again before the engine unpacks them; everything is
staged in the target and moved into place only when all of it checked out."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
import sqlite3
import tarfile
import tempfile
from pathlib import Path
from typing import IO, Any

from songlens.errors import InvalidArchive, InvalidInput, StoreError
from songlens.ranking.ranker import Ranker
from songlens.service.backup import (
    ALLOWED,
    AUDIO,
    AUDIO_FILE,
    CHUNK,
    FEEDBACK,
    FORMAT,
    MANIFEST,
    RANKER,
    VERSION,
    collection_names,
)
from songlens.settings import Settings
from songlens.store.edge_snapshots import restore_snapshot

__all__ = ["read_manifest", "restore_backup"]

#: a manifest entry is ~160 bytes: room for the kept audio of ~200k songs
MAX_MANIFEST_BYTES = 32 << 20


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
        if not (isinstance(name, str) and ALLOWED.match(name)):
            raise InvalidArchive(f"the manifest lists an unexpected file {str(name)[:80]!r}")
        if not (isinstance(f, dict) and isinstance(f.get("size"), int) and f["size"] >= 0
                and isinstance(f.get("sha256"), str)
                and re.fullmatch(r"[0-9a-f]{64}", f["sha256"])):
            raise InvalidArchive(f"the manifest's entry for {name!r} is malformed")
        audio = AUDIO_FILE.match(name)
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
        while chunk := src.read(min(CHUNK, size - n + 1)):
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
                dest = staging / m.name  # a name ALLOWED matched: stays inside staging
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
