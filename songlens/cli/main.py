"""The ``songlens`` command line: serve, ingest, show, similar, playlist, train."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from songlens.cli import keys as keys_cli
from songlens.errors import SonglensError
from songlens.settings import Settings, load_settings

if TYPE_CHECKING:
    from songlens.catalog.pipeline import Catalog

app = typer.Typer(help="songlens: music content understanding and cold start.",
                  no_args_is_help=True, pretty_exceptions_enable=False)
console = Console()
err = Console(stderr=True)

ConfigOpt = Annotated[Optional[Path], typer.Option("--config", "-c", help="YAML settings file",  # noqa: UP045
                                                   exists=True, dir_okay=False)]


def _settings(config: Path | None, **overrides: object) -> Settings:
    s = load_settings(config, **{k: v for k, v in overrides.items() if v is not None})
    logging.basicConfig(level=s.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    return s


def _catalog(settings: Settings):
    from songlens.api.app import open_catalog

    with console.status("loading models and store…"):
        return open_catalog(settings)


def _fail(exc: SonglensError) -> None:
    err.print(f"[red]{exc.code}[/red]: {exc.message}")
    raise typer.Exit(2)


@contextmanager
def _opened(settings: Settings) -> Iterator[Catalog]:
    """The catalog for one command: our errors (opening or inside) end it with exit code 2 and
    their message, and the store is always closed."""
    try:
        catalog = _catalog(settings)
    except SonglensError as exc:
        _fail(exc)
    try:
        yield catalog
    except SonglensError as exc:
        _fail(exc)
    finally:
        catalog.store.close()


@app.command()
def serve(
    config: ConfigOpt = None,
    host: Annotated[Optional[str], typer.Option(help="bind address")] = None,  # noqa: UP045
    port: Annotated[Optional[int], typer.Option(help="port")] = None,  # noqa: UP045
    data_dir: Annotated[Optional[str], typer.Option(help="where the store lives")] = None,  # noqa: UP045
    demo: Annotated[bool, typer.Option(help="ingest the demo catalog on start-up")] = False,
    insecure: Annotated[bool, typer.Option(
        help="serve a non-loopback address without API keys (security.allow_unauthenticated)")
    ] = False,
) -> None:
    """Run the HTTP API (docs at /docs). Without API keys it binds loopback only."""
    import uvicorn

    from songlens.api.app import create_app

    settings = _settings(config, data_dir=data_dir)
    security = settings.security.model_copy(
        update={"allow_unauthenticated": settings.security.allow_unauthenticated or insecure})
    settings = settings.model_copy(update={"security": security, "api": settings.api.model_copy(
        update={"host": host or settings.api.host, "port": port or settings.api.port})})
    on_ready = None
    if demo:
        def on_ready(catalog) -> None:
            from songlens.catalog.demo import find_demo_songs, ingest_demo

            songs = find_demo_songs(settings.demo.sources)
            if not songs:
                err.print("[yellow]no demo songs found[/yellow] in "
                          f"{settings.demo.sources}; install the Debian packages "
                          "fretsonfire-songs-muldjord and fretsonfire-songs-sectoid")
            for song, problem in ingest_demo(catalog, settings.demo.sources):
                err.print(f"demo: {song.song_id} ({song.artist} - {song.title})"
                          + (f" [red]failed: {problem}[/red]" if problem else " ingested"))
            err.print(f"[green]ready[/green]: {catalog.count()} songs in the catalog")
    try:
        application = create_app(settings, on_ready=on_ready)
        err.print(application.state.guard.startup_line())
    except SonglensError as exc:
        _fail(exc)
    uvicorn.run(application, host=settings.api.host, port=settings.api.port,
                log_level=settings.log_level.lower())


@app.command()
def ingest(
    paths: Annotated[list[Path], typer.Argument(help="audio files or folders (recursive)")],
    config: ConfigOpt = None,
    workers: Annotated[int, typer.Option("--workers", "-w", min=1, help="parallel files")] = 1,
    force: Annotated[bool, typer.Option(help="re-ingest unchanged files too")] = False,
    data_dir: Annotated[Optional[str], typer.Option(help="where the store lives")] = None,  # noqa: UP045
) -> None:
    """Ingest audio files; lyrics from a sidecar .lrc/.txt or embedded tags."""
    from songlens.catalog.batch import find_audio_files, ingest_files

    settings = _settings(config, data_dir=data_dir)
    try:
        files = find_audio_files(paths)
    except FileNotFoundError as exc:
        err.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from exc
    if not files:
        err.print("no audio files found")
        raise typer.Exit(1)
    with _opened(settings) as catalog:
        with Progress(TextColumn("[bold]ingest"), BarColumn(), MofNCompleteColumn(),
                      TimeElapsedColumn(), TextColumn("{task.description}"), console=err,
                      disable=None) as progress:
            task = progress.add_task("", total=len(files))

            def done(p: Path, status: str, detail: str | None) -> None:
                progress.update(task, advance=1, description=f"{status}: {p.name}")

            report = ingest_files(catalog, files, workers=workers, force=force, on_done=done)
        if report.ingested:
            _optimize(catalog)
    console.print(f"ingested {len(report.ingested)}, skipped {len(report.skipped)} unchanged, "
                  f"failed {len(report.failed)}")
    if report.failed:
        table = Table("file", "reason", title="failures")
        for path, reason in report.failed:
            table.add_row(path, reason)
        console.print(table)
        raise typer.Exit(1)


def _optimize(catalog) -> None:
    """Index what was ingested (the embedded store has no background optimizer)."""
    t0 = time.perf_counter()
    with err.status("building the search index"):
        catalog.store.optimize(catalog.spec)
    err.print(f"search index up to date ({time.perf_counter() - t0:.1f} s)")


@app.command()
def optimize(
    config: ConfigOpt = None,
    data_dir: Annotated[Optional[str], typer.Option(help="where the store lives")] = None,  # noqa: UP045
) -> None:
    """Build the HNSW search index of the embedded store (run after bulk writes through the API;
    `ingest` does it itself; a Qdrant server needs nothing)."""
    with _opened(_settings(config, data_dir=data_dir)) as catalog:
        _optimize(catalog)


@app.command()
def show(
    song_id: str,
    config: ConfigOpt = None,
    data_dir: Annotated[Optional[str], typer.Option(help="where the store lives")] = None,  # noqa: UP045
    as_json: Annotated[bool, typer.Option("--json", help="print the document as JSON")] = False,
) -> None:
    """Show one song: tags with evidence, audio features."""
    with _opened(_settings(config, data_dir=data_dir)) as catalog:
        from songlens.api.schemas import SongOut, to_json

        doc = to_json(SongOut, catalog.get(song_id).to_document())
    if as_json:
        console.print_json(json.dumps(doc, ensure_ascii=False))
        return
    console.print(f"[bold]{doc['title']}[/bold] — {doc['artist']}  ({doc['song_id']}, "
                  f"{doc['duration_s']:.0f} s)")
    feats = doc.get("audio_features") or {}
    console.print("  ".join(f"{k}={v}" for k, v in feats.items() if not isinstance(v, dict)))
    table = Table("dimension", "tag", "score", "evidence")
    for dim, tags in (doc.get("tags") or {}).items():
        for t in tags:
            ev = ", ".join(f"{e.get('source')}:{e.get('cue')}" for e in t["evidence"][:3])
            table.add_row(dim, f"{t['tag']} ({t['en']})", f"{t['score']:.2f}", ev)
    console.print(table)


@app.command()
def similar(
    song_id: str,
    config: ConfigOpt = None,
    k: Annotated[int, typer.Option("-k", min=1, max=200)] = 10,
    space: Annotated[str, typer.Option(help="fused | audio | text | tags | hybrid")] = "fused",
    data_dir: Annotated[Optional[str], typer.Option(help="where the store lives")] = None,  # noqa: UP045
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Songs similar to SONG_ID."""
    from songlens.search.similar import similar_to_song

    with _opened(_settings(config, data_dir=data_dir)) as catalog:
        items = similar_to_song(catalog, song_id, k=k, space=space)
    if as_json:
        from songlens.api.schemas import SimilarOut, to_json

        console.print_json(json.dumps(to_json(SimilarOut, {"items": items}), ensure_ascii=False))
        return
    table = Table("#", "song_id", "score", "title", "artist", "why")
    for i, it in enumerate(items, 1):
        why = "; ".join(f"{d}: {'/'.join(v)}" for d, v in it.reasons.shared_tags.items())
        table.add_row(str(i), it.song_id, f"{it.score:.3f}", it.title or "", it.artist or "",
                      why)
    console.print(table)


