"""The CLI beside a running server: a real `songlens serve` process on a free loopback port, the
CLI finding it through <data_dir>/server.json and going through its HTTP API."""

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

from songlens.cli import remote
from songlens.cli.main import app as cli
from songlens.settings import load_settings

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
AUDIO = ROOT / "tests" / "fixtures" / "audio"
PLAYLIST = {"tags": {}, "text": None, "seed_songs": [], "length": 5, "diversity": 0.3,
            "artist_spacing": 3, "flow": "none", "preferred": {}}
#: answers captured through the server, compared with the local path once it stopped
SEEN: dict[str, object] = {}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    d = tmp_path_factory.mktemp("beside")
    data = d / "data"
    cfg = d / "songlens.yaml"
    cfg.write_text(yaml.safe_dump({"data_dir": str(data), "log_level": "WARNING",
                                   "audio": {"max_duration_s": 60},
                                   "security": {"key_reload_s": 0.2}}))
    port = _free_port()
    proc = subprocess.Popen([sys.executable, "-m", "songlens.cli.main", "serve", "--config",
                             str(cfg), "--port", str(port)],
                            env=dict(os.environ, HF_HUB_OFFLINE="1"),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 120
        while not (data / "server.json").exists():
            assert proc.poll() is None, proc.stdout.read().decode()
            assert time.time() < deadline, "server did not start within 120 s"
            time.sleep(0.2)
        state = json.loads((data / "server.json").read_text())
        assert state["url"] == base and state["pid"] == proc.pid and state["started_at"] > 0
        assert httpx.get(f"{base}/healthz", timeout=5).status_code == 200
        yield {"base": base, "proc": proc, "cfg": cfg, "data": data}
    finally:
        if proc.poll() is None:
            proc.terminate()
            proc.wait(timeout=30)


def _cli(*args: str, env: dict[str, str] | None = None):
    return CliRunner().invoke(cli, list(args), env=env)


def test_verbs_go_through_the_running_server(server, tmp_path):
    base, cfg = server["base"], str(server["cfg"])
    music = tmp_path / "music"
    music.mkdir()
    for name in ("chaos_god", "feelings"):
        (music / f"Muldjord - {name}.ogg").write_bytes((AUDIO / f"{name}.ogg").read_bytes())
    (music / "Muldjord - chaos_god.lrc").write_text("[00:01.00]深夜 图书馆 考研\n", "utf-8")
    (music / "broken.mp3").write_bytes(b"ID3 not really an mp3")

    r = _cli("ingest", str(music), "--config", cfg, "--workers", "2")
    assert r.exit_code == 1, r.output
    assert f"using the songlens server at {base}" in r.stderr
    assert "ingested 2, skipped 0 unchanged, failed 1" in r.stdout
    assert "unsupported_audio" in r.stdout
    r = _cli("ingest", str(music), "--config", cfg)
    assert "ingested 0, skipped 2 unchanged, failed 1" in r.stdout, r.output
    assert httpx.get(f"{base}/healthz").json()["songs"] == 2
    # --force reads the files again; --on-existing keep leaves the stored songs as they are
    r = _cli("ingest", str(music), "--config", cfg, "--force", "--on-existing", "keep")
    assert "ingested 0, skipped 0 unchanged, kept 2 already stored, failed 1" in r.stdout, \
        r.output

    manifest = json.loads((server["data"] / "ingest_manifest.json").read_text())
    ids = {Path(p).stem: rec[2] for p, rec in manifest.items()}
    song = ids["Muldjord - chaos_god"]
    # sidecar lyrics and file-name metadata travelled as the local path reads them
    doc = httpx.get(f"{base}/v1/songs/{song}").json()
    assert doc["title"] == "chaos_god" and doc["artist"] == "Muldjord"
    assert doc["language"]["primary"] == "华语"

    r = _cli("show", song, "--config", cfg, "--json")
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout) == doc
    SEEN["show"] = doc
    r = _cli("show", song, "--config", cfg)
    assert r.exit_code == 0 and "chaos_god" in r.stdout and "Muldjord" in r.stdout

    r = _cli("similar", song, "--config", cfg, "--json", "-k", "2")
    assert r.exit_code == 0, r.output
    want = httpx.get(f"{base}/v1/songs/{song}/similar", params={"k": 2}).json()
    assert json.loads(r.stdout) == want and want["items"]
    SEEN["similar"] = want
    r = _cli("similar", song, "--config", cfg, "-k", "2", env={"COLUMNS": "200"})
    assert r.exit_code == 0 and ids["Muldjord - feelings"] in r.stdout

    m3u = tmp_path / "list.m3u"
    r = _cli("playlist", "--config", cfg, "--json", "--length", "5", "--seed-song", song,
             "--m3u", str(m3u))
    assert r.exit_code == 0, r.output
    want = httpx.post(f"{base}/v1/playlists", json={**PLAYLIST, "seed_songs": [song]}).json()
    assert json.loads(r.stdout) == want and want["items"]
    assert str(music.resolve()) in m3u.read_text()  # file paths from the ingest manifest

    # errors of the server: `code: message`, exit 2
    r = _cli("show", "no-such-song", "--config", cfg)
    assert r.exit_code == 2 and "not_found" in r.stderr
    # verbs that need the store to themselves say so and name the server
    for verb in ("optimize", "train", "reembed-text"):
        r = _cli(verb, "--config", cfg)
        assert r.exit_code == 2, r.output
        assert "store_busy" in r.stderr and str(server["proc"].pid) in r.stderr
    # so does a Ray ingestion into the embedded store (a Qdrant server could take it)
    r = _cli("ingest", str(music), "--engine", "ray", "--config", cfg)
    assert r.exit_code == 2, r.output
    assert "store_busy" in r.stderr and "ingest --engine ray" in r.stderr
    assert str(server["proc"].pid) in r.stderr and "qdrant.url" in r.stderr


