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
from songlens.cli import remote as remote_cli
from songlens.errors import SonglensError, StoreBusy
from songlens.settings import Settings, load_settings

if TYPE_CHECKING:
    from songlens.catalog.batch import BatchReport
    from songlens.catalog.pipeline import Catalog

app = typer.Typer(help="songlens: music content understanding and cold start.",
                  no_args_is_help=True, pretty_exceptions_enable=False)
console = Console()
err = Console(stderr=True)

ConfigOpt = Annotated[Optional[Path], typer.Option("--config", "-c", help="YAML settings file",  # noqa: UP045
                                                   exists=True, dir_okay=False)]
ServerOpt = Annotated[Optional[str], typer.Option(  # noqa: UP045
    "--server", envvar="SONGLENS_SERVER", show_envvar=True,
    help="a running songlens server to use (default: the one serving this data_dir, if any)")]
ApiKeyOpt = Annotated[Optional[str], typer.Option(  # noqa: UP045
    "--api-key", envvar="SONGLENS_API_KEY", show_envvar=True,
    help="the server's API key (sent as 'Authorization: Bearer <key>')")]


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


def _busy(settings: Settings, exc: StoreBusy) -> StoreBusy:
    """StoreBusy with who holds the store, when a server's state file says, and what to do."""
    state = remote_cli.read_state(settings.data_path)
    if state and remote_cli.pid_alive(state["pid"]):
        return StoreBusy(
            f"the store at {str(settings.qdrant_path)!r} is held by the songlens server "
            f"(pid {state['pid']}, {state['url']}), which did not answer "
            f"{state['url']}/healthz within {remote_cli.HEALTH_TIMEOUT_S:.0f} s (still starting, "
            "or stuck); try again in a moment, give --server URL, or stop that server")
    return StoreBusy(
        f"the store at {str(settings.qdrant_path)!r} is open in another process and no running "
        f"server is recorded in {str(remote_cli.state_path(settings.data_path))!r}: another "
        "songlens command (ingest, optimize, train) is running, or a server was started without "
        "its state file; wait for it to finish, point --server (or SONGLENS_SERVER) at that "
        "server, or stop it")


@contextmanager
def _opened(settings: Settings) -> Iterator[Catalog]:
    """The catalog for one command: our errors (opening or inside) end it with exit code 2 and
    their message, and the store is always closed."""
    try:
        catalog = _catalog(settings)
    except StoreBusy as exc:
        _fail(_busy(settings, exc))
    except SonglensError as exc:
        _fail(exc)
    try:
        yield catalog
    except SonglensError as exc:
        _fail(exc)
    finally:
        catalog.store.close()


def _remote(settings: Settings, server: str | None,
            api_key: str | None) -> remote_cli.Remote | None:
    """The server to go through: ``--server``/``SONGLENS_SERVER``, else a live server recorded in
    the data dir's server.json; None: open the store here."""
    if server:
        return remote_cli.Remote(server, api_key, source="--server / SONGLENS_SERVER")
    state = remote_cli.find_server(settings.data_path)
    if state is None:
        return None
    err.print(f"[dim]using the songlens server at {state['url']} (pid {state['pid']})[/dim]")
    return remote_cli.Remote(state["url"], api_key,
                             source=str(remote_cli.state_path(settings.data_path)))


@contextmanager
def _calling(remote: remote_cli.Remote) -> Iterator[remote_cli.Remote]:
    """Like :func:`_opened`, for a server: its errors end the command with exit code 2."""
    try:
        yield remote
    except SonglensError as exc:
        _fail(exc)
    finally:
        remote.close()


