"""A real uvicorn server on a free port, and the CLI end to end, on a real store."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
import yaml
from typer.testing import CliRunner

from songlens.cli.main import app as cli

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
AUDIO = ROOT / "tests" / "fixtures" / "audio"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def config_file(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("cli")
    cfg = d / "songlens.yaml"
    cfg.write_text(yaml.safe_dump({"data_dir": str(d / "data"), "log_level": "WARNING",
                                   "audio": {"max_duration_s": 60}}))
    return cfg


def test_real_uvicorn_server(config_file):
    port = _free_port()
    env = dict(os.environ, HF_HUB_OFFLINE="1")
    proc = subprocess.Popen([sys.executable, "-m", "songlens.cli.main", "serve", "--config",
                             str(config_file), "--port", str(port), "--data-dir",
                             str(config_file.parent / "server-data")],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 120
        while time.time() < deadline:
            try:
                if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.5)
            assert proc.poll() is None, proc.stdout.read().decode()
        else:
            pytest.fail("server did not start within 120 s")
        audio = (AUDIO / "feelings.ogg").read_bytes()
        r = httpx.post(f"{base}/v1/songs", timeout=60,
                       files={"audio": ("feelings.ogg", audio, "audio/ogg")},
                       data={"metadata": json.dumps({"song_id": "srv-1", "title": "Feelings",
                                                     "artist": "Sectoid"})})
        assert r.status_code == 201, r.text
        assert httpx.get(f"{base}/v1/songs/srv-1").json()["title"] == "Feelings"
        r = httpx.post(f"{base}/v1/songs", timeout=60, files={"audio": ("x.mp3", b"garbage")},
                       data={"metadata": '{"title": "x"}'})
        assert r.status_code == 415 and r.json()["error"]["code"] == "unsupported_audio"
        assert httpx.get(f"{base}/healthz").json()["songs"] == 1
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_cli_ingest_show_similar(config_file, tmp_path):
    music = tmp_path / "music"
    (music / "nested").mkdir(parents=True)
    for name in ("chaos_god", "armygeddon"):
        (music / f"Muldjord - {name}.ogg").write_bytes((AUDIO / f"{name}.ogg").read_bytes())
    (music / "Muldjord - chaos_god.lrc").write_text("[00:01.00]深夜 图书馆 考研\n", "utf-8")
    (music / "nested" / "Sectoid - Feelings.ogg").write_bytes((AUDIO / "feelings.ogg").read_bytes())
    (music / "nested" / "broken.mp3").write_bytes(b"ID3 not really an mp3")
    # the file's language tag is the catalogue's language; one songlens does not know is ignored
    from mutagen.oggvorbis import OggVorbis

    for path, lang in ((music / "Muldjord - armygeddon.ogg", "yue"),
                       (music / "nested" / "Sectoid - Feelings.ogg", "Klingon")):
        f = OggVorbis(path)
        f["LANGUAGE"] = lang
        f.save()
    runner = CliRunner()
    r = runner.invoke(cli, ["ingest", str(music), "--config", str(config_file), "--workers", "2"])
    assert r.exit_code == 1, r.output  # one failure, reported, batch not aborted
    assert "ingested 3, skipped 0 unchanged, failed 1" in r.output
    assert "broken.mp3" in r.output and "unsupported_audio" in r.output
    # re-run: unchanged files are skipped
    r = runner.invoke(cli, ["ingest", str(music), "--config", str(config_file)])
    assert "ingested 0, skipped 3 unchanged, failed 1" in r.output
    # find the id of the song with sidecar lyrics, show it, and ask for similar songs
    from songlens.api.app import open_catalog
    from songlens.settings import load_settings

    cat = open_catalog(load_settings(config_file))
    try:
        hits, _ = cat.store.scroll(cat.spec, limit=10)
        by_title = {h.payload["title"]: h for h in hits}
    finally:
        cat.store.close()
    assert set(by_title) == {"chaos_god", "armygeddon", "Feelings"}
    song = by_title["chaos_god"]
    assert song.payload["artist"] == "Muldjord" and song.payload["language"] == "华语"
    assert by_title["armygeddon"].payload["language"] == "粤语"
    assert by_title["armygeddon"].payload["language_detail"]["source"] == "catalogue"
    r = runner.invoke(cli, ["show", song.key, "--config", str(config_file), "--json"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.output)["song_id"] == song.key
    r = runner.invoke(cli, ["similar", song.key, "--config", str(config_file), "-k", "2"])
    assert r.exit_code == 0, r.output
    assert "armygeddon" in r.output or "Feelings" in r.output
    r = runner.invoke(cli, ["show", "no-such-song", "--config", str(config_file)])
    assert r.exit_code == 2 and "not_found" in r.output
