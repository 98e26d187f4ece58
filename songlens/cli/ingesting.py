"""``songlens ingest`` (locally, or through a running server) and ``songlens optimize``."""

from __future__ import annotations

import time
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import typer
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table
from rich.text import Text

from songlens.cli import remote as remote_cli
from songlens.settings import Settings

if TYPE_CHECKING:
    from songlens.catalog.batch import BatchReport

from songlens.cli.common import (
    ApiKeyOpt,
    ConfigOpt,
    DataDirOpt,
    ServerOpt,
    app,
    calling_server,
    command_settings,
    console,
    err,
    fail,
    find_server,
    need_store_to_itself,
    opened_catalog,
)


class OnExisting(StrEnum):
    update = "update"
    keep = "keep"


class Engine(StrEnum):
    local = "local"
    ray = "ray"


@app.command()
def ingest(
    paths: Annotated[list[Path], typer.Argument(help="audio files or folders (recursive)")],
    config: ConfigOpt = None,
    workers: Annotated[Optional[int], typer.Option(  # noqa: UP045
        "--workers", "-w", min=1,
        help="parallel files (default 1; with --engine ray: Ray actors, default one per CPU "
             "of the Ray cluster)")] = None,
    force: Annotated[bool, typer.Option(help="re-ingest unchanged files too")] = False,
    on_existing: Annotated[OnExisting, typer.Option(
        "--on-existing",
        help="a song already stored (same song id, or same audio): 'update' analyses and "
             "replaces it (its first ingestion time stays), 'keep' leaves it as it is")
    ] = OnExisting.update,
    engine: Annotated[Engine, typer.Option(
        "--engine",
        help="'local': threads in this process; 'ray': Ray actors (pip install "
             "'songlens\\[ray]'), for a back catalogue; it writes to the store itself")
    ] = Engine.local,
    address: Annotated[Optional[str], typer.Option(  # noqa: UP045
        "--address", help="with --engine ray: the Ray cluster to use (default: a local Ray)")
    ] = None,
    data_dir: DataDirOpt = None,
    server: ServerOpt = None,
    api_key: ApiKeyOpt = None,
) -> None:
    """Ingest audio files; lyrics from a sidecar .lrc/.txt or embedded tags. With a running
    server, the files are uploaded to it (--workers at once). With --engine ray the songs are
    analysed on Ray and written here to the store, or to the Qdrant server of qdrant.url."""
    from songlens.catalog.batch import find_audio_files, ingest_files

    settings = command_settings(config, data_dir=data_dir)
    try:
        files = find_audio_files(paths)
    except FileNotFoundError as exc:
        err.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from exc
    if not files:
        err.print("no audio files found")
        raise typer.Exit(1)
    workers_ = workers or 1
    remote = None if engine is Engine.ray else find_server(settings, server, api_key)
    if engine is Engine.ray:
        report = _ingest_ray(settings, files, address=address, workers=workers, force=force,
                             on_existing=on_existing.value, server=server)
    elif remote is not None:
        with calling_server(remote):
            remote.health()
            report = _with_progress(files, lambda done: _upload_files(
                remote, settings, files, workers=workers_, force=force, on_done=done,
                on_existing=on_existing.value))
        if report.ingested:
            err.print("[dim]the server indexes the songs posted to it in the background "
                      "(qdrant.index_upkeep_points; its /healthz says how many wait)[/dim]")
    else:
        with opened_catalog(settings) as catalog:
            report = _with_progress(files, lambda done: ingest_files(
                catalog, files, workers=workers_, force=force, on_done=done,
                on_existing=on_existing.value))
            if report.ingested:
                _optimize(catalog)
    kept = f", kept {len(report.kept)} already stored" if report.kept else ""
    console.print(f"ingested {len(report.ingested)}, skipped {len(report.skipped)} unchanged"
                  f"{kept}, failed {len(report.failed)}")
    if report.failed:
        table = Table("file", "reason", title="failures")
        for path, reason in report.failed:
            table.add_row(path, reason)
        console.print(table)
        raise typer.Exit(1)


class SongsPerSecond(ProgressColumn):
    """Files done per second (the recent rate while running, the average at the end)."""

    def render(self, task) -> Text:
        speed = task.finished_speed or task.speed
        return Text(f"{speed:.2f} songs/s" if speed else "- songs/s", style="progress.data.speed")


