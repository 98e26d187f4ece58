"""``songlens show``, ``similar`` and ``playlist``: locally, or through a running server."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.table import Table

from songlens.cli.common import (
    ApiKeyOpt,
    ConfigOpt,
    DataDirOpt,
    ServerOpt,
    app,
    calling_server,
    command_settings,
    console,
    err,
    find_server,
    opened_catalog,
)
from songlens.settings import Settings


@app.command()
def show(
    song_id: str,
    config: ConfigOpt = None,
    data_dir: DataDirOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="print the document as JSON")] = False,
    server: ServerOpt = None,
    api_key: ApiKeyOpt = None,
) -> None:
    """Show one song: tags with evidence, audio features."""
    from songlens.api.schemas import SongOut, song_document, to_json

    settings = command_settings(config, data_dir=data_dir)
    remote = find_server(settings, server, api_key)
    if remote is not None:
        with calling_server(remote):
            doc = to_json(SongOut, remote.song(song_id))
    else:
        with opened_catalog(settings) as catalog:
            doc = to_json(SongOut, song_document(catalog.get(song_id)))
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
    space: Annotated[str, typer.Option(
        help="fused | audio | text | tags | hybrid | versions (covers)")] = "fused",
    data_dir: DataDirOpt = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
    server: ServerOpt = None,
    api_key: ApiKeyOpt = None,
) -> None:
    """Songs similar to SONG_ID."""
    from songlens.api.schemas import SimilarOut, to_json

    settings = command_settings(config, data_dir=data_dir)
    remote = find_server(settings, server, api_key)
    if remote is not None:
        with calling_server(remote):
            doc = to_json(SimilarOut, remote.similar(song_id, k=k, space=space))
    else:
        from songlens.search.similar import similar_to_song

        with opened_catalog(settings) as catalog:
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
    data_dir: DataDirOpt = None,
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

    settings = command_settings(config, data_dir=data_dir)
    remote = find_server(settings, server, api_key)
    if remote is not None:
        with calling_server(remote):
            result = PlaylistOut.model_validate(remote.playlist(body))
        paths = _manifest_paths(settings) if m3u else {}
    else:
        with opened_catalog(settings) as catalog:
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
