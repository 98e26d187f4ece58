"""``songlens reembed-text``: re-embed the stored songs' text vectors with the configured text
model (after changing ``text.model``), without the audio models."""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from songlens.cli.common import (
    ConfigOpt,
    DataDirOpt,
    app,
    busy_error,
    command_settings,
    console,
    err,
    fail,
    need_store_to_itself,
    opened_catalog,
)
from songlens.errors import SonglensError, StoreBusy


@app.command("reembed-text")
def reembed_text(
    config: ConfigOpt = None,
    data_dir: DataDirOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="print the summary as JSON")] = False,
) -> None:
    """Re-embed every song's text (and fused) vector with text.model from the text the store
    keeps; audio vectors, tags and payloads are kept. Then rebuild the listener profiles from
    the feedback log, since their vectors follow the songs'. Resumable: run it again after an
    interruption. Needs the server stopped (it rewrites the collections)."""
    from songlens.catalog.reembed import reembed_text as run
    from songlens.embeddings.models import build_text_encoder
    from songlens.store import configured_store

    settings = command_settings(config, data_dir=data_dir)
    need_store_to_itself(settings, "reembed-text")
    try:
        with console.status("loading the text model…"):
            encoder = build_text_encoder(settings)
        store = configured_store(settings)
    except StoreBusy as exc:
        fail(busy_error(settings, exc))
    except SonglensError as exc:
        fail(exc)
    try:
        with Progress(TextColumn("[bold]reembed-text"), BarColumn(), MofNCompleteColumn(),
                      TimeElapsedColumn(), console=err, disable=None) as progress:
            task = progress.add_task("songs", total=None)
            report = run(settings=settings, store=store, encoder=encoder,
                         on_song=lambda n: progress.advance(task, n))
    except SonglensError as exc:
        fail(exc)
    finally:
        store.close()
    profiles = _refresh_profiles(settings) if report.total else None
    if as_json:
        out = asdict(report) | {"profiles": asdict(profiles) if profiles else None}
        console.print_json(json.dumps(out, ensure_ascii=False))
        return
    console.print(f"text model {report.model}: {report.mode}; {report.reembedded} songs "
                  f"re-embedded ({report.from_description} from their tag description: no stored "
                  f"text), {report.skipped} already done, {report.copied} copied back, "
                  f"{report.total} in the catalogue")
    if profiles is not None:
        console.print(f"listener profiles: {profiles.rebuilt} rebuilt from {profiles.events} "
                      f"events" + (f"; {profiles.dropped} written with the old text model's "
                                   f"sizes were replaced, {profiles.lost} of them (onboarding "
                                   "only, no events) are gone" if profiles.dropped else ""))


def _refresh_profiles(settings):
    """Listener profiles follow the songs into the new text space (see
    :mod:`songlens.service.reprofile`); this opens the whole catalogue, audio models included
    (loaded, never run)."""
    from songlens.service.reprofile import refresh_profiles

    with console.status("rebuilding listener profiles from the feedback log…"), \
            opened_catalog(settings) as catalog:
        return refresh_profiles(catalog, settings)
