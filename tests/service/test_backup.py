"""Backup and restore on real models, a real Qdrant Edge store and a real feedback log: a
restored folder serves the same answers; hostile archives are refused and write nothing."""

from __future__ import annotations

import hashlib
import io
import json
import os
import tarfile
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml
from typer.testing import CliRunner

from songlens.api.app import create_app
from songlens.cli.main import app as cli
from songlens.content.metadata import SongMetadata
from songlens.errors import InvalidArchive, InvalidInput
from songlens.service.restore import read_manifest, restore_backup
from songlens.settings import load_settings
from tests.conftest import AUDIO, local_client

SONGS = {"cg": ("chaos_god", "Chaos God", "Muldjord", "1998-03-01"),
         "fe": ("feelings", "Feelings", "Sectoid", None),
         "ag": ("armygeddon", "Armygeddon", "Drascula", "2026")}
T0 = time.time() - 3 * 86_400


def _events() -> list[dict]:
    out = []
    for u, fav in (("u1", "cg"), ("u2", "fe")):
        for j, sid in enumerate(SONGS):
            ts = T0 + 600 * j + (0 if u == "u1" else 5000)
            out.append({"user_id": u, "song_id": sid, "event": "impression", "ts": ts})
            if sid == fav:
                out += [{"user_id": u, "song_id": sid, "event": "complete", "ts": ts + 200,
                         "play_ms": 200_000},
                        {"user_id": u, "song_id": sid, "event": "like", "ts": ts + 201}]
            else:
                out.append({"user_id": u, "song_id": sid, "event": "skip", "ts": ts + 5,
                            "play_ms": 5000})
    return out


def _serve(settings, models, resources):
    from songlens.catalog.pipeline import Catalog
    from songlens.store import open_store

    store = open_store(path=settings.qdrant_path)
    catalog = Catalog(settings=settings, store=store, models=models, resources=resources)
    client = local_client(create_app(settings, catalog=catalog))
    client.__enter__()
    return SimpleNamespace(catalog=catalog, client=client, store=store)


def _stop(served) -> None:
    served.client.__exit__(None, None, None)
    served.store.close()


def _answers(client) -> dict:
    """What a client sees: song documents, similar songs in every space, profiles, ranking."""
    out = {}
    for sid in SONGS:
        out[f"song {sid}"] = client.get(f"/v1/songs/{sid}").json()
        for space in ("fused", "audio", "text", "tags", "hybrid"):
            out[f"similar {sid} {space}"] = client.get(
                f"/v1/songs/{sid}/similar", params={"k": 5, "space": space}).json()
    for u in ("u1", "u2"):
        out[f"user {u}"] = client.get(f"/v1/users/{u}").json()
        out[f"new {u}"] = client.post("/v1/recall", json={"mode": "user_new_songs",
                                                          "user_id": u}).json()
        ranked = client.post("/v1/rank", json={"user_id": u, "song_ids": list(SONGS)}).json()
        assert ranked.pop("request_id")  # one per request: not part of the answer compared
        out[f"rank {u}"] = ranked
    return out


def _config(d: Path, data: Path) -> Path:
    cfg = d / f"{data.name}.yaml"
    # the events are replayed from 3 days ago: allow them before the songs' ingestion
    cfg.write_text(yaml.safe_dump({"data_dir": str(data), "log_level": "WARNING",
                                   "coldstart": {"label_window_s": 60,
                                                 "event_skew_s": 10 * 86_400}}))
    return cfg


@pytest.fixture(scope="module")
def world(tmp_path_factory, models, resources):
    d = tmp_path_factory.mktemp("backup")
    settings = load_settings(_config(d, d / "data"))
    served = _serve(settings, models, resources)
    for sid, (clip, title, artist, released) in SONGS.items():
        served.catalog.ingest((AUDIO / f"{clip}.ogg").read_bytes(), SongMetadata(
            song_id=sid, title=title, artist=artist, release_date=released), filename="x.ogg")
    r = served.client.post("/v1/feedback", json={"events": _events()})
    assert r.status_code == 200 and r.json()["accepted"] == 14, r.text
    answers = _answers(served.client)
    assert answers["user u1"]["events"]["logged"] == 7 and answers["similar cg fused"]["items"]
    yield SimpleNamespace(dir=d, settings=settings, served=served, answers=answers,
                          models=models, resources=resources)
    if served.store is not None:
        _stop(served)