def _with_progress(files: list[Path], run) -> BatchReport:
    """``run(on_done)`` with a progress bar over ``files``: done, rate, elapsed and ETA."""
    with Progress(TextColumn("[bold]ingest"), BarColumn(), MofNCompleteColumn(),
                  SongsPerSecond(), TimeElapsedColumn(), TextColumn("ETA"),
                  TimeRemainingColumn(), TextColumn("{task.description}"), console=err,
                  disable=None) as progress:
        task = progress.add_task("", total=len(files))

        def done(p: Path, status: str, detail: str | None) -> None:
            progress.update(task, advance=1, description=f"{status}: {p.name}")

        return run(done)


def _upload_files(remote: remote_cli.Remote, settings: Settings, files: list[Path], *,
                  workers: int, force: bool, on_done, on_existing: str = "update"
                  ) -> BatchReport:
    """`ingest` through a server: the metadata the local path would use, the same manifest (so
    re-runs skip unchanged files that the catalogue still has)."""
    from songlens.catalog.batch import Manifest, run_batch
    from songlens.content.metadata import parse_metadata, read_file_metadata

    settings.data_path.mkdir(parents=True, exist_ok=True)
    manifest = Manifest(settings.data_path / "ingest_manifest.json")

    def one(p: Path) -> tuple[str, str | None]:
        known = None if force else manifest.unchanged(p)
        if known and remote.has_song(known):
            return "skipped", known
        meta = read_file_metadata(p) | {"on_existing": on_existing}
        parse_metadata(meta)  # refused here as the local path would, before any upload
        doc = remote.ingest(p, meta)
        manifest.record(p, doc["song_id"])
        return ("kept" if doc.get("kept") else "ingested"), doc["song_id"]

    return run_batch(files, one, workers=workers, on_done=on_done)


def _ingest_ray(settings: Settings, files: list[Path], *, address: str | None,
                workers: int | None, force: bool, on_existing: str,
                server: str | None) -> BatchReport:
    """``ingest --engine ray``: Ray actors analyse, this process writes. It opens the store
    itself, so a songlens server holding the embedded store must be stopped first; with a
    Qdrant server (qdrant.url) it writes beside a running service."""
    from songlens.catalog.ray_batch import RayOptions, ingest_files_ray, require_ray
    from songlens.errors import ConfigError

    if server:
        fail(ConfigError("--engine ray writes to the store itself, not through a songlens "
                         "server: drop --server (and SONGLENS_SERVER), or use the local engine"))
    try:
        require_ray()
    except ConfigError as exc:
        fail(exc)
    if settings.qdrant.url:
        err.print(f"[dim]--engine ray writes to the Qdrant server at {settings.qdrant.url} "
                  "directly[/dim]")
    else:
        need_store_to_itself(settings, "ingest --engine ray",
                             hint="(with a Qdrant server, qdrant.url, it can run beside the "
                                  "songlens server)")
    options = RayOptions(address=address, workers=workers)
    with opened_catalog(settings) as catalog:
        report = _with_progress(files, lambda done: ingest_files_ray(
            catalog, files, options=options, force=force, on_done=done,
            on_existing=on_existing))
        if report.ingested:
            _optimize(catalog)
    return report


def _optimize(catalog) -> None:
    """Index what was ingested (the embedded store has no background optimizer)."""
    t0 = time.perf_counter()
    with err.status("building the search index"):
        catalog.store.optimize(catalog.spec)
    widths = ""
    state = catalog.store.index_state(catalog.spec)
    if state is not None and state.hnsw_ef:
        widths = "; beam width " + ", ".join(
            f"{name} {ef} (recall@10 {state.recall[name]:.3f})"
            for name, ef in sorted(state.hnsw_ef.items()))
    err.print(f"search index up to date ({time.perf_counter() - t0:.1f} s{widths})")


@app.command()
def optimize(
    config: ConfigOpt = None,
    data_dir: DataDirOpt = None,
) -> None:
    """Build the HNSW search index of the embedded store now (`ingest` does it itself, a
    running server keeps it current in the background, a Qdrant server needs nothing). Needs
    the server stopped."""
    settings = command_settings(config, data_dir=data_dir)
    need_store_to_itself(settings, "optimize")
    with opened_catalog(settings) as catalog:
        _optimize(catalog)