@app.command()
def playlist(
    config: ConfigOpt = None,
    language: Annotated[Optional[list[str]], typer.Option(help="required 语种 tag(s)")] = None,  # noqa: UP045
    style: Annotated[Optional[list[str]], typer.Option(help="required 风格 tag(s)")] = None,  # noqa: UP045
    scene: Annotated[Optional[list[str]], typer.Option(help="required 场景 tag(s)")] = None,  # noqa: UP045
    emotion: Annotated[Optional[list[str]], typer.Option(help="required 情感 tag(s)")] = None,  # noqa: UP045
    theme: Annotated[Optional[list[str]], typer.Option(help="required 主题 tag(s)")] = None,  # noqa: UP045
    prefer: Annotated[Optional[list[str]], typer.Option(help="soft tag as DIM:TAG")] = None,  # noqa: UP045
    text: Annotated[Optional[str],  # noqa: UP045
                    typer.Option(help="a prompt, e.g. 适合深夜学习的安静钢琴")] = None,
    seed_song: Annotated[Optional[list[str]], typer.Option(help="seed song id(s)")] = None,  # noqa: UP045
    length: Annotated[int, typer.Option(min=1, max=200)] = 20,
    diversity: Annotated[float, typer.Option(min=0.0, max=1.0)] = 0.3,
    artist_spacing: Annotated[int, typer.Option(min=0)] = 3,
    flow: Annotated[str, typer.Option(help="none | arc | rising | falling | harmonic")] = "none",
    attr: Annotated[Optional[list[str]], typer.Option(  # noqa: UP045
        help="attribute bound/target, e.g. min_tempo=120 target_energy=0.8")] = None,
    data_dir: Annotated[Optional[str], typer.Option(help="where the store lives")] = None,  # noqa: UP045
    as_json: Annotated[bool, typer.Option("--json")] = False,
    m3u: Annotated[Optional[Path], typer.Option(help="also write an M3U playlist here")] = None,  # noqa: UP045
) -> None:
    """A playlist from tags, e.g. `songlens playlist --scene 运动 --emotion 兴奋 --length 20`."""
    from pydantic import ValidationError

    from songlens.search.playlist import PlaylistRequest, generate_playlist, to_m3u

    body: dict = {"tags": {d: v for d, v in (("language", language), ("style", style),
                                             ("scene", scene), ("emotion", emotion),
                                             ("theme", theme)) if v},
                  "text": text, "seed_songs": seed_song or [], "length": length,
                  "diversity": diversity, "artist_spacing": artist_spacing, "flow": flow,
                  "preferred": {}}
    for p in prefer or []:
        dim, _, tag = p.partition(":")
        body["preferred"].setdefault(dim, []).append(tag)
    for a in attr or []:
        key, _, val = a.partition("=")
        try:
            body[key] = float(val)
        except ValueError:
            err.print(f"[red]invalid_input[/red]: --attr {a!r} must be NAME=NUMBER")
            raise typer.Exit(2) from None
    try:
        req = PlaylistRequest.model_validate(body)
    except ValidationError as exc:
        err.print(f"[red]invalid_input[/red]: {exc}")
        raise typer.Exit(2) from None
    with _opened(_settings(config, data_dir=data_dir)) as catalog:
        result = generate_playlist(catalog, req)
        paths = {h.key: h.payload.get("source_path") for h in catalog.store.get(
            catalog.spec, [it.song_id for it in result.items])}
    if m3u:
        m3u.write_text(to_m3u(result, {k: v for k, v in paths.items() if v}), "utf-8")
    if as_json:
        from songlens.api.schemas import PlaylistOut, to_json

        console.print_json(json.dumps(to_json(PlaylistOut, result), ensure_ascii=False))
        return
    table = Table("#", "title", "artist", "bpm", "energy", "key", "why")
    for it in result.items:
        why = "; ".join(f"{d}: {'/'.join(v)}" for d, v in it.reasons.matched_tags.items())
        table.add_row(str(it.position), it.title or "", it.artist or "",
                      f"{it.tempo_bpm or 0:.0f}", f"{it.energy or 0:.2f}", it.camelot or "",
                      why)
    console.print(table)
    if result.relaxed:
        err.print("[yellow]relaxed:[/yellow] " + ", ".join(result.relaxed))
    if m3u:
        err.print(f"wrote {m3u}")