def _restore_and_compare(world, archive: Path, name: str) -> None:
    data = world.dir / name
    cfg = _config(world.dir, data)
    r = CliRunner().invoke(cli, ["restore", str(archive), "--config", str(cfg)])
    assert r.exit_code == 0, r.output
    assert "restored 3 songs, 2 users, 14 feedback events" in r.stdout
    served = _serve(load_settings(cfg), world.models, world.resources)
    try:
        got = _answers(served.client)
        for sid, (clip, *_) in SONGS.items():  # the kept audio came along with its songs
            r = served.client.get(f"/v1/songs/{sid}/audio")
            assert r.status_code == 200, r.text
            assert r.content == (AUDIO / f"{clip}.ogg").read_bytes()
    finally:
        _stop(served)
    assert got.keys() == world.answers.keys()
    for key, want in world.answers.items():
        assert got[key] == want, key
    # a folder that is not empty is refused, unless --force
    r = CliRunner().invoke(cli, ["restore", str(archive), "--config", str(cfg)])
    assert r.exit_code == 2 and "invalid_input" in r.stderr and "--force" in r.stderr
    r = CliRunner().invoke(cli, ["restore", str(archive), "--config", str(cfg), "--force"])
    assert r.exit_code == 0, r.output


def test_backup_from_the_running_service_restores_the_same_answers(world):
    r = world.served.client.post("/v1/admin/backup")
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/x-tar"
    archive = world.dir / "served.tar"
    archive.write_bytes(r.content)
    manifest = read_manifest(archive)  # every checksum checked
    assert manifest["collections"] == {"songs": {"name": "songs", "points": 3},
                                       "users": {"name": "users", "points": 2}}
    assert manifest["feedback"]["events"] == 14 and manifest["ranker"]["snapshot"]
    assert manifest["audio"]["files"] == 3
    assert not list(world.settings.data_path.glob(".backup-*"))  # removed once sent
    _restore_and_compare(world, archive, "restored-from-api")


def test_local_backup_with_the_cli(world):
    _stop(world.served)  # the CLI opens the store itself (no server holds it)
    world.served.store = None
    archive = world.dir / "local.tar"
    cfg = str(_config(world.dir, world.settings.data_path))
    r = CliRunner().invoke(cli, ["backup", str(archive), "--config", cfg])
    assert r.exit_code == 0, r.output
    assert "backed up 3 songs, 2 users, 14 feedback events" in r.stdout
    r = CliRunner().invoke(cli, ["backup", str(archive), "--config", cfg])
    assert r.exit_code == 2 and "--overwrite" in r.stderr
    _restore_and_compare(world, archive, "restored-from-cli")


# -- hostile archives ----------------------------------------------------------------------------
def _member(tar: tarfile.TarFile, name: str, data: bytes, **attrs) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    for k, v in attrs.items():
        setattr(info, k, v)
    tar.addfile(info, io.BytesIO(data) if info.isreg() else None)


def _archive(path: Path, files: dict[str, bytes], *, manifest: dict | None = None,
             extra: list | None = None, lie: dict | None = None) -> Path:
    listed = {n: {"size": len(b), "sha256": hashlib.sha256(b).hexdigest()}
              for n, b in files.items()} | (lie or {})
    m = manifest or {"format": "songlens-backup", "version": 1, "backend": "edge",
                     "collections": {}, "files": listed}
    with tarfile.open(path, "w") as tar:
        _member(tar, "manifest.json", json.dumps(m).encode())
        for name, data in files.items():
            _member(tar, name, data)
        for args, attrs in extra or []:
            _member(tar, *args, **attrs)
    return path


def _snapshot_with(member: tarfile.TarInfo, data: bytes = b"x") -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        tar.addfile(member, io.BytesIO(data) if member.isreg() else None)
    return buf.getvalue()


def _info(name: str, **attrs) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.size = 1
    for k, v in attrs.items():
        setattr(info, k, v)
    return info


LOG = b"SQLite format 3\x00" + b"\x00" * 100


