"""``songlens ranker``: the ranker's snapshots with their held-out figures, and rollback. With a
running server these go through its admin API (an admin key when keys are in force); without
one the snapshot folder is read and changed here (the server reads it at its next start)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from songlens.cli.common import (
    ApiKeyOpt,
    ConfigOpt,
    DataDirOpt,
    ServerOpt,
    calling_server,
    command_settings,
    console,
    fail,
    find_server,
)
from songlens.errors import SonglensError

app = typer.Typer(help="The ranker's snapshots: list them (with held-out figures), roll back.",
                  no_args_is_help=True)


def _local(data_dir: Path) -> Any:
    from songlens.ranking.online import OnlineRanker
    from songlens.ranking.ranker import RankerConfig

    return OnlineRanker.open(data_dir / "ranker", config=RankerConfig(), window_s=3600.0)


def _when(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts, dt.UTC).strftime("%Y-%m-%d %H:%M:%SZ")


@app.command("snapshots")
def snapshots(config: ConfigOpt = None, data_dir: DataDirOpt = None, server: ServerOpt = None,
              api_key: ApiKeyOpt = None,
              as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False
              ) -> None:
    """List the ranker's snapshots, oldest first: kind, held-out AUC against the model serving
    then, accepted or refused by the quality gate, and which one serves."""
    settings = command_settings(config, data_dir=data_dir)
    remote = find_server(settings, server, api_key)
    try:
        if remote is not None:
            with calling_server(remote):
                data = remote._request("GET", "/v1/admin/ranker/snapshots")
        else:
            from dataclasses import asdict

            from songlens.ranking.snapshots import SnapshotRegistry

            reg = SnapshotRegistry(settings.data_path / "ranker")
            data = {"serving": reg.serving, "snapshots": [
                {**asdict(e), "file_kept": e.file is not None} for e in reg.entries]}
    except SonglensError as exc:
        fail(exc)
    if as_json:
        console.print_json(json.dumps(data, ensure_ascii=False))
        return
    table = Table("id", "kind", "made", "version", "held-out AUC", "serving AUC", "n",
                  "gate", "kept")
    for e in data["snapshots"]:
        h = e.get("heldout") or {}
        mark = " *" if e["id"] == data["serving"] else ""
        table.add_row(e["id"] + mark, e["kind"], _when(e["created_at"]), str(e["version"]),
                      str(h.get("auc", "–")), str(h.get("serving_auc", "–")), str(h.get("n", "–")),
                      "accepted" if e["accepted"] else f"refused: {e['reason']}",
                      "yes" if e["file_kept"] else "no")
    console.print(table)
    console.print(f"serving: {data['serving']}")


@app.command("rollback")
def rollback(snapshot_id: Annotated[str, typer.Argument(help="a listed snapshot id")],
             config: ConfigOpt = None, data_dir: DataDirOpt = None, server: ServerOpt = None,
             api_key: ApiKeyOpt = None) -> None:
    """Serve an older snapshot (accepted, file still kept)."""
    settings = command_settings(config, data_dir=data_dir)
    remote = find_server(settings, server, api_key)
    try:
        if remote is not None:
            with calling_server(remote):
                out = remote._request("POST", "/v1/admin/ranker/rollback",
                                      json={"id": snapshot_id})
            serving = out["serving"]
        else:
            serving = _local(settings.data_path).rollback(snapshot_id).serving_id
    except SonglensError as exc:
        fail(exc)
    console.print(f"ranker snapshot {serving} serves now")
