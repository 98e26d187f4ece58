"""A real songlens server for the web app's tests and benchmark: ``songlens serve`` in its own
process on a temp data folder, with the short real clips of tests/fixtures/audio ingested with
Chinese and English metadata; and where the system chromium is."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import yaml

ROOT = Path(__file__).resolve().parents[2]
AUDIO = ROOT / "tests" / "fixtures" / "audio"
CHROMIUM = os.environ.get("SONGLENS_CHROMIUM", "/usr/bin/chromium")

#: the catalogue the tests see: (file, metadata)
SONGS = [
    ("feelings.ogg", {"song_id": "yequ", "title": "夜曲 Nocturne", "artist": "林夜 Lin Ye",
                      "lyrics": "深夜一个人在图书馆自习\n安静的钢琴声陪着我\n为了考研 不怕孤独",
                      "comments": [{"text": "考研的时候天天听，适合深夜学习", "likes": 120},
                                   {"text": "安静的钢琴 很治愈", "likes": 30}]}),
    ("chaos_god.ogg", {"song_id": "chaos-god", "title": "Chaos God", "artist": "Muldjord",
                       "lyrics": "Heavy guitar riffs tear the night\nWe rise and we fight",
                       "comments": [{"text": "heavy metal guitar riffs, perfect for the gym",
                                     "likes": 50}]}),
    ("armygeddon.ogg", {"song_id": "armygeddon", "title": "Armygeddon 末日军团",
                        "artist": "Muldjord",
                        "lyrics": "跑步的时候听 燃起来\nrun faster run harder",
                        "comments": [{"text": "运动健身必备 太燃了", "likes": 80}]}),
]


def chromium_missing() -> str | None:
    """Why the browser tests cannot run here, or None."""
    if not Path(CHROMIUM).exists():
        return f"no chromium at {CHROMIUM} (apt-get install chromium; scripts/setup.sh does)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "python playwright is not installed (pip install -e '.[test]')"
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(folder: Path, *, extra_config: dict | None = None, demo: bool = False,
                 timeout_s: float = 180) -> tuple[subprocess.Popen, str]:
    """``songlens serve`` on a free loopback port with its data in ``folder`` (``demo``: with
    the demo catalog); returns once /healthz answers."""
    port = _free_port()
    cfg = folder / "songlens.yaml"
    cfg.write_text(yaml.safe_dump({"data_dir": str(folder / "data"), "log_level": "WARNING",
                                   **(extra_config or {})}))
    log = open(folder / "server.log", "wb")  # noqa: SIM115 - closed with the process
    proc = subprocess.Popen([sys.executable, "-m", "songlens.cli.main", "serve", "--config",
                             str(cfg), "--port", str(port), *(["--demo"] if demo else [])],
                            env=dict(os.environ, HF_HUB_OFFLINE="1"), stdout=log,
                            stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    deadline = time.time() + timeout_s
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError((folder / "server.log").read_text(errors="replace")[-3000:])
        try:
            if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                return proc, base
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    proc.terminate()
    raise RuntimeError(f"server did not start within {timeout_s:.0f} s")


def ingest_songs(base: str) -> None:
    """POST the :data:`SONGS` to the server at ``base``."""
    for name, meta in SONGS:
        r = httpx.post(f"{base}/v1/songs", timeout=120,
                       files={"audio": (name, (AUDIO / name).read_bytes(), "audio/ogg")},
                       data={"metadata": json.dumps(meta, ensure_ascii=False)})
        r.raise_for_status()


def stop_server(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