@pytest.mark.parametrize("case, match", [
    ("traversal", "unexpected member '../evil'"),
    ("absolute", "unexpected member '/tmp/evil'"),
    ("symlink", "not a plain file"),
    ("not listed", "unexpected member 'ranker/ranker-1.npz'"),
    ("bad checksum", "does not match its checksum"),
    ("size lie", "not a plain file of the size"),
    ("manifest lists a path outside", "unexpected file '../x'"),
    ("other format", "not a songlens backup"),
    ("cut short", "cut short"),
    ("malformed feedback", "'feedback' is malformed"),
    ("truncated", "damaged"),
    ("not a tar", "not a readable tar archive"),
    ("huge", "needs about"),
    ("snapshot escapes", "would be written outside the target"),
    ("snapshot with a link", "not a plain file or folder"),
    ("audio named for other bytes", "not named for its checksum"),
    ("audio outside its folder", "unexpected file 'audio/cd/"),
])
def test_hostile_archives_are_refused_and_write_nothing(tmp_path, case, match):
    bad = tmp_path / "bad.tar"
    good = {"feedback.sqlite": LOG}
    if case == "traversal":
        _archive(bad, good, extra=[(("../evil", b"x"), {})])
    elif case == "absolute":
        _archive(bad, good, extra=[(("/tmp/evil", b"x"), {})])
    elif case == "symlink":
        _archive(bad, {}, lie={"feedback.sqlite": {"size": 0, "sha256": "0" * 64}},
                 extra=[(("feedback.sqlite", b""), {"type": tarfile.SYMTYPE,
                                                   "linkname": "/etc/passwd"})])
    elif case == "not listed":
        _archive(bad, good, extra=[(("ranker/ranker-1.npz", b"x"), {})])
    elif case == "bad checksum":
        _archive(bad, good, lie={"feedback.sqlite": {"size": len(LOG), "sha256": "0" * 64}})
    elif case == "size lie":
        _archive(bad, good, lie={"feedback.sqlite": {"size": 5, "sha256": "0" * 64}})
    elif case == "manifest lists a path outside":
        _archive(bad, good, lie={"../x": {"size": 1, "sha256": "0" * 64}})
    elif case == "other format":
        _archive(bad, good, manifest={"format": "zip-bomb", "version": 1, "files": {}})
    elif case == "cut short":
        _archive(bad, {}, lie={"feedback.sqlite": {"size": 1, "sha256": "0" * 64}})
    elif case == "malformed feedback":
        _archive(bad, good, manifest={"format": "songlens-backup", "version": 1,
                                      "backend": "edge", "feedback": [1], "files": {}})
    elif case == "truncated":
        _archive(bad, {"feedback.sqlite": LOG * 40})
        bad.write_bytes(bad.read_bytes()[:3000])
    elif case == "not a tar":
        bad.write_bytes(b"\x00" * 10 + b"not a tar archive at all" * 100)
    elif case == "audio named for other bytes":
        _archive(bad, {f"audio/ab/ab{'0' * 62}.ogg": b"OggS other bytes"})
    elif case == "audio outside its folder":
        data = b"OggS"
        sha = hashlib.sha256(data).hexdigest()
        _archive(bad, {f"audio/cd/{sha}.ogg": data})
    elif case == "huge":
        _archive(bad, good, lie={"ranker/state.json": {"size": 2**62, "sha256": "0" * 64}})
    else:
        member = _info("../../escaped") if case == "snapshot escapes" else \
            _info("segments", type=tarfile.SYMTYPE, linkname="/etc")
        snap = _snapshot_with(member)
        _archive(bad, {"qdrant/songs.snapshot": snap}, manifest={
            "format": "songlens-backup", "version": 1, "backend": "edge",
            "collections": {"songs": {"name": "songs", "points": 1}},
            "files": {"qdrant/songs.snapshot": {"size": len(snap),
                                                "sha256": hashlib.sha256(snap).hexdigest()}}})
    target = tmp_path / "target" / "data"
    settings = load_settings(data_dir=str(target))
    with pytest.raises(InvalidArchive, match=match):
        restore_backup(bad, settings=settings)
    left = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*"))
    assert left == ["bad.tar"], left  # nothing written, no folder left behind
    r = CliRunner().invoke(cli, ["restore", str(bad), "--data-dir", str(tmp_path / "cli")])
    assert r.exit_code == 2 and "invalid_archive" in r.stderr


def test_restore_refuses_a_folder_that_is_not_empty(tmp_path):
    (tmp_path / "keep.txt").write_text("mine")
    with pytest.raises(InvalidInput, match="is not empty"):
        restore_backup(tmp_path / "nothing.tar", settings=load_settings(data_dir=str(tmp_path)))
    assert os.listdir(tmp_path) == ["keep.txt"]


def test_a_hostile_ranker_snapshot_is_refused(tmp_path, world):
    """A ranker snapshot that would allocate 2^40 weights is refused before it is loaded."""
    import numpy as np

    good = next((world.settings.data_path / "ranker").glob("ranker-*.npz"))
    with np.load(good, allow_pickle=False) as data:
        arrays = {k: data[k] for k in data.files}
    meta = json.loads(bytes(arrays["meta"]).decode())
    meta["config"]["n_bits"] = 40
    arrays["meta"] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    state = json.dumps({"snapshot": "ranker-00000001.npz", "seq": 0}).encode()
    bad = _archive(tmp_path / "bad.tar", {"ranker/state.json": state,
                                          "ranker/ranker-00000001.npz": buf.getvalue()})
    with pytest.raises(InvalidArchive, match="ranker snapshot in the archive does not load"):
        restore_backup(bad, settings=load_settings(data_dir=str(tmp_path / "t")))
    assert not (tmp_path / "t").exists()


def test_nothing_to_back_up(tmp_path):
    r = CliRunner().invoke(cli, ["backup", str(tmp_path / "b.tar"), "--data-dir",
                                 str(tmp_path / "typo")])
    assert r.exit_code == 2 and "nothing to back up" in r.stderr
    assert sorted(os.listdir(tmp_path)) == []