@app.command()
def train(
    config: ConfigOpt = None,
    data_dir: Annotated[Optional[str], typer.Option(help="where the store lives")] = None,  # noqa: UP045
    as_json: Annotated[bool, typer.Option("--json", help="print the summary as JSON")] = False,
) -> None:
    """Rebuild user profiles and the ranker from the feedback log; writes a ranker snapshot.

    Run it with the server stopped: the embedded store and the snapshot folder are the server's.
    """
    from dataclasses import asdict

    from songlens.service.coldstart import ColdStartService

    settings = _settings(config, data_dir=data_dir)
    with _opened(settings) as catalog:
        service = ColdStartService(catalog, settings, warm_start=False)
        try:
            with Progress(TextColumn("[bold]train"), BarColumn(), MofNCompleteColumn(),
                          TimeElapsedColumn(), console=err, disable=None) as progress:
                task = progress.add_task("events", total=service.log.count())
                summary = asdict(service.rebuild(on_progress=lambda n: progress.advance(task, n)))
        finally:
            service.close()
    if as_json:
        console.print_json(json.dumps(summary, ensure_ascii=False))
        return
    r = summary["ranker"]
    console.print(f"rebuilt {summary['users']} user profiles from {summary['events']} events "
                  f"({summary['events_unknown_song']} for songs not in the catalog) in "
                  f"{summary['seconds']:.1f} s")
    console.print(f"ranker v{r['version']}: fit on {summary['samples']} samples, "
                  f"{r['features_admitted']} features admitted, {r['pending_impressions']} "
                  f"impressions still waiting for their outcome")
    console.print(f"snapshot: {summary['snapshot']}")


app.add_typer(keys_cli.app, name="keys")

if __name__ == "__main__":
    app()
