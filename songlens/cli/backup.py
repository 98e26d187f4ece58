"""``songlens backup`` (locally, or from a running server) and ``songlens restore``."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Annotated, Any

import typer

from songlens.cli.common import (
    ApiKeyOpt,
    ConfigOpt,
    DataDirOpt,
    ServerOpt,
    app,
    busy_error,
    calling_server,
    command_settings,
    console,
    err,
    fail,
    find_server,
    need_store_to_itself,
)
from songlens.errors import SonglensError, StoreBusy


def _summary(manifest: dict[str, Any], path: Path) -> str:
    cols = manifest.get("collections") or {}
    parts = [f"{c['points']} {role}" for role, c in cols.items()]
    if manifest.get("feedback"):
        parts.append(f"{manifest['feedback']['events']} feedback events")
    if manifest.get("ranker"):
        parts.append(f"ranker v{manifest['ranker'].get('version')}")
    if manifest.get("audio"):
        parts.append(f"{manifest['audio'].get('files')} audio files")
    size = sum(f["size"] for f in manifest["files"].values())
    return f"{', '.join(parts) or 'nothing'} ({size / 2**20:.1f} MiB) — {path}"


@app.command()
def backup(
    dest: Annotated[Path, typer.Argument(help="the archive to write (a .tar file)")],
    config: ConfigOpt = None,
    data_dir: DataDirOpt = None,
    server: ServerOpt = None,
    api_key: ApiKeyOpt = None,
    overwrite: Annotated[bool, typer.Option(help="replace DEST if it exists")] = False,
) -> None:
    """Back up the songs and users collections, the feedback log, the ranker and the kept audio
    into one archive. With a running server it is asked for a consistent backup (an admin key
    when keys are in force); without one the store is opened here."""
    from songlens.service.backup import write_backup
    from songlens.service.restore import read_manifest

    settings = command_settings(config, data_dir=data_dir)
    if dest.exists() and not overwrite:
        err.print(f"[red]{dest} exists[/red]: give another name, or --overwrite")
        raise typer.Exit(2)
    remote = find_server(settings, server, api_key)
    if remote is None and not settings.qdrant.url and not (
            settings.qdrant_path / settings.qdrant.collection).exists():
        err.print(f"[red]nothing to back up[/red]: no songs collection in {settings.data_path}")
        raise typer.Exit(2)
    dest.parent.mkdir(parents=True, exist_ok=True)
    if remote is not None:
        tmp = dest.with_name(f".{dest.name}.{os.getpid()}.part")
        try:
            with calling_server(remote), err.status("the server is writing the backup…"):
                remote.backup(tmp)
            manifest = read_manifest(tmp)  # every checksum, before it takes DEST's name
            os.replace(tmp, dest)
        except SonglensError as exc:
            fail(exc)
        finally:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
    else:
        from songlens.store import configured_store

        try:
            with configured_store(settings) as store, err.status("writing…"):
                manifest = write_backup(dest, settings=settings, store=store)
        except StoreBusy as exc:
            fail(busy_error(settings, exc))
        except SonglensError as exc:
            fail(exc)
    console.print(f"backed up {_summary(manifest, dest)}")


@app.command()
def restore(
    archive: Annotated[Path, typer.Argument(help="an archive written by 'songlens backup'",
                                            exists=True, dir_okay=False)],
    config: ConfigOpt = None,
    data_dir: DataDirOpt = None,
    force: Annotated[bool, typer.Option(
        help="restore into a folder that is not empty, replacing its collections, feedback "
             "log, ranker and kept audio")] = False,
) -> None:
    """Restore a backup into the data folder (--data-dir; a new or empty one unless --force).
    The archive is checked as untrusted: members, sizes and checksums must match its
    manifest."""
    from songlens.service.restore import restore_backup

    settings = command_settings(config, data_dir=data_dir)
    need_store_to_itself(settings, "restore")
    try:
        with err.status("restoring…"):
            manifest = restore_backup(archive, settings=settings, force=force)
    except SonglensError as exc:
        fail(exc)
    console.print(f"restored {_summary(manifest, settings.data_path)}")
