"""SIGTERM to a real `songlens serve` in the middle of an ingestion: the server stops taking
connections, the ingestion in flight finishes (or, past ``api.shutdown_grace_s``, is cancelled
and writes nothing), and the process exits 0. After a restart the song is whole or absent."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import numpy as np
import pytest
import soundfile as sf
import yaml

from tests.conftest import AUDIO, wav_bytes

pytestmark = [pytest.mark.integration, pytest.mark.slow]

EXIT_WITHIN_S = 90


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _config(tmp_path: Path, grace_s: float) -> Path:
    cfg = tmp_path / f"songlens-{grace_s:g}.yaml"
    cfg.write_text(yaml.safe_dump({"data_dir": str(tmp_path / "data"), "log_level": "INFO",
                                   "api": {"shutdown_grace_s": grace_s}}))
    return cfg


def _start(config: Path, port: int, log: Path) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-m", "songlens.cli.main", "serve", "--config",
                             str(config), "--port", str(port)],
                            env=dict(os.environ, HF_HUB_OFFLINE="1"),
                            stdout=subprocess.DEVNULL, stderr=log.open("ab"))
    deadline = time.time() + 120
    while time.time() < deadline:
        assert proc.poll() is None, log.read_text()[-3000:]
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2).status_code == 200:
                return proc
        except httpx.HTTPError:
            time.sleep(0.3)
    proc.kill()
    pytest.fail("server did not start within 120 s")


def _long_clip() -> bytes:
    """The three shipped excerpts back to back (30 s, 22.05 kHz mono): an ingestion that takes a
    while."""
    parts = [sf.read(p, dtype="float32") for p in sorted(AUDIO.glob("*.ogg"))]
    assert {sr for _, sr in parts} == {22050}
    return wav_bytes(np.concatenate([y for y, _ in parts]), 22050)


def _heavy_active(base: str) -> float:
    text = httpx.get(f"{base}/metrics", timeout=5).text
    for line in text.splitlines():
        if line.startswith("songlens_heavy_requests_active "):
            return float(line.split()[1])
    return 0.0


def _sigterm_mid_ingestion(base: str, proc: subprocess.Popen, song_id: str, clip: bytes
                           ) -> tuple[httpx.Response | Exception | None, int, float]:
    """Post a song, SIGTERM once it is being ingested; (the answer, exit status, seconds to
    exit)."""
    answer: list[httpx.Response | Exception | None] = [None]

    def post() -> None:
        try:
            answer[0] = httpx.post(f"{base}/v1/songs", timeout=120,
                                   files={"audio": ("long.wav", clip, "audio/wav")},
                                   data={"metadata": json.dumps({"song_id": song_id,
                                                                 "title": song_id,
                                                                 "artist": "x"})})
        except httpx.HTTPError as exc:
            answer[0] = exc

    t = threading.Thread(target=post)
    t.start()
    deadline = time.time() + 30
    while _heavy_active(base) < 1:
        assert time.time() < deadline, "the ingestion never started"
        time.sleep(0.05)
    time.sleep(0.5)  # into the analysis
    assert answer[0] is None, "the ingestion finished before the signal: nothing was tested"
    t0 = time.time()
    proc.send_signal(signal.SIGTERM)
    # no new connection is accepted while the ingestion drains
    time.sleep(0.5)
    with pytest.raises(httpx.HTTPError):
        httpx.get(f"{base}/healthz", timeout=2)
    rc = proc.wait(timeout=EXIT_WITHIN_S)
    elapsed = time.time() - t0
    t.join(timeout=30)
    return answer[0], rc, elapsed


def test_sigterm_lets_an_ingestion_finish_or_cancels_it_cleanly(tmp_path):
    port, log = _free_port(), tmp_path / "server.log"
    base = f"http://127.0.0.1:{port}"
    clip = _long_clip()
    data_dir = tmp_path / "data"

    # 1. a generous grace: the ingestion in flight finishes and is acknowledged
    proc = _start(_config(tmp_path, 60), port, log)
    answer, rc, elapsed = _sigterm_mid_ingestion(base, proc, "finished", clip)
    assert rc == 0, log.read_text()[-3000:]
    assert isinstance(answer, httpx.Response) and answer.status_code == 201, answer
    assert elapsed < EXIT_WITHIN_S
    assert not (data_dir / "server.json").exists()

    # 2. no grace: the request is stopped with a 503; the ingestion still analysing in its
    # thread finds the catalog closed and writes nothing
    proc = _start(_config(tmp_path, 0), port, log)
    answer, rc, elapsed = _sigterm_mid_ingestion(base, proc, "cancelled", clip)
    assert rc == 0, log.read_text()[-3000:]
    assert isinstance(answer, httpx.Response) and answer.status_code == 503, answer
    assert answer.json()["error"]["code"] == "shutting_down"

    # after a restart: the first song whole, the second absent, nothing else in the store
    proc = _start(_config(tmp_path, 60), port, log)
    try:
        r = httpx.get(f"{base}/v1/songs/finished", timeout=10)
        assert r.status_code == 200, r.text
        doc = r.json()
        assert doc["tags"] and doc["audio_features"]["tempo_bpm"] > 0
        assert doc["duration_s"] == pytest.approx(30, abs=0.5)
        assert httpx.get(f"{base}/v1/songs/cancelled", timeout=10).status_code == 404
        assert httpx.get(f"{base}/healthz", timeout=10).json()["songs"] == 1
    finally:
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=EXIT_WITHIN_S) == 0
    assert "Traceback" not in log.read_text()
