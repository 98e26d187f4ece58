"""``songlens serve``: the HTTP API, recording where it listens for the other commands."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Optional

import typer

from songlens.cli import remote as remote_cli
from songlens.cli.common import (
    ConfigOpt,
    DataDirOpt,
    app,
    command_settings,
    err,
    fail,
)
from songlens.errors import SonglensError


@app.command()
def serve(
    config: ConfigOpt = None,
    host: Annotated[Optional[str], typer.Option(help="bind address")] = None,  # noqa: UP045
    port: Annotated[Optional[int], typer.Option(help="port")] = None,  # noqa: UP045
    data_dir: DataDirOpt = None,
    demo: Annotated[bool, typer.Option(help="ingest the demo catalog on start-up")] = False,
    insecure: Annotated[bool, typer.Option(
        help="serve a non-loopback address without API keys (security.allow_unauthenticated)")
    ] = False,
) -> None:
    """Run the web app (at /) and the HTTP API (docs at /docs). Without API keys it binds
    loopback only."""
    import uvicorn

    from songlens.api.app import create_app

    settings = command_settings(config, data_dir=data_dir)
    security = settings.security.model_copy(
        update={"allow_unauthenticated": settings.security.allow_unauthenticated or insecure})
    settings = settings.model_copy(update={"security": security, "api": settings.api.model_copy(
        update={"host": host or settings.api.host, "port": port or settings.api.port})})
    # the first line a user sees: where to point the browser
    err.print(f"songlens web app: {remote_cli.local_url(settings.api.host, settings.api.port)}/"
              "  (API docs at /docs)", highlight=False, soft_wrap=True)
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
        fail(exc)
    # songlens.access logs each request (with its id), so uvicorn's own access log is off
    config = uvicorn.Config(application, host=settings.api.host, port=settings.api.port,
                            log_level=settings.log_level.lower(), access_log=False,
                            timeout_graceful_shutdown=settings.api.shutdown_grace_s)
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

        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:
            """As uvicorn's, but a SIGTERM or SIGINT that led to a graceful shutdown is not
            raised again afterwards: the stop that was asked for is a clean exit (status 0),
            not a death by signal."""
            with super().capture_signals():
                yield
                self._captured_signals.clear()

    return RecordedServer
