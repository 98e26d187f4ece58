"""kill -9 a real server in the middle of ingestion and of a feedback burst, restart it on the
same data: no partial song, and everything acknowledged (201 / 200) is there."""

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
import pytest
import yaml

from tests.conftest import AUDIO

pytestmark = [pytest.mark.integration, pytest.mark.slow]

T0 = time.time() - 3600


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start(config: Path, port: int) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-m", "songlens.cli.main", "serve", "--config",
                             str(config), "--port", str(port)],
                            env=dict(os.environ, HF_HUB_OFFLINE="1"),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while time.time() < deadline:
        assert proc.poll() is None, "the server exited at start-up"
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200:
                return proc
        except httpx.HTTPError:
            time.sleep(0.3)
    proc.kill()
    pytest.fail("server did not start within 120 s")


def test_kill_9_mid_ingestion_and_mid_feedback_loses_nothing_acknowledged(tmp_path):
    config = tmp_path / "songlens.yaml"
    config.write_text(yaml.safe_dump({"data_dir": str(tmp_path / "data"), "log_level": "WARNING",
                                      "api": {"max_heavy": 2, "heavy_queue": 4}}))
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    clips = [p.read_bytes() for p in sorted(AUDIO.glob("*.ogg"))]
    acked_songs: list[str] = []
    acked_events: dict[str, int] = {}  # user → events accepted in a 200
    batch_sizes: dict[str, int] = {}
    stop = threading.Event()

    def ingest() -> None:
        for i in range(60):
            if stop.is_set():
                return
            # each clip under a new id: a new point every time (different audio per clip)
            clip = clips[i % len(clips)]
            sid = f"crash-{i}"
            try:
                r = httpx.post(f"{base}/v1/songs", timeout=60,
                               files={"audio": (f"{sid}.ogg", clip, "audio/ogg")},
                               data={"metadata": json.dumps({"song_id": sid, "title": sid,
                                                             "artist": "x"})})
            except httpx.HTTPError:
                return
            if r.status_code == 201:
                acked_songs.append(sid)

    def feedback() -> None:
        for b in range(2000):
            if stop.is_set():
                return
            user = f"user-{b}"
            events = [{"user_id": user, "song_id": f"crash-{j % 3}", "event": "play",
                       "ts": T0 + j, "play_ms": 40_000, "event_id": f"{user}-{j}"}
                      for j in range(200)]
            batch_sizes[user] = len(events)
            try:
                r = httpx.post(f"{base}/v1/feedback", json={"events": events}, timeout=60)
            except httpx.HTTPError:
                return
            if r.status_code == 200:
                acked_events[user] = r.json()["accepted"]

    proc = _start(config, port)
    threads = [threading.Thread(target=ingest), threading.Thread(target=feedback)]
    try:
        for t in threads:
            t.start()
        deadline = time.time() + 60
        while (len(acked_songs) < 2 or len(acked_events) < 3) and time.time() < deadline:
            time.sleep(0.05)
        time.sleep(0.4)  # into the next ingestion and feedback batch
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
        stop.set()
        for t in threads:
            t.join(timeout=60)
    assert len(acked_songs) >= 2 and len(acked_events) >= 3

    proc = _start(config, port)
    try:
        for sid in acked_songs:
            r = httpx.get(f"{base}/v1/songs/{sid}", timeout=10)
            assert r.status_code == 200, (sid, r.text)
            assert r.json()["tags"] and r.json()["audio_features"]
        n_songs = httpx.get(f"{base}/healthz", timeout=10).json()["songs"]
        assert len(acked_songs) <= n_songs <= len(acked_songs) + 1  # + the one in flight
    finally:
        proc.terminate()
        proc.wait(timeout=30)

    from songlens.api.app import open_catalog
    from songlens.catalog.record import SongRecord
    from songlens.coldstart.feedback_log import FeedbackLog
    from songlens.settings import load_settings

    settings = load_settings(config)
    cat = open_catalog(settings)
    try:
        hits, _ = cat.store.scroll(cat.spec, limit=1000, with_vectors=True)
        assert len(hits) == n_songs
        for h in hits:  # no partial song: every stored point has its vectors and payload
            assert set(cat.spec.dense) <= set(h.vectors or {}), (h.key, list(h.vectors or {}))
            record = SongRecord.from_payload(h.payload)
            assert record.song_id == h.key and record.title == h.key
    finally:
        cat.store.close()
    with FeedbackLog(settings.data_path / "feedback.sqlite") as log:
        for user, n in acked_events.items():
            assert sum(log.user_counts(user).values()) == n, user
        # the batch in flight at the kill landed whole or not at all
        for user in set(batch_sizes) - set(acked_events):
            assert sum(log.user_counts(user).values()) in (0, batch_sizes[user]), user
