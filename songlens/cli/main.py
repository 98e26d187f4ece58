"""The ``songlens`` command line: serve, ingest, optimize, show, similar, playlist, train,
reembed-text, keys, ranker, backup, restore.

Each group of commands lives in its own module and registers itself on the one typer app of
:mod:`songlens.cli.common`."""

from __future__ import annotations

from songlens.cli import (  # noqa: F401 - register
    backup,
    ingesting,
    querying,
    reembedding,
    serving,
    training,
)
from songlens.cli import keys as keys_cli
from songlens.cli import ranking as ranking_cli
from songlens.cli.common import app

__all__ = ["app"]

app.add_typer(keys_cli.app, name="keys")
app.add_typer(ranking_cli.app, name="ranker")

if __name__ == "__main__":
    app()
