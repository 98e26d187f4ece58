"""What every ``songlens`` command shares: the typer app, consoles, options, settings, and how
a command reaches the catalogue (the local store, or a running server over HTTP)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import typer
from rich.console import Console

from songlens.cli import remote as remote_cli
from songlens.errors import SonglensError, StoreBusy
from songlens.settings import Settings, load_settings

if TYPE_CHECKING:
    from songlens.catalog.pipeline import Catalog

app = typer.Typer(help="songlens: music content understanding and cold start.",
                  no_args_is_help=True, pretty_exceptions_enable=False)
console = Console()
err = Console(stderr=True)

ConfigOpt = Annotated[Optional[Path], typer.Option("--config", "-c", help="YAML settings file",  # noqa: UP045
                                                   exists=True, dir_okay=False)]
DataDirOpt = Annotated[Optional[str], typer.Option(help="where the store lives")]  # noqa: UP045
ServerOpt = Annotated[Optional[str], typer.Option(  # noqa: UP045
    "--server", envvar="SONGLENS_SERVER", show_envvar=True,
    help="a running songlens server to use (default: the one serving this data_dir, if any)")]
ApiKeyOpt = Annotated[Optional[str], typer.Option(  # noqa: UP045
    "--api-key", envvar="SONGLENS_API_KEY", show_envvar=True,
    help="the server's API key (sent as 'Authorization: Bearer <key>')")]


def command_settings(config: Path | None, **overrides: object) -> Settings:
    s = load_settings(config, **{k: v for k, v in overrides.items() if v is not None})
    logging.basicConfig(level=s.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # one INFO line per request to the server would drown the command's own output
    logging.getLogger("httpx").setLevel(max(logging.WARNING, logging.getLogger().level))
    return s


def open_local_catalog(settings: Settings):
    from songlens.api.app import open_catalog

    with console.status("loading models and store…"):
        return open_catalog(settings)


def fail(exc: SonglensError) -> None:
    err.print(f"[red]{exc.code}[/red]: {exc.message}")
    raise typer.Exit(2)


def busy_error(settings: Settings, exc: StoreBusy) -> StoreBusy:
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
def opened_catalog(settings: Settings) -> Iterator[Catalog]:
    """The catalog for one command: our errors (opening or inside) end it with exit code 2 and
    their message, and the store is always closed."""
    try:
        catalog = open_local_catalog(settings)
    except StoreBusy as exc:
        fail(busy_error(settings, exc))
    except SonglensError as exc:
        fail(exc)
    try:
        yield catalog
    except SonglensError as exc:
        fail(exc)
    finally:
        catalog.store.close()


def find_server(settings: Settings, server: str | None,
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
def calling_server(remote: remote_cli.Remote) -> Iterator[remote_cli.Remote]:
    """Like :func:`opened_catalog`, for a server: its errors end the command with exit code 2."""
    try:
        yield remote
    except SonglensError as exc:
        fail(exc)
    finally:
        remote.close()


def need_store_to_itself(settings: Settings, verb: str, *, hint: str = "") -> None:
    """``verb`` opens the store itself: refuse (exit 2) while a server holds it; ``hint`` ends
    the message."""
    state = remote_cli.find_server(settings.data_path)
    if state:
        fail(StoreBusy(
            f"'songlens {verb}' needs the store to itself, and the songlens server (pid "
            f"{state['pid']}, {state['url']}) holds it; stop that server (Ctrl-C in its terminal, "
            f"or kill {state['pid']}), run 'songlens {verb}', then start it again"
            + (f" {hint}" if hint else "")))
