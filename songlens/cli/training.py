"""``songlens train``: rebuild profiles and the ranker from the feedback log."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from songlens.cli.common import (
    ConfigOpt,
    DataDirOpt,
    app,
    command_settings,
    console,
    err,
    need_store_to_itself,
    opened_catalog,
)


@app.command()
def train(
    config: ConfigOpt = None,
    data_dir: DataDirOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="print the summary as JSON")] = False,
) -> None:
    """Rebuild user profiles and the ranker from the feedback log; writes a ranker snapshot.

    Run it with the server stopped: the embedded store and the snapshot folder are the server's.
    """
    from dataclasses import asdict

    from songlens.service.coldstart import ColdStartService

    settings = command_settings(config, data_dir=data_dir)
    need_store_to_itself(settings, "train")
    with opened_catalog(settings) as catalog:
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
                  f"({summary['events_unknown_song']} for songs not in the catalog, "
                  f"{summary['events_impossible']} before their song existed) in "
                  f"{summary['seconds']:.1f} s")
    console.print(f"ranker v{r['version']}: fit on {summary['samples']} samples, "
                  f"{r['features_admitted']} features admitted, {r['pending_impressions']} "
                  f"impressions still waiting for their outcome")
    console.print(f"snapshot: {summary['snapshot']}")