def _store_to_itself(settings: Settings, verb: str) -> None:
    """``verb`` opens the store itself: refuse (exit 2) while a server holds it."""
    state = remote_cli.find_server(settings.data_path)
    if state:
        _fail(StoreBusy(
            f"'songlens {verb}' needs the store to itself, and the songlens server (pid "
            f"{state['pid']}, {state['url']}) holds it; stop that server (Ctrl-C in its terminal, "
            f"or kill {state['pid']}), run 'songlens {verb}', then start it again"))


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
    config = uvicorn.Config(application, host=settings.api.host, port=settings.api.port,
                            log_level=settings.log_level.lower())
    server = _recorded_server_class()(config, data_dir=settings.data_path)
    try:
        server.run()
    except KeyboardInterrupt:  # pragma: no cover - as uvicorn.run
        pass
    if not server.started:
        raise typer.Exit(3)


def _recorded_server_class():
    import uvicorn

    class RecordedServer(uvicorn.Server):
        """uvicorn's server that writes <data_dir>/server.json once it listens (so that the CLI
        finds it) and removes it after it stopped."""

        def __init__(self, config: uvicorn.Config, *, data_dir: Path) -> None:
            super().__init__(config)
            self.data_dir = data_dir

        async def startup(self, sockets=None) -> None:
            await super().startup(sockets)
            if not self.started or self.should_exit or not self.servers:
                return
            host, port = self.servers[0].sockets[0].getsockname()[:2]
            try:
                remote_cli.write_state(self.data_dir, remote_cli.local_url(host, port))
            except OSError as exc:
                logging.getLogger(__name__).warning(
                    "cannot write %s (the CLI will not find this server by itself): %s",
                    remote_cli.state_path(self.data_dir), exc)

        async def shutdown(self, sockets=None) -> None:
            try:
                await super().shutdown(sockets)
            finally:
                remote_cli.remove_state(self.data_dir)

    return RecordedServer


@app.command()
def ingest(
    paths: Annotated[list[Path], typer.Argument(help="audio files or folders (recursive)")],
    config: ConfigOpt = None,
    workers: Annotated[int, typer.Option("--workers", "-w", min=1, help="parallel files")] = 1,
    force: Annotated[bool, typer.Option(help="re-ingest unchanged files too")] = False,
    data_dir: Annotated[Optional[str], typer.Option(help="where the store lives")] = None,  # noqa: UP045
    server: ServerOpt = None,
    api_key: ApiKeyOpt = None,
) -> None:
    """Ingest audio files; lyrics from a sidecar .lrc/.txt or embedded tags. With a running
    server, the files are uploaded to it (--workers at once)."""
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
    remote = _remote(settings, server, api_key)
    if remote is not None:
        with _calling(remote):
            remote.health()
            report = _with_progress(files, lambda done: _upload_files(
                remote, settings, files, workers=workers, force=force, on_done=done))
        if report.ingested:
            err.print("[dim]the server searches songs posted to it exactly (a full scan) until "
                      "'songlens optimize' runs with the server stopped[/dim]")
    else:
        with _opened(settings) as catalog:
            report = _with_progress(files, lambda done: ingest_files(
                catalog, files, workers=workers, force=force, on_done=done))
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


def _with_progress(files: list[Path], run) -> BatchReport:
    """``run(on_done)`` with a progress bar over ``files``."""
    with Progress(TextColumn("[bold]ingest"), BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), TextColumn("{task.description}"), console=err,
                  disable=None) as progress:
        task = progress.add_task("", total=len(files))

        def done(p: Path, status: str, detail: str | None) -> None:
            progress.update(task, advance=1, description=f"{status}: {p.name}")

        return run(done)


