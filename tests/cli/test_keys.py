"""``songlens keys`` through the CLI, the keys then used over HTTP, and ``serve``'s bind rule in a
real process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from songlens.api.app import create_app
from songlens.cli.main import app as cli
from songlens.settings import SecuritySettings
from tests.conftest import local_client

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture()
def config_file(tmp_path) -> Path:
    cfg = tmp_path / "songlens.yaml"
    cfg.write_text(yaml.safe_dump({"data_dir": str(tmp_path / "data"), "log_level": "WARNING",
                                   "security": {"key_reload_s": 0}}))
    return cfg


def keys(*args: str, config: Path):
    return CliRunner().invoke(cli, ["keys", *args, "--config", str(config)])


def test_create_list_revoke_then_use_over_http(config_file, catalog):
    r = keys("create", "ingest-bot", "--scope", "write", config=config_file)
    assert r.exit_code == 0, r.output
    secret = r.stdout.strip()
    assert secret.startswith("sl_") and len(secret) == 3 + 12 + 1 + 43
    r = keys("create", "reader", "-s", "read", config=config_file)
    reader = r.stdout.strip()
    # the key file holds hashes only
    key_file = config_file.parent / "data" / "api_keys.json"
    raw = key_file.read_text()
    assert secret not in raw and secret.split("_", 2)[2] not in raw and reader not in raw
    assert key_file.stat().st_mode & 0o777 == 0o600
    r = keys("list", "--json", config=config_file)
    rows = json.loads(r.stdout)
    assert [(x["name"], x["scopes"], x["id"]) for x in rows] == [
        ("ingest-bot", ["write"], secret.split("_")[1]), ("reader", ["read"], reader.split("_")[1])]
    assert secret not in r.output
    r = keys("list", config=config_file)
    assert "ingest-bot" in r.output and secret.split("_", 2)[2][:8] not in r.output
    # a duplicate name and an unknown scope are refused with the allowed values
    r = keys("create", "reader", "-s", "read", config=config_file)
    assert r.exit_code == 2 and "exists" in r.output
    r = keys("create", "x", "-s", "root", config=config_file)
    assert r.exit_code == 2 and "read, write, admin" in r.output

    sec = SecuritySettings(keys_file=str(key_file), key_reload_s=0)
    app = create_app(catalog.settings.model_copy(update={"security": sec}), catalog=catalog)
    with local_client(app) as client:
        def feedback(key: str) -> int:
            return client.post("/v1/feedback", headers={"Authorization": f"Bearer {key}"},
                               json={"events": [{"user_id": "u", "song_id": "s", "event": "play",
                                                 "ts": 1_700_000_000}]}).status_code

        assert feedback(secret) == 200
        assert feedback(reader) == 403
        # the server is running: revoke through the CLI, refused at once, no restart
        r = keys("revoke", "ingest-bot", config=config_file)
        assert r.exit_code == 0, r.output
        assert feedback(secret) == 401
        assert client.get("/openapi.json", headers={"Authorization": f"Bearer {reader}"}
                          ).status_code == 200
        r = keys("revoke", "ingest-bot", config=config_file)
        assert r.exit_code == 2 and "not_found" in r.output


#: a SIGTERM that lands once uvicorn handles signals stops the server gracefully, after its
#: start-up (loading the models: 20-30 s on a busy 2-core machine) has finished
STOP_S = 120


def _serve(config: Path, *args: str) -> subprocess.Popen:
    env = dict(os.environ, HF_HUB_OFFLINE="1", PYTHONPATH=str(ROOT))
    return subprocess.Popen([sys.executable, "-m", "songlens.cli.main", "serve", "--config",
                             str(config), "--port", "0", *args], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _first_line_with(proc: subprocess.Popen, needle: str, timeout: float = 60) -> str:
    deadline = time.time() + timeout
    seen = []
    while time.time() < deadline:
        line = proc.stdout.readline()
        if not line and proc.poll() is not None:
            break
        seen.append(line)
        if needle in line:
            return "".join(seen)
    pytest.fail(f"no {needle!r} in the output: {''.join(seen)}")


@pytest.mark.integration
def test_serve_refuses_a_network_bind_without_keys(config_file):
    proc = _serve(config_file, "--host", "0.0.0.0")
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 2, out
    assert "insecure_bind" in out and "songlens keys create" in out and "--insecure" in out


@pytest.mark.integration
def test_serve_says_which_mode_it_is_in(config_file):
    for args, needle in ((("--host", "127.0.0.1"), "no API keys: serving on loopback only"),
                         (("--host", "0.0.0.0", "--insecure"), "allow_unauthenticated")):
        proc = _serve(config_file, *args)
        try:
            _first_line_with(proc, needle)
        finally:
            proc.terminate()
            proc.wait(timeout=STOP_S)
    assert keys("create", "svc", "-s", "write", config=config_file).exit_code == 0
    proc = _serve(config_file, "--host", "0.0.0.0")
    try:
        _first_line_with(proc, "1 API key(s) in force; reads need a key")
    finally:
        proc.terminate()
        proc.wait(timeout=STOP_S)
