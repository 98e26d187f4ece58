"""The ``songlens`` command line: serve, ingest, optimize, show, similar, playlist, train,
reembed-text, keys.

Each group of commands lives in its own module and registers itself on the one typer app of
:mod:`songlens.cli.common`."""

from __future__ import annotations

from songlens.cli import ingesting, querying, reembedding, serving, training  # noqa: F401
from songlens.cli import keys as keys_cli
from songlens.cli.common import app

__all__ = ["app"]

app.add_typer(keys_cli.app, name="keys")

if __name__ == "__main__":
    app()