def _upload_files(remote: remote_cli.Remote, settings: Settings, files: list[Path], *,
                  workers: int, force: bool, on_done) -> BatchReport:
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
        meta = read_file_metadata(p)
        parse_metadata(meta)  # refused here as the local path would, before any upload
        song_id = remote.ingest(p, meta)["song_id"]
        manifest.record(p, song_id)
        return "ingested", song_id

    return run_batch(files, one, workers=workers, on_done=on_done)


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
    `ingest` does it itself; a Qdrant server needs nothing). Needs the server stopped."""
    settings = _settings(config, data_dir=data_dir)
    _store_to_itself(settings, "optimize")
    with _opened(settings) as catalog:
        _optimize(catalog)


@app.command()
def show(
    song_id: str,
    config: ConfigOpt = None,
    data_dir: Annotated[Optional[str], typer.Option(help="where the store lives")] = None,  # noqa: UP045
    as_json: Annotated[bool, typer.Option("--json", help="print the document as JSON")] = False,
    server: ServerOpt = None,
    api_key: ApiKeyOpt = None,
) -> None:
    """Show one song: tags with evidence, audio features."""
    from songlens.api.schemas import SongOut, to_json

    settings = _settings(config, data_dir=data_dir)
    remote = _remote(settings, server, api_key)
    if remote is not None:
        with _calling(remote):
            doc = to_json(SongOut, remote.song(song_id))
    else:
        with _opened(settings) as catalog:
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
    server: ServerOpt = None,
    api_key: ApiKeyOpt = None,
) -> None:
    """Songs similar to SONG_ID."""
    from songlens.api.schemas import SimilarOut, to_json

    settings = _settings(config, data_dir=data_dir)
    remote = _remote(settings, server, api_key)
    if remote is not None:
        with _calling(remote):
            doc = to_json(SimilarOut, remote.similar(song_id, k=k, space=space))
    else:
        from songlens.search.similar import similar_to_song

        with _opened(settings) as catalog:
            doc = to_json(SimilarOut, {"items": similar_to_song(catalog, song_id, k=k,
                                                                space=space)})
    if as_json:
        console.print_json(json.dumps(doc, ensure_ascii=False))
        return
    table = Table("#", "song_id", "score", "title", "artist", "why")
    for i, it in enumerate(doc["items"], 1):
        shared = it["reasons"].get("shared_tags") or {}
        why = "; ".join(f"{d}: {'/'.join(v)}" for d, v in shared.items())
        table.add_row(str(i), it["song_id"], f"{it['score']:.3f}", it["title"] or "",
                      it["artist"] or "", why)
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
    server: ServerOpt = None,
    api_key: ApiKeyOpt = None,
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
    from songlens.api.schemas import PlaylistOut, to_json

    settings = _settings(config, data_dir=data_dir)
    remote = _remote(settings, server, api_key)
    if remote is not None:
        with _calling(remote):
            result = PlaylistOut.model_validate(remote.playlist(body))
        paths = _manifest_paths(settings) if m3u else {}
    else:
        with _opened(settings) as catalog:
            result = generate_playlist(catalog, req)
            paths = {h.key: h.payload.get("source_path") for h in catalog.store.get(
                catalog.spec, [it.song_id for it in result.items])}
    if m3u:
        m3u.write_text(to_m3u(result, {k: v for k, v in paths.items() if v}), "utf-8")
    doc = to_json(PlaylistOut, result)
    if as_json:
        console.print_json(json.dumps(doc, ensure_ascii=False))
        return
    table = Table("#", "title", "artist", "bpm", "energy", "key", "why")
    for it in doc["items"]:
        matched = it["reasons"].get("matched_tags") or {}
        why = "; ".join(f"{d}: {'/'.join(v)}" for d, v in matched.items())
        table.add_row(str(it["position"]), it["title"] or "", it["artist"] or "",
                      f"{it['tempo_bpm'] or 0:.0f}", f"{it['energy'] or 0:.2f}",
                      it["camelot"] or "", why)
    console.print(table)
    if doc["relaxed"]:
        err.print("[yellow]relaxed:[/yellow] " + ", ".join(doc["relaxed"]))
    if m3u:
        err.print(f"wrote {m3u}")


def _manifest_paths(settings: Settings) -> dict[str, str]:
    """song id → local file, from the ingest manifest (a server does not say where files are)."""
    from songlens.catalog.batch import Manifest

    data = Manifest(settings.data_path / "ingest_manifest.json").data
    return {rec[2]: path for path, rec in data.items()
            if isinstance(rec, list) and len(rec) == 3}


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
    _store_to_itself(settings, "train")
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
