"""Back-pressure on a real uvicorn server on a loopback port: heavy requests beyond
``api.max_heavy`` running and ``api.heavy_queue`` waiting get 429 ``too_busy`` with
``Retry-After``, never a 5xx, while ``/healthz`` keeps answering."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
import uvicorn

from songlens.api.app import create_app
from songlens.api.limits import HeavyLimiter, TooBusy
from tests.conftest import AUDIO

pytestmark = pytest.mark.integration


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(catalog):
    settings = catalog.settings.model_copy(update={"api": catalog.settings.api.model_copy(
        update={"max_heavy": 1, "heavy_queue": 1, "queue_wait_s": 0.5, "retry_after_s": 3})})
    app = create_app(settings, catalog=catalog)
    port = _free_port()
    srv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{port}"
    deadline = time.time() + 30
    while not srv.started and time.time() < deadline:
        time.sleep(0.05)
    assert srv.started, "uvicorn did not start"
    yield base
    srv.should_exit = True
    thread.join(timeout=10)


def test_heavy_requests_beyond_the_queue_get_429_and_healthz_answers(server):
    clip = (AUDIO / "feelings.ogg").read_bytes()

    def similar_to_clip(_: int) -> httpx.Response:
        return httpx.post(f"{server}/v1/similar", timeout=60,
                          files={"audio": ("q.ogg", clip, "audio/ogg")}, data={"k": "3"})

    health: list[float] = []
    with ThreadPoolExecutor(8) as pool:
        futures = [pool.submit(similar_to_clip, i) for i in range(6)]
        while not all(f.done() for f in futures) and len(health) < 200:
            t0 = time.perf_counter()
            assert httpx.get(f"{server}/healthz", timeout=10).status_code == 200
            health.append(time.perf_counter() - t0)
            time.sleep(0.02)
        responses = [f.result() for f in futures]
    statuses = sorted(r.status_code for r in responses)
    assert all(s in (200, 429) for s in statuses), statuses
    assert 200 in statuses and 429 in statuses, statuses
    for r in responses:
        if r.status_code == 429:
            assert r.headers["retry-after"] == "3"
            assert r.json()["error"]["code"] == "too_busy"
            assert r.json()["error"]["details"] == {"retry_after_s": 3}
    assert health and max(health) < 2.0, max(health)


def test_light_requests_are_never_queued(server):
    r = httpx.post(f"{server}/v1/similar", json={"text": "rock"}, timeout=30)
    assert r.status_code == 200, r.text


def test_the_limiter_queues_first_come_first_served_and_refuses_beyond_its_queue():
    async def scenario() -> list[str]:
        lim = HeavyLimiter(max_active=1, max_queue=1, wait_s=5, retry_after_s=1)
        order: list[str] = []
        await lim.acquire()  # a runs
        waiting = asyncio.create_task(lim.acquire())  # b waits
        await asyncio.sleep(0)
        with pytest.raises(TooBusy):
            await lim.acquire()  # c: queue full
        order.append("c refused")
        lim.release()  # a done → b runs
        await waiting
        order.append(f"b runs, active={lim.active}, waiting={lim.waiting}")
        lim.release()
        order.append(f"idle, active={lim.active}")
        short = HeavyLimiter(max_active=1, max_queue=4, wait_s=0.05, retry_after_s=1)
        await short.acquire()
        with pytest.raises(TooBusy):
            await short.acquire()  # waited 50 ms: refused
        order.append(f"timed out, waiting={short.waiting}")
        return order

    assert asyncio.run(scenario()) == ["c refused", "b runs, active=1, waiting=0",
                                       "idle, active=0", "timed out, waiting=0"]