def test_api_key_from_the_environment(server):
    base, cfg = server["base"], str(server["cfg"])
    song = SEEN["show"]["song_id"]
    r = _cli("keys", "create", "cli-test", "--scope", "read", "--config", cfg)
    assert r.exit_code == 0, r.output
    secret = r.stdout.strip().splitlines()[0]
    deadline = time.time() + 10  # the server reloads its key file every key_reload_s
    while httpx.get(f"{base}/v1/songs/{song}").status_code != 401:
        assert time.time() < deadline
        time.sleep(0.1)
    r = _cli("show", song, "--server", base, "--json")
    assert r.exit_code == 2 and "unauthorized" in r.stderr and "SONGLENS_API_KEY" in r.stderr
    r = _cli("show", song, "--json", env={"SONGLENS_SERVER": base, "SONGLENS_API_KEY": secret})
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout) == SEEN["show"]
    assert _cli("keys", "revoke", "cli-test", "--config", cfg).exit_code == 0
    deadline = time.time() + 10  # key-less again once the server has reloaded its key file
    while httpx.get(f"{base}/v1/songs/{song}").status_code == 401:
        assert time.time() < deadline
        time.sleep(0.1)


def test_backup_while_the_server_runs(server, tmp_path_factory):
    base, cfg = server["base"], str(server["cfg"])
    song = SEEN["show"]["song_id"]
    now = time.time() - 300  # near the song's ingestion (weeks before it: impossible feedback)
    events = [{"user_id": "fan", "song_id": song, "event": "impression", "ts": now},
              {"user_id": "fan", "song_id": song, "event": "complete", "ts": now + 200,
               "play_ms": 200_000},
              {"user_id": "fan", "song_id": song, "event": "like", "ts": now + 201}]
    r = httpx.post(f"{base}/v1/feedback", json={"events": events})
    assert r.status_code == 200 and r.json()["new"] == 3, r.text
    out = tmp_path_factory.mktemp("backups")
    archive = out / "songlens.tar"
    r = _cli("backup", str(archive), "--config", cfg)
    assert r.exit_code == 0, r.output
    assert f"using the songlens server at {base}" in r.stderr
    assert "backed up 2 songs, 1 users, 3 feedback events" in r.stdout
    assert not list(out.glob(".*"))  # the download's temporary file is gone
    SEEN["backup"] = archive
    # with API keys in force, a backup needs an admin key
    secrets = {}
    for scope in ("read", "admin"):
        r = _cli("keys", "create", f"backup-{scope}", "--scope", scope, "--config", cfg)
        assert r.exit_code == 0, r.output
        secrets[scope] = r.stdout.strip().splitlines()[0]
    deadline = time.time() + 10
    while httpx.get(f"{base}/v1/songs/{song}").status_code != 401:
        assert time.time() < deadline
        time.sleep(0.1)
    r = _cli("backup", str(out / "b.tar"), "--config", cfg, "--api-key", secrets["read"])
    assert r.exit_code == 2 and "forbidden" in r.stderr and not (out / "b.tar").exists()
    r = _cli("backup", str(out / "b.tar"), "--config", cfg, "--api-key", secrets["admin"])
    assert r.exit_code == 0 and "backed up 2 songs" in r.stdout, r.output
    for scope in secrets:
        assert _cli("keys", "revoke", f"backup-{scope}", "--config", cfg).exit_code == 0


