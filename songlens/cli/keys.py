"""``songlens keys``: create, list and revoke API keys. The key file is not the store, so this
works while the server runs; the server picks changes up within ``security.key_reload_s``."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from songlens.api.security.keys import SCOPES, KeyFile
from songlens.cli.common import ConfigOpt, DataDirOpt, console, err, fail
from songlens.errors import SonglensError
from songlens.settings import load_settings

app = typer.Typer(help="API keys: create (the secret is shown once), list, revoke.",
                  no_args_is_help=True)


def _file(config: Path | None, data_dir: str | None) -> KeyFile:
    try:
        settings = load_settings(config, **({"data_dir": data_dir} if data_dir else {}))
    except SonglensError as exc:
        fail(exc)
    return KeyFile(settings.keys_path)


def _when(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts, dt.UTC).strftime("%Y-%m-%d %H:%M:%SZ")


@app.command()
def create(
    name: Annotated[str, typer.Argument(help="who or what uses the key, e.g. ingest-bot")],
    scope: Annotated[list[str], typer.Option(
        "--scope", "-s", help=f"one of {', '.join(SCOPES)} (repeatable); admin ⊃ write ⊃ read")],
    config: ConfigOpt = None,
    data_dir: DataDirOpt = None,
) -> None:
    """Create a key and print it once: it is stored only as a hash."""
    keys = _file(config, data_dir)
    try:
        key, secret = keys.create(name, scope)
    except SonglensError as exc:
        fail(exc)
    # the secret alone on stdout (for `KEY=$(songlens keys create ...)`), the rest on stderr
    typer.echo(secret)
    err.print(f"created key {key.name!r} (id {key.id}, scopes {', '.join(key.scopes)}) in "
              f"{keys.path}; copy it now, it cannot be shown again. Send it as "
              "'Authorization: Bearer <key>'.")


@app.command("list")
def list_keys(
    config: ConfigOpt = None,
    data_dir: DataDirOpt = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Name, id, scopes and creation time of every key (never a secret)."""
    try:
        keys = _file(config, data_dir).read()
    except SonglensError as exc:
        fail(exc)
    rows = [{"name": k.name, "id": k.id, "scopes": list(k.scopes), "created": _when(k.created)}
            for k in sorted(keys.values(), key=lambda k: k.created)]
    if as_json:
        typer.echo(json.dumps(rows))
        return
    if not rows:
        err.print("no API keys: the server serves loopback only, without keys")
        return
    table = Table("name", "id", "scopes", "created")
    for r in rows:
        table.add_row(r["name"], r["id"], ", ".join(r["scopes"]), r["created"])
    console.print(table)


@app.command()
def revoke(
    name: Annotated[str, typer.Argument(help="the key's name (or id)")],
    config: ConfigOpt = None,
    data_dir: DataDirOpt = None,
) -> None:
    """Delete a key; a running server refuses it within security.key_reload_s."""
    keys = _file(config, data_dir)
    try:
        key = keys.revoke(name)
    except SonglensError as exc:
        fail(exc)
    err.print(f"revoked key {key.name!r} (id {key.id})")