def test_clean_shutdown_and_the_same_answers_locally(server):
    proc, cfg = server["proc"], str(server["cfg"])
    proc.terminate()
    assert proc.wait(timeout=30) in (0, -15)  # uvicorn re-raises SIGTERM after its shutdown
    assert not (server["data"] / "server.json").exists()
    song = SEEN["show"]["song_id"]
    r = _cli("show", song, "--config", cfg, "--json")
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout) == SEEN["show"]
    r = _cli("similar", song, "--config", cfg, "--json", "-k", "2")
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout) == SEEN["similar"]
    # the backup taken while the server ran, restored into a fresh folder: the same answers
    fresh = str(server["data"].parent / "restored")
    r = _cli("restore", str(SEEN["backup"]), "--data-dir", fresh)
    assert r.exit_code == 0 and "restored 2 songs, 1 users, 3 feedback events" in r.stdout, \
        r.output
    r = _cli("show", song, "--data-dir", fresh, "--json")
    assert r.exit_code == 0 and json.loads(r.stdout) == SEEN["show"], r.output
    r = _cli("similar", song, "--data-dir", fresh, "--json", "-k", "2")
    assert r.exit_code == 0 and json.loads(r.stdout) == SEEN["similar"], r.output


def test_stale_state_is_ignored(tmp_path):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    remote.write_state(tmp_path, "http://127.0.0.1:9")
    state = json.loads((tmp_path / "server.json").read_text())
    (tmp_path / "server.json").write_text(json.dumps({**state, "pid": dead.pid}))
    assert remote.find_server(tmp_path) is None           # dead process
    remote.write_state(tmp_path, f"http://127.0.0.1:{_free_port()}")
    t0 = time.time()
    assert remote.find_server(tmp_path) is None           # alive, but nothing answers
    assert time.time() - t0 < remote.HEALTH_TIMEOUT_S + 1
    remote.remove_state(tmp_path)
    assert not (tmp_path / "server.json").exists()


def test_busy_store_names_the_server(tmp_path):
    from songlens.cli.common import busy_error as _busy
    from songlens.errors import StoreBusy

    settings = load_settings(data_dir=str(tmp_path))
    msg = _busy(settings, StoreBusy("held")).message
    assert "another songlens command" in msg and "delete" not in msg
    remote.write_state(tmp_path, "http://127.0.0.1:9")
    msg = _busy(settings, StoreBusy("held")).message
    assert f"pid {os.getpid()}" in msg and "http://127.0.0.1:9" in msg and "delete" not in msg


def test_a_server_that_does_not_answer(tmp_path):
    url = f"http://127.0.0.1:{_free_port()}"
    r = _cli("show", "x", "--server", url, "--data-dir", str(tmp_path))
    assert r.exit_code == 2 and "server_unreachable" in r.stderr and url in r.stderr


def test_upload_waits_for_a_busy_server(tmp_path, monkeypatch):
    calls = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        if len(calls) < 3:
            return httpx.Response(429, headers={"Retry-After": "0.01"},
                                  json={"error": {"code": "too_busy", "message": "busy"}})
        return httpx.Response(201, json={"song_id": "s1"})

    client = remote.Remote("http://127.0.0.1:9")
    client.http = httpx.Client(base_url=client.url, transport=httpx.MockTransport(handler))
    f = tmp_path / "a.ogg"
    f.write_bytes(b"x")
    assert client.ingest(f, {"title": "a"}) == {"song_id": "s1"} and len(calls) == 3
    assert b'name="metadata"' in calls[-1].read() and b'"title": "a"' in calls[-1].read()
    monkeypatch.setattr(remote, "MAX_RETRIES", 1)
    calls.clear()
    with pytest.raises(remote.RemoteError) as exc:
        client.ingest(f, {"title": "a"})
    assert exc.value.code == "too_busy" and len(calls) == 2
